"""``zoo run``'s loop over the selected models, whatever executes them (`zoo.executors`): skip what the run folder
has, fetch what a model needs, hand it to the executor, write each result into the run folder as it comes back."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from zoo.cli.closing import print_result
from zoo.cli.common import console, safe


@dataclass
class Job:
    """What every model of one ``zoo run`` shares, on the driver."""

    args: argparse.Namespace
    folder: Any  # the RunFolder
    settings: Any
    plugins: Any
    failed: dict = field(default_factory=dict)  # file key -> the outcome of a fetch that failed: asked once per run
    fetched: dict = field(default_factory=dict)  # model id -> what fetching did for it, until its result is written


def run_models(entries: list, job: Job, executor: Any) -> None:
    """Every entry through ``executor``: submitted while it has room, written as each finishes. On Ctrl-C the
    executor stops what still runs; what finished is in the run folder already."""
    queue = list(entries)
    try:
        while queue or executor.busy():
            while queue and executor.has_room():
                entry = queue.pop(0)
                if not _done_before(entry, job):
                    job.fetched[entry.id] = _fetch(entry, job)
                    executor.submit(entry)
            if executor.busy():
                _write(*executor.next_result(), job)
    except BaseException:
        executor.cancel()
        raise


def _key(entry, job: Job) -> dict:
    """What a result was measured with: an earlier result with the same key need not run again."""
    return {
        "entry": {"model": entry.model, "plugin": entry.plugin, "weights": entry.weights, "options": entry.options},
        "weights": job.settings.weights.get(entry.id),
        **({"runtime": entry.runtime, "calibration": [i.id for i in entry.calibration]} if entry.runtime else {}),
    }


def _done_before(entry, job: Job) -> bool:
    if job.args.force or job.folder.finished(entry.id, _key(entry, job)) is None:
        return False
    console.print(f"  {'done':>10} {safe(entry.id)} (earlier in this run folder; --force runs it again)", markup=False)
    return True


def _write(entry, model_run, job: Job) -> None:
    """One finished model's row into the run folder (atomically), and its line on the console."""
    _record_fetch(model_run.result, job.fetched.pop(entry.id, []))
    model_run.result["key"] = _key(entry, job)
    model_run.result["entry_notes"] = entry.notes
    model_run.result["licence"] = entry.licence or None
    model_run.result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if "runtime" in model_run.result:  # a runtime row: its agreement with the torch row, written before it
        from zoo.runtimes.agreement import add_to

        add_to(model_run.result, model_run.predictions, job.folder.results, job.folder.path)
    job.folder.add(model_run)
    print_result(model_run.result)


def _fetch(entry, job: Job) -> list:
    """The entry's missing official files, fetched before it is measured (never inside a timed step); nothing when
    offline. A file that failed for an earlier model of the run is not tried again (R-CNN, Fast R-CNN and Faster
    R-CNN share one). A plugin that cannot say what it needs fails in its own row."""
    from zoo.cli.downloads import fetch_needs
    from zoo.fetch import FAILED, config
    from zoo.weights import plan

    if config.offline():
        return []
    needs, _ = plan([entry], job.plugins, job.settings.weights)
    outcomes = [job.failed[n.file.key] for n in needs if n.file.key in job.failed]
    outcomes += fetch_needs([n for n in needs if n.file.key not in job.failed])
    job.failed.update((o.file.key, o) for o in outcomes if o.state == FAILED)
    return outcomes


def _record_fetch(result: dict, outcomes: list) -> None:
    """What fetching did for the model, in its result; a failed fetch is the reason its weights are missing."""
    from zoo.fetch import FAILED, PRESENT
    from zoo.runner import NO_WEIGHTS

    result["fetch"] = [
        {
            "file": o.file.name,
            "url": o.file.url,
            "state": o.state,
            "path": str(o.path) if o.path else None,
            "bytes": o.bytes,
            "seconds": round(o.seconds, 3),
            "detail": o.detail,
        }
        for o in outcomes
        if o.state != PRESENT
    ]
    failed = [o for o in outcomes if o.state == FAILED]
    if failed and result["status"] == NO_WEIGHTS:
        result["reason"] = f"could not fetch {failed[0].file.name}: {failed[0].detail}"


@contextlib.contextmanager
def progress(entry) -> Iterator[Any]:
    """A progress line while one model runs on this machine (a line per phase in a log), as a `runner.Report`."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(escape(safe(entry.id)), total=None)
        phases: list[str] = []
        started = time.monotonic()

        def report(phase: str, done: int, total: int | None) -> None:
            description = escape(safe(f"{entry.id}: {phase}"))  # the progress line reads markup
            bar.update(task, description=description, completed=done, total=total)
            if not console.is_terminal and phase not in phases:  # a log: a line per phase instead of a bar
                phases.append(phase)
                of = f" ({total})" if total else ""
                console.print(f"  {safe(entry.id)}: {phase}{of} at {time.monotonic() - started:.0f} s", markup=False)

        yield report
