"""The local executor (the default): one model at a time on this machine, each in its own worker process
(`zoo.isolation`; in this process with ``--no-isolation``), with a progress line while it runs."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from zoo.executors.base import RunSpec
from zoo.isolation import run_in_process, run_isolated
from zoo.offline import offline
from zoo.registry import Entry
from zoo.results import ModelRun
from zoo.settings import Report

Progress = Callable[[Entry], AbstractContextManager[Report]]
"""``progress(entry)``: a context in which one model runs, giving the `Report` its steps are told to."""


class LocalExecutor:
    """Runs each submitted model when its result is asked for: the run proceeds model by model, as it always has."""

    def __init__(self, spec: RunSpec, *, plugins: object, progress: Progress) -> None:
        self.spec, self.plugins, self.progress = spec, plugins, progress
        self.queued: list[Entry] = []

    def has_room(self) -> bool:
        return not self.queued

    def submit(self, entry: Entry) -> None:
        self.queued.append(entry)

    def busy(self) -> bool:
        return bool(self.queued)

    def next_result(self) -> tuple[Entry, ModelRun]:
        """Run the next model now, offline unless --allow-network; Ctrl-C stops its worker and goes up."""
        entry = self.queued.pop(0)
        spec = self.spec
        with offline(not spec.setup.allow_network), self.progress(entry) as report:
            if spec.isolation:
                log = spec.folder / "logs" / f"{entry.id}.log"
                run = run_isolated(
                    entry, spec.dataset, spec.settings, spec.setup, spec.limits, spec.folder / ".work", log, report
                )
            else:
                run = run_in_process(entry, spec.dataset, spec.settings, self.plugins, report)
        return entry, run

    def cancel(self) -> None:
        self.queued.clear()  # the running model's worker is stopped where it runs (`run_isolated`)

    def close(self) -> None:
        pass
