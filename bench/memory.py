"""Memory: peak RSS of a run at 5,000 ``shapes`` images ÷ at 50, with a numpy model — does a run's memory grow
with the dataset (images kept decoded, predictions or per-image records piling up)?

Both runs are ``zoo run --data shapes:count=5000 --limit N --models reference-blobs`` (the same images, a prefix of
them), as a user runs it, worker process included. The RSS of the whole process tree (zoo and its worker, summed)
is sampled every 20 ms by psutil (the tree's processes listed again every 0.2 s); the figure is its highest
sample.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.process import Finished, run_zoo
from bench.table import Row, missing_row

TITLE = "memory"
GOAL = 1.2
HOW = (
    "peak RSS of `zoo run` (zoo + worker, summed; psutil every 20 ms) at 5,000 `shapes` images ÷ at 50, numpy "
    "model reference-blobs"
)
MODEL = "reference-blobs"
SIZES, QUICK_SIZES = (50, 5000), (20, 200)
QUICK_IMAGE = "size=96x80"
SAMPLE_EVERY = 0.02  # seconds; the process tree is listed again every 0.2 s


def measure(quick: bool = False, **_: Any) -> Row:
    small, large = QUICK_SIZES if quick else SIZES
    spec = f"shapes:count={large}" + (f",{QUICK_IMAGE}" if quick else "")
    runs = {limit: _run(spec, limit) for limit in (small, large)}
    failed = [f"--limit {limit}: exit {run.returncode}" for limit, run in runs.items() if run.returncode]
    if failed or any(not run.peak_tree_bytes for run in runs.values()):
        why = "; ".join(failed) or "no RSS sample was taken"
        last = (runs[large].stderr_tail.strip().splitlines() or [""])[-1]
        return missing_row(TITLE, GOAL, HOW, f"{why} {last}".strip())
    low, high = runs[small].peak_tree_bytes or 0, runs[large].peak_tree_bytes or 0
    how = HOW if not quick else HOW.replace("5,000", str(large)).replace("at 50", f"at {small}")
    return Row(
        TITLE,
        f"{high / 2**20:.0f} MiB at {large} images",
        f"{low / 2**20:.0f} MiB at {small}",
        high / low,
        GOAL,
        how,
        details=[_detail(limit, run) for limit, run in runs.items()],
    )


def _run(spec: str, limit: int) -> Finished:
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        args = ["run", "--data", spec, "--limit", str(limit), "--models", MODEL, "--out", str(Path(folder) / "run")]
        return run_zoo([*args, "--speed-budget", "1"], sample_every=SAMPLE_EVERY)


def _detail(limit: int, run: Finished) -> str:
    tree, biggest = (run.peak_tree_bytes or 0) / 2**20, (run.peak_process_bytes or 0) / 2**20
    return f"{limit} images: tree {tree:.0f} MiB, largest process {biggest:.0f} MiB, {run.wall_s:.0f} s"
