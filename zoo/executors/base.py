"""What every executor is: the `Work` it runs for each entry (`RunSpec`: ``zoo run``'s evaluation; ``zoo track``'s
tracking row is `zoo.tracking.work.TrackWork`) and the `Executor` interface it stands behind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from zoo.data import Dataset
from zoo.data.images import EncodedImage
from zoo.executors.ray_worker import run_part
from zoo.isolation import Limits, WorkerSetup, run_in_process, run_isolated
from zoo.registry import Entry
from zoo.results import ModelRun, Status
from zoo.runner import blank_result
from zoo.settings import Report, Settings
from zoo.shards import merge, split

SHIP_BYTES = 256 * 2**20
"""A dataset whose image files total at most this travels through Ray's object store; a larger one is read from the
same paths on every worker (shared storage)."""


class Work(Protocol):
    """What an executor runs for each entry, and how its result comes back. Only the driver writes the run folder:
    a remote task hands back its result, its log, and the files it wrote that belong in the run folder."""

    settings: Any  # the protocol's settings (``threads``: the torch threads; a Ray task sets them when None)
    setup: WorkerSetup  # how a worker loads the plugins again
    limits: Limits
    isolation: bool  # each entry in its own worker process (False: --no-isolation)
    folder: Path  # the run folder: logs/<id>.log is written there

    def run_here(self, entry: Entry, plugins: Any, report: Report) -> Any:
        """The entry's result, computed on this machine (the local executor)."""
        ...

    def parts(self, entry: Entry, shards: int) -> list[Any]:
        """The parts one entry is split into (``[None]``: one task)."""
        ...

    def shipped(self) -> Any:
        """What every remote task receives besides its entry: put into Ray's object store once."""
        ...

    def task(self) -> Callable[..., dict[str, Any]]:
        """The module-level function a Ray worker runs: ``(entry, shipped, WorkerSpec, part, cpus)`` → ``{"run":
        result, "log": text, "files": {path in the run folder: bytes}}`` (``files`` optional)."""
        ...

    def lost(self, entry: Entry, reason: str) -> Any:
        """The ``failed`` result of an entry whose task could not finish, with ``reason``."""
        ...

    def combine(self, entry: Entry, parts: list[Any]) -> Any:
        """One result from an entry's parts' results (called with two or more)."""
        ...


@dataclass(frozen=True)
class RunSpec:
    """``zoo run``'s work: what every model of one run shares, whichever executor runs it."""

    dataset: Dataset
    settings: Settings
    setup: WorkerSetup
    limits: Limits
    isolation: bool
    folder: Path

    def run_here(self, entry: Entry, plugins: Any, report: Report) -> ModelRun:
        if self.isolation:
            log, work = self.folder / "logs" / f"{entry.id}.log", self.folder / ".work"
            return run_isolated(entry, self.dataset, self.settings, self.setup, self.limits, work, log, report)
        return run_in_process(entry, self.dataset, self.settings, plugins, report)

    def parts(self, entry: Entry, shards: int) -> list[Any]:
        return split(len(self.dataset.images), shards) if shards > 1 else [None]

    def shipped(self) -> Dataset:
        return shippable(self.dataset)

    def task(self) -> Callable[..., dict[str, Any]]:
        return run_part

    def lost(self, entry: Entry, reason: str) -> ModelRun:
        result = blank_result(entry)
        result.status, result.reason = Status.FAILED, reason
        return ModelRun(result)

    def combine(self, entry: Entry, parts: list[Any]) -> ModelRun:
        run = merge(entry, self.dataset, self.settings, parts)
        run.result.shards = [
            {"images": len(part.scoring[1]) if part.scoring else None, "host": part.result.host} for part in parts
        ]
        return run


def shippable(dataset: Dataset) -> Dataset:
    """The dataset as workers receive it: a small one with its images' bytes inside (they need not see its files),
    a large one with absolute paths, read where they are (shared storage)."""
    files = [image.source for image in dataset.images if isinstance(image.source, Path)]
    if sum(path.stat().st_size for path in files) <= SHIP_BYTES:
        images = [
            replace(image, source=EncodedImage(image.source.read_bytes())) if isinstance(image.source, Path) else image
            for image in dataset.images
        ]
    else:
        images = [
            replace(image, source=image.source.absolute()) if isinstance(image.source, Path) else image
            for image in dataset.images
        ]
    return replace(dataset, images=images)


class Executor(Protocol):
    """Runs entries' work and hands back their results; the caller writes them."""

    def has_room(self) -> bool:
        """Whether an entry submitted now would start soon (more are queued, not lost, when it has none)."""
        ...

    def submit(self, entry: Entry) -> None:
        """Start (or queue) one entry."""
        ...

    def busy(self) -> bool:
        """Whether a submitted entry has not been handed back yet."""
        ...

    def next_result(self) -> tuple[Entry, Any]:
        """Wait for the next entry to finish; its result whatever happened (a failure is its row)."""
        ...

    def cancel(self) -> None:
        """Ctrl-C: stop every entry still running or queued; what finished has been handed back already."""
        ...

    def close(self) -> None:
        """Release what the executor holds (a Ray instance it started)."""
        ...
