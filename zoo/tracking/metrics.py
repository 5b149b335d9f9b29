"""Tracking metrics through TrackEval (the MOTChallenge reference implementation): HOTA, DetA, AssA, LocA, MOTA,
MOTP, IDF1, ID switches, per sequence and combined, from the MOTChallenge files zoo wrote.

TrackEval reads the ground truth and each row's ``trackers/<row>/data/<seq>.txt`` itself and applies its own MOT17
preprocessing (distractor classes, the considered flag); zoo only reads back the numbers. TrackEval also writes
its own ``pedestrian_summary.txt`` and ``pedestrian_detailed.csv`` per row under ``trackeval/``.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from zoo.errors import ZooError

# (zoo's key, TrackEval's metric family, TrackEval's field); HOTA's fields are averaged over its 19 IoU thresholds
FIELDS = (
    ("hota", "HOTA", "HOTA"),
    ("deta", "HOTA", "DetA"),
    ("assa", "HOTA", "AssA"),
    ("loca", "HOTA", "LocA"),
    ("detre", "HOTA", "DetRe"),
    ("detpr", "HOTA", "DetPr"),
    ("mota", "CLEAR", "MOTA"),
    ("motp", "CLEAR", "MOTP"),
    ("idf1", "Identity", "IDF1"),
    ("idsw", "CLEAR", "IDSW"),
    ("frag", "CLEAR", "Frag"),
    ("fp", "CLEAR", "CLR_FP"),
    ("fn", "CLEAR", "CLR_FN"),
    ("mt", "CLEAR", "MT"),
    ("ml", "CLEAR", "ML"),
    ("ids", "Count", "IDs"),
    ("gt_ids", "Count", "GT_IDs"),
)
COMBINED = "combined"
CLASS = "pedestrian"


def evaluate(
    gt_root: Path, sequences: dict[str, int], trackers_root: Path, rows: list[str], out: Path, benchmark: str = "MOT17"
) -> dict[str, dict[str, dict[str, float]]]:
    """Score every row's files with TrackEval: ``{row: {sequence or "combined": {metric: value}}}``.

    ``sequences`` maps each sequence name to its number of frames; TrackEval's own summary and detailed files go
    to ``out/<row>/``; what it prints goes to ``out/trackeval.log``."""
    import trackeval
    from trackeval.utils import TrackEvalException

    dataset = {
        "GT_FOLDER": str(gt_root),
        "TRACKERS_FOLDER": str(trackers_root),
        "OUTPUT_FOLDER": str(out),
        "TRACKERS_TO_EVAL": list(rows),
        "CLASSES_TO_EVAL": [CLASS],
        "BENCHMARK": benchmark,
        "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": dict(sequences),
        "DO_PREPROC": True,
        "PRINT_CONFIG": False,
    }
    config = {
        "USE_PARALLEL": False,
        "BREAK_ON_ERROR": True,
        "LOG_ON_ERROR": None,
        "PRINT_RESULTS": False,
        "PRINT_CONFIG": False,
        "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": True,
        "OUTPUT_DETAILED": True,
        "PLOT_CURVES": False,
    }
    out.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            quiet = {"PRINT_CONFIG": False}
            metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(quiet), trackeval.metrics.Identity(quiet)]
            results, messages = trackeval.Evaluator(config).evaluate(
                [trackeval.datasets.MotChallenge2DBox(dataset)], metrics
            )
    except TrackEvalException as error:
        raise ZooError(f"TrackEval could not score the tracks: {error}") from None
    finally:
        (out / "trackeval.log").write_text(log.getvalue(), encoding="utf-8")
    scored = results["MotChallenge2DBox"]
    return {row: _row(scored[row]) for row in rows}


def _row(result: dict) -> dict[str, dict[str, float]]:
    return {(COMBINED if seq == "COMBINED_SEQ" else seq): _numbers(by_class[CLASS]) for seq, by_class in result.items()}


def _numbers(metrics: dict) -> dict[str, float]:
    numbers = {}
    for key, family, name in FIELDS:
        value = metrics[family][name]
        numbers[key] = float(np.mean(value)) if np.ndim(value) else float(value)
        if family in ("CLEAR", "Count") and name not in ("MOTA", "MOTP"):
            numbers[key] = int(numbers[key])
    return numbers
