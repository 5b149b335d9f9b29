"""What every executor is: the `RunSpec` it is given and the `Executor` interface it stands behind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from zoo.data import Dataset
from zoo.isolation import Limits, WorkerSetup
from zoo.registry import Entry
from zoo.results import ModelRun
from zoo.settings import Settings


@dataclass(frozen=True)
class RunSpec:
    """What every model of one run shares, whichever executor runs it."""

    dataset: Dataset
    settings: Settings
    setup: WorkerSetup  # how a worker loads the plugins again
    limits: Limits
    isolation: bool  # each model in its own worker process (False: --no-isolation)
    folder: Path  # the run folder: logs/<id>.log is written there


class Executor(Protocol):
    """Runs models and hands back their results; the caller writes them."""

    def has_room(self) -> bool:
        """Whether a model submitted now would start soon (more are queued, not lost, when it has none)."""
        ...

    def submit(self, entry: Entry) -> None:
        """Start (or queue) one model."""
        ...

    def busy(self) -> bool:
        """Whether a submitted model has not been handed back yet."""
        ...

    def next_result(self) -> tuple[Entry, ModelRun]:
        """Wait for the next model to finish; its result whatever happened (a failure is its row)."""
        ...

    def cancel(self) -> None:
        """Ctrl-C: stop every model still running or queued; what finished has been handed back already."""
        ...

    def close(self) -> None:
        """Release what the executor holds (a Ray instance it started)."""
        ...
