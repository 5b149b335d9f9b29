"""One detector's tracking row in its own worker process, watched as ``zoo run`` watches a model (`zoo.isolation`:
a timeout for the whole model, a stall timeout between frames, a memory cap, the log's tail in the reason), so a
crash, a hang or a runaway allocation costs that row and nothing else."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

from zoo.files import atomic_write, to_json
from zoo.isolation import Limits, WorkerSetup, watch, worker_prologue
from zoo.registry import Entry
from zoo.tracking.run import Report, blank_row, detector_row_here
from zoo.tracking.video import Video


def track_isolated(
    entry: Entry, video: Video, settings: Any, setup: WorkerSetup, limits: Limits, out: Path, report: Report
) -> dict[str, Any]:
    """`zoo.tracking.protocol.detector_row_here` for ``entry`` in a spawned worker; always returns a row."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    result_path = out / "work" / f"{entry.id}.json"
    log_path = out / "logs" / f"{entry.id}.log"
    result_path.unlink(missing_ok=True)
    for folder in (result_path.parent, log_path.parent):
        folder.mkdir(parents=True, exist_ok=True)
    process = context.Process(
        target=_worker,
        args=(entry, video, settings, setup, str(out), str(result_path), str(log_path), messages, os.getpid()),
        name=f"zoo-track-{entry.id}",
        daemon=True,
    )
    process.start()
    shown = f"logs/{log_path.name}"
    found, (status, reason, _) = watch(process, messages, limits, report, result_path, log_path, shown)
    if found is not None:
        return found
    row = blank_row(entry.id, "detector", settings.conf)
    row["family"], row["reason"] = entry.family, reason
    row["status"] = str(status)  # zoo.isolation's Status, as text
    return row


def _worker(
    entry: Entry,
    video: Video,
    settings: Any,
    setup: WorkerSetup,
    out: str,
    result_path: str,
    log_path: str,
    messages: Any,
    parent: int,
) -> None:
    """The worker's main: `zoo.isolation.worker_prologue` (its log, offline, seeded as zoo run's workers are, the
    plugins loaded again), then one detector row."""
    plugins = worker_prologue(parent, log_path, settings, setup)
    row = detector_row_here(entry, plugins, video, settings, Path(out), lambda *step: messages.put(step))
    print(f"zoo: {entry.id}: {row['status']}" + (f": {row['reason']}" if row["reason"] else ""))
    if row.get("traceback"):
        print(row["traceback"])
    atomic_write(Path(result_path), to_json(row, indent=None))
