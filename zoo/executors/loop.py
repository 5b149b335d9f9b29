"""The loop over a run's models, whatever executes them: skip what the run folder has, fetch what a model needs,
hand it to the executor, write each result into the run folder as it comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from zoo.executors.base import Executor
from zoo.fetch import FAILED, PRESENT, Outcome, config
from zoo.plugins import Plugins
from zoo.registry import Entry
from zoo.results import FetchRecord, ModelResult, ModelRun, Status
from zoo.runfolder import RunFolder
from zoo.runtimes import agreement
from zoo.settings import Settings
from zoo.weights import Need, plan


@dataclass
class Job:
    """What every model of one run shares, on the driver: where rows go, the protocol, and how to fetch files and
    tell the user (the CLI's bars and lines)."""

    folder: RunFolder
    settings: Settings
    plugins: Plugins
    fetch: Callable[[list[Need]], list[Outcome]]  # fetch these files (with progress), one outcome each
    announce: Callable[[ModelResult], None] = lambda result: None  # a finished model's row, as it is written
    skipped: Callable[[Entry], None] = lambda entry: None  # a model the run folder has already
    force: bool = False  # run again the models the folder has
    failed: dict[str, Outcome] = field(default_factory=dict)  # file key -> a fetch that failed: asked once per run
    fetched: dict[str, list[Outcome]] = field(default_factory=dict)  # model id -> its fetches, until it is written

    def run(self, entries: list[Entry], executor: Executor) -> None:
        run_models(entries, self, executor)


def run_models(entries: list[Entry], job: Job, executor: Executor) -> None:
    """Every entry through ``executor``: submitted while it has room, written as each finishes. On Ctrl-C the
    executor stops what still runs; what finished is in the run folder already."""
    queue = list(entries)
    try:
        while queue or executor.busy():
            while queue and executor.has_room():
                entry = queue.pop(0)
                if job.force or job.folder.finished(entry.id, key(entry, job.settings)) is None:
                    job.fetched[entry.id] = _fetch(entry, job)
                    executor.submit(entry)
                else:
                    job.skipped(entry)
            if executor.busy():
                _write(*executor.next_result(), job)
    except BaseException:
        executor.cancel()
        raise


def key(entry: Entry, settings: Settings) -> dict[str, Any]:
    """What a result was measured with: an earlier result with the same key need not run again."""
    measured = {
        "entry": {"model": entry.model, "plugin": entry.plugin, "weights": entry.weights, "options": entry.options},
        "weights": settings.weights.get(entry.id),
        **({"runtime": entry.runtime, "calibration": [i.id for i in entry.calibration]} if entry.runtime else {}),
    }
    if settings.corruptions:  # a row without (or with other) corruptions is measured again
        corrupt = (settings.corruptions, settings.severities, settings.corruption_seed)
        measured["corruptions"] = dict(zip(("corruptions", "severities", "seed"), corrupt))
    return measured


def _write(entry: Entry, model_run: ModelRun, job: Job) -> None:
    """One finished model's row into the run folder (atomically), then announced."""
    result = model_run.result
    _record_fetch(result, job.fetched.pop(entry.id, []))
    result.key = key(entry, job.settings)
    result.entry_notes = entry.notes
    result.licence = entry.licence or None
    result.trained_on = entry.meta.get("trained_on")  # fine-tuned (zoo.adapt.folder), else None
    result.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if result.runtime is not None:  # a runtime row: its agreement with the torch row, written before it
        agreement.add_to(result, model_run.predictions, job.folder.results, job.folder.path)
    job.folder.add(model_run)
    job.announce(result)


def _fetch(entry: Entry, job: Job) -> list[Outcome]:
    """The entry's missing official files, fetched before it is measured (never inside a timed step); nothing when
    offline. A file that failed for an earlier model of the run is not tried again (R-CNN, Fast R-CNN and Faster
    R-CNN share one). A plugin that cannot say what it needs fails in its own row."""
    if config.offline():
        return []
    needs, _ = plan([entry], job.plugins, job.settings.weights)
    outcomes = [job.failed[n.file.key] for n in needs if n.file.key in job.failed]
    outcomes += job.fetch([n for n in needs if n.file.key not in job.failed])
    job.failed.update((o.file.key, o) for o in outcomes if o.state == FAILED)
    return outcomes


def _record_fetch(result: ModelResult, outcomes: list[Outcome]) -> None:
    """What fetching did for the model, in its result; a failed fetch is the reason its weights are missing."""
    result.fetch = [
        FetchRecord(
            file=o.file.name,
            url=o.file.url,
            state=o.state,
            path=str(o.path) if o.path else None,
            bytes=o.bytes,
            seconds=round(o.seconds, 3),
            detail=o.detail,
        )
        for o in outcomes
        if o.state != PRESENT or o.detail  # a file found here and pinned now (no published digest) is said too
    ]
    failed = [o for o in outcomes if o.state == FAILED]
    if failed and result.status == Status.NO_WEIGHTS:
        result.reason = f"could not fetch {failed[0].file.name}: {failed[0].detail}"
