"""One detector's tracking row in its own worker process, watched as ``zoo run`` watches a model (`zoo.isolation`:
a timeout for the whole model, a stall timeout between frames, a memory cap, the log's tail in the reason), so a
crash, a hang or a runaway allocation costs that row and nothing else."""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import time
from pathlib import Path
from typing import Any

from zoo.files import atomic_write, to_json
from zoo.isolation import (
    POLL_SECONDS,
    Limits,
    WorkerSetup,
    _die_with,
    _exit_reason,
    _log_tail,
    _over_limit,
    _seed,
    _stop,
)
from zoo.offline import block_network
from zoo.plugins import load_plugins
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
    started = last_progress = time.monotonic()
    stopped = None
    try:
        while process.is_alive() or not messages.empty():
            try:
                report(*messages.get(timeout=POLL_SECONDS))
                last_progress = time.monotonic()
                continue
            except queue_module.Empty:
                pass
            except Exception:  # a message cut off by a dying worker
                pass
            if not process.is_alive():
                break
            stopped = _over_limit(process, limits, started, last_progress)
            if stopped:
                _stop(process)
                break
    except BaseException:  # Ctrl-C: stop the worker, let the caller keep what finished
        _stop(process)
        raise
    finally:
        process.join(timeout=30)
        messages.close()
        messages.cancel_join_thread()
    if stopped is None and process.exitcode == 0 and result_path.is_file():
        row = json.loads(result_path.read_text(encoding="utf-8"))
        result_path.unlink()
        return row
    row = blank_row(entry.id, "detector", settings.conf)
    row["family"] = entry.family
    status, reason = stopped or ("failed", _exit_reason(process.exitcode))
    row["status"] = str(status)  # zoo.isolation's Status, as text
    tail = _log_tail(log_path)
    row["reason"] = f"{reason}; log: logs/{log_path.name}" + (f" (last lines: {tail})" if tail else "")
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
    """The worker's main: output to the row's log, offline, plugins loaded again, one detector row."""
    _die_with(parent)
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the worker
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    faulthandler.enable(log)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle

    block_network()
    _seed(settings)  # seeded as zoo run's workers are: an untrained copy's random weights too
    plugins = load_plugins(setup.plugin_dirs)
    for problem in plugins.problems:
        print(f"zoo: warning: {problem}")
    row = detector_row_here(entry, plugins, video, settings, Path(out), lambda *step: messages.put(step))
    print(f"zoo: {entry.id}: {row['status']}" + (f": {row['reason']}" if row["reason"] else ""))
    if row.get("traceback"):
        print(row["traceback"])
    atomic_write(Path(result_path), to_json(row, indent=None))
