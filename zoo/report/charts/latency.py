"""The latency chart: one row per series, a box plot of its per-image latency (log scale) beside its median split
into preprocess, inference and postprocess."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zoo.report import fmt
from zoo.report.charts.frame import CHAR_WIDTH, Frame, Mark, Scale, log_domain

X_LABEL = "latency per image (ms, log scale): box = quartiles, whiskers = 1.5 × IQR, dots = every timed image"


STAGE_COLORS = {"preprocess": "#9db4d3", "inference": "#3b6ea8", "postprocess": "#e8a33d"}


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    color: str
    title: str


@dataclass
class BoxRow:
    mark: Mark
    y: float
    note: str  # "untrained copy", ...
    box: tuple[float, float] | None  # q1, q3 (pixels); None when only a summary was recorded
    median: float
    whiskers: tuple[float, float]
    outliers: list[float]
    dots: list[float]  # every sample, jittered in y by the template
    title: str
    split: list[Segment]
    split_text: str


@dataclass
class LatencyChart:
    frame: Frame  # x ticks only: the rows are the y axis
    split_left: float
    split_width: float
    rows: list[BoxRow]
    row_height: float
    legend: list[tuple[str, str]]


def quantiles(samples: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples, dtype=float)
    q1, median, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    spread = q3 - q1
    inside = values[(values >= q1 - 1.5 * spread) & (values <= q3 + 1.5 * spread)]
    return {
        "q1": q1,
        "median": median,
        "q3": q3,
        "low": float(inside.min()),
        "high": float(inside.max()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def latency_chart(items: Sequence[tuple[Mark, str, dict, dict]], *, width: int = 1160) -> LatencyChart | None:
    """One row per series: a box plot of its per-image latency (log scale) and its median split by stage.

    ``items`` are ``(mark, note, latency_samples_ms, latency_ms)`` as the runner writes them.
    """
    usable = [item for item in items if _total_summary(item[2], item[3])]
    if not usable:
        return None
    row_height, top = 30.0, 8.0
    longest = max(len(mark.label) + (len(note) + 3 if note else 0) for mark, note, *_ in usable)
    left = 24.0 + min(340.0, longest * CHAR_WIDTH * 0.92)
    split_width = 170.0
    right = width - split_width - 236.0
    split_left = right + 30.0
    bottom = top + row_height * len(usable)
    summaries = [_total_summary(samples, summary) for _, _, samples, summary in usable]
    values = [v for s in summaries for v in (s["min"], s["max"])]
    scale = Scale(*log_domain(values), left, right, log=True)
    rows = []
    for n, ((mark, note, samples, summary), stats) in enumerate(zip(usable, summaries)):
        y = top + row_height * (n + 0.5)
        total = samples.get("total") or []
        has_box = "q1" in stats
        outliers = [scale(v) for v in total if has_box and (v < stats["low"] or v > stats["high"])]
        title = (
            f"{mark.label}: median {fmt.ms(stats['median'])} ms"
            + (f", quartiles {fmt.ms(stats['q1'])}–{fmt.ms(stats['q3'])} ms" if has_box else "")
            + f", min {fmt.ms(stats['min'])}, max {fmt.ms(stats['max'])} ms"
            + (f", {len(total)} timed images" if total else "")
        )
        split, split_text = _split(summary, split_left, split_width)
        rows.append(
            BoxRow(
                mark=mark,
                y=y,
                note=note,
                box=(scale(stats["q1"]), scale(stats["q3"])) if has_box else None,
                median=scale(stats["median"]),
                whiskers=(scale(stats["low"]), scale(stats["high"])),
                outliers=outliers,
                dots=[scale(v) for v in total[:400]],
                title=title,
                split=split,
                split_text=split_text,
            )
        )
    frame = Frame(width, int(bottom + 42), left, top, right, bottom, x_ticks=scale.ticks(), x_label=X_LABEL)
    legend = [(stage, color) for stage, color in STAGE_COLORS.items()]
    return LatencyChart(frame, split_left, split_width, rows, row_height, legend)


def _total_summary(samples: dict, summary: dict) -> dict[str, float] | None:
    total = (samples or {}).get("total") or []
    if len(total) >= 2:
        return quantiles(total)
    stats = (summary or {}).get("total") or {}
    if all(stats.get(k) is not None for k in ("median", "min", "max")):
        return {"median": stats["median"], "low": stats["min"], "high": stats["max"], **stats}
    return None


def _split(summary: dict, x0: float, width: float) -> tuple[list[Segment], str]:
    medians = {stage: ((summary or {}).get(stage) or {}).get("median") for stage in STAGE_COLORS}
    if any(v is None for v in medians.values()):
        return [], "no split recorded"
    whole = sum(medians.values()) or 1.0
    segments, x = [], x0
    for stage, value in medians.items():
        share = value / whole
        segments.append(
            Segment(round(x, 2), round(share * width, 2), STAGE_COLORS[stage], f"{stage}: {fmt.ms(value)} ms")
        )
        x += share * width
    text = " · ".join(f"{fmt.ms(v)}" for v in medians.values()) + " ms"
    return segments, text
