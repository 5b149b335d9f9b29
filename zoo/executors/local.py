"""The local executor (the default): one entry at a time on this machine, each in its own worker process
(`zoo.isolation`; in this process with ``--no-isolation``), with a progress line while it runs."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from zoo.executors.base import Work
from zoo.offline import offline
from zoo.registry import Entry
from zoo.settings import Report

Progress = Callable[[Entry], AbstractContextManager[Report]]
"""``progress(entry)``: a context in which one entry runs, giving the `Report` its steps are told to."""


class LocalExecutor:
    """Runs each submitted entry when its result is asked for: the run proceeds entry by entry, as it always has."""

    def __init__(self, work: Work, *, plugins: object, progress: Progress) -> None:
        self.work, self.plugins, self.progress = work, plugins, progress
        self.queued: list[Entry] = []

    def has_room(self) -> bool:
        return not self.queued

    def submit(self, entry: Entry) -> None:
        self.queued.append(entry)

    def busy(self) -> bool:
        return bool(self.queued)

    def next_result(self) -> tuple[Entry, Any]:
        """Run the next entry now, offline unless --allow-network; Ctrl-C stops its worker and goes up."""
        entry = self.queued.pop(0)
        with offline(not self.work.setup.allow_network), self.progress(entry) as report:
            return entry, self.work.run_here(entry, self.plugins, report)

    def cancel(self) -> None:
        self.queued.clear()  # the running entry's worker is stopped where it runs (`zoo.isolation.supervise`)

    def close(self) -> None:
        pass
