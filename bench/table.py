"""One row per measurement, and the table they make: in the terminal and in bench/latest.md the same markdown."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """A measurement's result: zoo's figure, the reference's, their ratio, the goal, and how it was measured.

    A measurement that could not be done has ``ratio`` None and says why in ``missing`` (never a 0)."""

    measurement: str
    zoo: str
    reference: str
    ratio: float | None
    goal: float | None  # the ratio to stay at or under; None: the issue sets none
    how: str
    missing: str = ""
    details: list[str] = field(default_factory=list)  # lines printed under the table (per-model figures...)
    load: str = ""  # the machine's load while it was measured (`Load.cell`)


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def missing_row(measurement: str, goal: float | None, how: str, why: str) -> Row:
    return Row(measurement, "—", "—", None, goal, how, missing=why)


def ratio_cell(row: Row) -> str:
    return f"missing: {row.missing}" if row.ratio is None else f"{row.ratio:.3f}"


def goal_cell(row: Row) -> str:
    if row.goal is None:
        return "none set"
    if row.ratio is None:
        return f"≤ {row.goal:g}"
    return f"≤ {row.goal:g} ({'met' if row.ratio <= row.goal else 'missed'})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Row], conditions: str) -> str:
    """The table, the per-measurement details under it, and the machine conditions it was measured in."""
    lines = [
        "| measurement | zoo | reference | ratio | goal | load during | how measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = (row.measurement, row.zoo, row.reference, ratio_cell(row), goal_cell(row), row.load or "?", row.how)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    lines.append("")
    for row in rows:
        lines += [f"- {row.measurement}: {detail}" for detail in row.details]
    lines += ["", conditions, ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds so far: the whole machine's busy time, and this process's own with its finished children's."""

    machine: float
    mine: float

    @classmethod
    def now(cls) -> CpuClock:
        import psutil

        total = psutil.cpu_times()
        idle = total.idle + getattr(total, "iowait", 0.0)
        mine = os.times()
        busy = sum(total) - idle - getattr(total, "guest", 0.0) - getattr(total, "guest_nice", 0.0)
        return cls(busy, mine.user + mine.system + mine.children_user + mine.children_system)

    def others_since(self, start: CpuClock) -> float:
        """CPU seconds other processes used between ``start`` and this clock (what disturbed the timings)."""
        return max((self.machine - start.machine) - (self.mine - start.mine), 0.0)


@dataclass(frozen=True)
class Load:
    """The machine's load around one measurement: the 1-minute load average at its start and end, and the cores
    other processes kept busy on average meanwhile (their CPU-seconds ÷ the wall seconds)."""

    start: float | None
    end: float | None
    others_cores: float
    cores: int

    @classmethod
    def around(cls, start_load: float | None, clock: CpuClock, wall: float) -> Load:
        end = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        others = CpuClock.now().others_since(clock) / wall if wall > 0 else 0.0
        return cls(start_load, end, others, _cores())

    def cell(self) -> str:
        averages = "" if self.start is None or self.end is None else f"; load avg {self.start:.1f}→{self.end:.1f}"
        return f"others {self.others_cores:.1f} of {self.cores} cores{averages}"


def load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def conditions(seconds: float, quick: bool, load: float | None = None, others: float | None = None) -> str:
    """Where and when: the CPU, its cores, torch's threads, the machine's load average when the bench began and the
    CPU time other processes took meanwhile, the commit, the date, and how long the bench took."""
    cpu = _cpu_name() or platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = _torch_threads()
    commit = _commit()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mode = "`python -m bench --quick`" if quick else "`python -m bench`"
    return (
        f"Measured by {mode} on {cores} CPU core(s) ({cpu}), torch {threads} thread(s), "
        f"{'' if load is None else f'1-minute load average {load:.2f} at the start, '}"
        f"commit {commit}, {when}; the bench took {seconds:.0f} s"
        + ("." if others is None else f", other processes used {others:.0f} CPU-seconds meanwhile.")
    )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _torch_threads() -> str:
    try:
        import torch
    except ImportError:
        return "?"
    return str(torch.get_num_threads())


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if out.returncode:
        return "unknown"
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
