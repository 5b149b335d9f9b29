"""``zoo`` run as a user runs it, in a subprocess: its wall time, and (when asked) the peak RSS of its process tree,
the worker processes included."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

REFRESH_EVERY = 10  # samples between two listings of the process tree


@dataclass(frozen=True)
class Finished:
    """What one ``zoo`` command did: exit status, seconds around it, the end of its stderr, and the highest sampled
    RSS of its whole process tree (summed over the processes alive at that moment) and of its largest process."""

    returncode: int
    wall_s: float
    stderr_tail: str
    peak_tree_bytes: int | None = None
    peak_process_bytes: int | None = None


def zoo_command() -> list[str]:
    """The console script beside this interpreter (what a user types), else ``python -m zoo.cli``."""
    script = Path(sys.executable).parent / "zoo"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "zoo.cli"]


def run_zoo(args: Sequence[str], *, sample_every: float | None = None, timeout: float = 3600) -> Finished:
    """Run ``zoo ARGS`` offline (ZOO_OFFLINE=1) with its output sent to temporary files; with ``sample_every``
    (seconds) also sample the RSS of it and its descendants meanwhile (sampling costs CPU: leave it off when the
    wall time is what is measured)."""
    env = {**os.environ, "ZOO_OFFLINE": "1"}
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen([*zoo_command(), *args], stdout=stdout, stderr=stderr, env=env)
        peaks = _wait(process, sample_every, started + timeout)
        wall = time.perf_counter() - started
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace")[-3000:]
    return Finished(process.returncode, wall, tail, *peaks)


def _wait(process: subprocess.Popen, sample_every: float | None, deadline: float) -> tuple[int | None, int | None]:
    if sample_every is None:
        try:
            process.wait(timeout=max(deadline - time.perf_counter(), 1))
        except subprocess.TimeoutExpired:
            _stop(process)
        return None, None
    tree = biggest = 0
    root, processes = psutil.Process(process.pid), []
    samples = 0
    while process.poll() is None:
        if time.perf_counter() > deadline:
            _stop(process)
            break
        if samples % REFRESH_EVERY == 0:  # listing the descendants reads all of /proc: not at every sample
            processes = _tree(root)
        sizes = _rss(processes)
        tree, biggest = max(tree, sum(sizes)), max(biggest, max(sizes, default=0))
        samples += 1
        time.sleep(sample_every)
    return tree, biggest


def _tree(root: psutil.Process) -> list[psutil.Process]:
    """``root`` and its descendants alive now."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _rss(processes: list[psutil.Process]) -> list[int]:
    """The RSS of each process still alive (one that ends while being read is skipped)."""
    sizes = []
    for process in processes:
        try:
            sizes.append(process.memory_info().rss)
        except psutil.Error:
            pass
    return sizes


def _stop(process: subprocess.Popen) -> None:
    process.terminate()  # zoo stops its worker and keeps what finished (SIGTERM: exit status 143)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
