"""``zoo track``'s work for the executors (`zoo.executors.base.Work`): each detector's tracking row, on this machine
(the local executor: `zoo.tracking.isolated`, or in this process) or as a Ray task (``--executor ray``:
`track_task`, on a worker, isolated there as it is here). A task writes its tracks into a folder of its own and hands
them back with the row and its log; the driver writes them into the run folder, and scores every row at the end."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zoo.executors.ray_worker import WorkerSpec, cached_plugins, missing_model
from zoo.isolation import Limits, WorkerSetup
from zoo.offline import offline
from zoo.registry import Entry
from zoo.settings import no_report
from zoo.tracking.isolated import track_isolated
from zoo.tracking.run import Report, blank_row, detector_row_here
from zoo.tracking.video import Video


@dataclass(frozen=True)
class TrackWork:
    """What every detector row of one ``zoo track`` shares, whichever executor runs it."""

    video: Video  # its sequences' absolute paths: a Ray worker reads the frames there (shared storage)
    settings: Any  # `zoo.tracking.protocol.TrackSettings`
    setup: WorkerSetup
    limits: Limits
    isolation: bool
    folder: Path  # the run folder

    def run_here(self, entry: Entry, plugins: Any, report: Report) -> dict[str, Any]:
        if self.isolation:
            return track_isolated(entry, self.video, self.settings, self.setup, self.limits, self.folder, report)
        return detector_row_here(entry, plugins, self.video, self.settings, self.folder, report)

    def parts(self, entry: Entry, shards: int) -> list[Any]:
        return [None]  # a row is one pass over every frame, timed: never split

    def shipped(self) -> Video:
        return self.video

    def task(self) -> Callable[..., dict[str, Any]]:
        return track_task

    def lost(self, entry: Entry, reason: str) -> dict[str, Any]:
        return failed_row(entry, self.settings.conf, reason)

    def combine(self, entry: Entry, parts: list[Any]) -> dict[str, Any]:
        raise ValueError("a tracking row is one task, never split into parts")


def failed_row(entry: Entry, conf: float, reason: str) -> dict[str, Any]:
    row = blank_row(entry.id, "detector", conf)
    row["family"], row["status"], row["reason"] = entry.family, "failed", reason
    return row


def track_task(entry: Entry, video: Video, spec: WorkerSpec, part: Any, cpus: float) -> dict[str, Any]:
    """One detector's row on a Ray worker: ``{"run": row, "log": text, "files": {path in the run folder: text}}``,
    whatever the model does. ``cpus``: what the task was given, the torch threads when the run set none."""
    settings = spec.settings
    if settings.threads is None:
        settings = replace(settings, threads=max(1, int(cpus)))
    problem = missing_model(entry, spec.setup, socket.gethostname())
    if problem:
        return {"run": failed_row(entry, settings.conf, problem), "log": ""}
    with tempfile.TemporaryDirectory(prefix="zoo-ray-track-") as work:
        out = Path(work)
        with offline(not spec.setup.allow_network):
            if spec.isolation:
                row = track_isolated(entry, video, settings, spec.setup, spec.limits, out, no_report)
            else:
                row = detector_row_here(entry, cached_plugins(spec.setup), video, settings, out, no_report)
        log = out / "logs" / f"{entry.id}.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        files = {relative: (out / relative).read_text(encoding="utf-8") for relative in row["files"].values()}
    return {"run": row, "log": text, "files": files}
