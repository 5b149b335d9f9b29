"""Chart geometry as plain data: scales, ticks, the Pareto front, and the shapes of each chart in pixels.

Nothing here writes markup; ``templates/charts.html`` turns these dataclasses into inline SVG (autoescaped, so a
model or class name is text wherever it lands).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from zoo.report import fmt

FONT = 12  # px, the chart text size; label widths below are estimated from it
CHAR_WIDTH = 0.6 * FONT


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points on the accuracy–latency front, fastest first.

    Each point is ``(latency, accuracy)``: lower latency and higher accuracy are better. A point is on the front
    unless another point is at least as good on both and strictly better on one; equal points are all on it.
    """
    front = []
    for i, (latency, accuracy) in enumerate(points):
        dominated = any(
            other_latency <= latency
            and other_accuracy >= accuracy
            and (other_latency < latency or other_accuracy > accuracy)
            for j, (other_latency, other_accuracy) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1], i))


def knee(points: Sequence[tuple[float, float]], front: Sequence[int]) -> int | None:
    """The front point closest to the ideal corner (fastest latency, best accuracy), after scaling both axes to
    0..1 over the front (latency on a log scale). Ties go to the more accurate point."""
    if not front:
        return None
    latencies = [math.log10(max(points[i][0], 1e-9)) for i in front]
    accuracies = [points[i][1] for i in front]
    lat_span = (max(latencies) - min(latencies)) or 1.0
    acc_span = (max(accuracies) - min(accuracies)) or 1.0

    def distance(k: int) -> tuple[float, float]:
        lat = (latencies[k] - min(latencies)) / lat_span
        acc = (max(accuracies) - accuracies[k]) / acc_span
        return (round(math.hypot(lat, acc), 9), -accuracies[k])

    return front[min(range(len(front)), key=distance)]


# ---------------------------------------------------------------------------------------------------- scales


@dataclass(frozen=True)
class Tick:
    pos: float  # pixels along the axis
    label: str


@dataclass(frozen=True)
class Scale:
    low: float
    high: float
    start: float  # pixels of ``low``
    end: float  # pixels of ``high``
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            value, low, high = math.log10(max(value, 1e-12)), math.log10(self.low), math.log10(self.high)
        else:
            low, high = self.low, self.high
        share = (value - low) / (high - low) if high != low else 0.5
        return round(self.start + share * (self.end - self.start), 2)

    def ticks(self, label=fmt.tick) -> list[Tick]:
        return [Tick(self(v), label(v)) for v in (log_ticks(self.low, self.high) if self.log else self._linear())]

    def _linear(self) -> list[float]:
        step = nice_step((self.high - self.low) / 5)
        first = math.ceil(self.low / step - 1e-9) * step
        return [round(first + i * step, 10) for i in range(int((self.high - first) / step + 1e-9) + 1)]


def nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power


def log_domain(values: Sequence[float]) -> tuple[float, float]:
    """A log-axis domain around ``values`` with a little room on both sides."""
    positive = [v for v in values if v > 0] or [1.0]
    low, high = min(positive), max(positive)
    if high / low < 10:  # less than a decade: widen around the middle so ticks exist
        middle = math.sqrt(low * high)
        low, high = middle / math.sqrt(10), middle * math.sqrt(10)
    return low / 1.35, high * 1.35


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks when the span is a few decades, decades only when it is wider."""
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    multiples = (1, 2, 5) if math.log10(high / low) <= 3.5 else (1,)
    return [m * 10.0**d for d in decades for m in multiples if low <= m * 10.0**d <= high]


def accuracy_domain(values: Sequence[float]) -> tuple[float, float]:
    """0 up to a round number just above the best value (at most 1)."""
    top = max([v for v in values if v is not None] or [1.0])
    if top >= 0.8:
        return 0.0, 1.0
    step = nice_step(max(top, 0.01) / 4)
    return 0.0, min(1.0, math.ceil((top * 1.08) / step) * step)


# ---------------------------------------------------------------------------------------------------- accuracy–latency


@dataclass(frozen=True)
class Mark:
    """One series on a chart: what the legend and the point carry."""

    key: str
    label: str
    color: str
    shape: str  # circle, square, diamond, triangle: the run, when a report holds several


@dataclass
class ScatterPoint:
    mark: Mark
    x: float
    y: float
    x_tail: float  # p95 latency: the whisker's end
    on_front: bool
    title: str
    label_x: float = 0.0
    label_y: float = 0.0
    anchor: str = "start"


@dataclass
class LanePoint:
    """A model with a latency but no accuracy value: drawn in a lane under the axis, never at 0."""

    mark: Mark
    x: float
    title: str
    why: str = ""
    label_x: float | None = None  # None: no room for a label (the mark's title and the list under the chart say)
    label_y: float = 0.0


@dataclass
class ScatterChart:
    key: str
    metric: str  # the accuracy the y axis shows
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str
    points: list[ScatterPoint]
    front_path: str
    lane: list[LanePoint] = field(default_factory=list)
    lane_y: float = 0.0
    lane_label: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (path, colour): a model's runtime rows joined


def scatter_chart(
    key: str,
    metric: str,
    items: Sequence[tuple[Mark, float | None, float | None, float | None, str]],
    *,
    width: int = 1160,
    height: int = 420,
) -> ScatterChart | None:
    """Accuracy (y) against median latency (x, log), the Pareto front drawn as a staircase through its points.

    ``items`` are ``(mark, latency_p50, latency_p95, accuracy, why)``; those with a latency and no accuracy go in a
    lane below the plot (``why`` says why they have none). None when no item has both values.
    """
    placed = [(m, lat, tail, acc) for m, lat, tail, acc, _ in items if lat is not None and acc is not None and lat > 0]
    if not placed:
        return None
    lane_items = [(m, lat, why) for m, lat, _, acc, why in items if lat is not None and acc is None and lat > 0]
    left, right, top = 64.0, width - 24.0, 16.0
    lane_height = 44.0 if lane_items else 0.0
    bottom = height - 46.0 - lane_height
    latencies = [lat for _, lat, _, _ in placed] + [lat for _, lat, _ in lane_items]
    tails = [tail for _, _, tail, _ in placed if tail]
    x = Scale(*log_domain(latencies + tails), left, right, log=True)
    y = Scale(*accuracy_domain([acc for *_, acc in placed]), bottom, top)
    front = set(pareto_front([(lat, acc) for _, lat, _, acc in placed]))
    points = []
    for i, (mark, lat, tail, acc) in enumerate(placed):
        title = f"{mark.label}: {metric} {fmt.score(acc)}, latency p50 {fmt.ms(lat)} ms"
        if tail:
            title += f", p95 {fmt.ms(tail)} ms"
        if i in front:
            title += " (on the Pareto front)"
        points.append(ScatterPoint(mark, x(lat), y(acc), x(tail) if tail else x(lat), i in front, title))
    _place_labels(points, left, right, top, bottom)
    ordered = sorted((p for p in points if p.on_front), key=lambda p: (p.x, p.y))
    path = ""
    for n, point in enumerate(ordered):  # staircase: a faster point's accuracy holds until the next one
        path += f"M{point.x},{point.y}" if n == 0 else f"H{point.x}V{point.y}"
    if ordered:
        path += f"H{right}"
    lane_y = bottom + 40.0 + lane_height / 2
    lane = [
        LanePoint(m, x(lat), f"{m.label}: no {metric} ({why}); latency p50 {fmt.ms(lat)} ms", why)
        for m, lat, why in sorted(lane_items, key=lambda item: item[1])
    ]
    taken: list[tuple[float, float, float, float]] = []
    for point in lane:  # beside the mark, on its line or the line below, where no other label is
        width_px = len(point.mark.label) * CHAR_WIDTH * 0.92
        options = [(point.x + 8, lane_y + 4), (point.x - 8 - width_px, lane_y + 4)]
        options += [(point.x + 8, lane_y + 18), (point.x - 8 - width_px, lane_y + 18)]
        marks = [(p.x - 6, lane_y - 6, p.x + 6, lane_y + 6) for p in lane]
        fits = [(lx, ly) for lx, ly in options if lx >= left - 30 and lx + width_px <= width]
        free = [
            (lx, ly)
            for lx, ly in fits
            if not any(_overlap((lx, ly - 11, lx + width_px, ly + 2), t) for t in taken + marks)
        ]
        if free:
            lx, ly = free[0]
            point.label_x, point.label_y = round(lx, 1), round(ly, 1)
            taken.append((lx, ly - 11, lx + width_px, ly + 2))
    return ScatterChart(
        key=key,
        metric=metric,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        x_ticks=x.ticks(),
        y_ticks=y.ticks(lambda v: f"{v:.2f}".rstrip("0").rstrip(".") if v else "0"),
        x_label="latency per image, median (ms, log scale) — faster to the left",
        y_label=metric,
        points=points,
        front_path=path,
        lane=lane,
        lane_y=lane_y,
        lane_label=f"no {metric}",
    )


def _place_labels(points: list[ScatterPoint], left: float, right: float, top: float, bottom: float) -> None:
    """Put each label beside its point where it overlaps no label placed before it (right, left, above, below)."""
    taken: list[tuple[float, float, float, float]] = []
    for point in sorted(points, key=lambda p: (not p.on_front, p.y, p.x)):
        width = len(point.mark.label) * CHAR_WIDTH
        beside = [(point.x + 9, point.y + 4, "start"), (point.x - 9, point.y + 4, "end")]
        off_line = [
            (point.x + 7, point.y - 10, "start"),
            (point.x + 7, point.y + 19, "start"),
            (point.x - 7, point.y - 10, "end"),
            (point.x - 7, point.y + 19, "end"),
        ]
        # the front's staircase leaves a front point to the right, level with it: label those above or below
        options = off_line + beside if point.on_front else beside + off_line
        chosen = None
        for lx, ly, anchor in options:
            x0 = lx if anchor == "start" else lx - width
            box = (x0, ly - FONT, x0 + width, ly + 2)
            inside = box[0] >= left - 40 and box[2] <= right + 20 and box[1] >= 0 and box[3] <= bottom + 14
            if inside and not any(_overlap(box, other) for other in taken):
                chosen = (lx, ly, anchor, box)
                break
        if chosen is None:
            lx, ly, anchor = options[0] if point.x + width < right else options[1]
            x0 = lx if anchor == "start" else lx - width
            chosen = (lx, ly, anchor, (x0, ly - FONT, x0 + width, ly + 2))
        point.label_x, point.label_y, point.anchor = round(chosen[0], 1), round(chosen[1], 1), chosen[2]
        taken.append(chosen[3])


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# ---------------------------------------------------------------------------------------------------- latency


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
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    split_left: float
    split_width: float
    ticks: list[Tick]
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
    return LatencyChart(
        width=width,
        height=int(bottom + 42),
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        split_left=split_left,
        split_width=split_width,
        ticks=scale.ticks(),
        rows=rows,
        row_height=row_height,
        legend=[(stage, color) for stage, color in STAGE_COLORS.items()],
    )


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


# ---------------------------------------------------------------------------------------------------- PR curves


@dataclass
class Line:
    mark: Mark
    path: str
    title: str
    dash: str


@dataclass
class LineChart:
    key: str
    title: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str
    lines: list[Line]


DASHES = ("", "6 3", "2 3", "8 3 2 3")


def pr_chart(
    key: str,
    title: str,
    items: Sequence[tuple[Mark, int, Sequence[float], Sequence[float | None], str]],
    *,
    width: int = 560,
    height: int = 340,
) -> LineChart | None:
    """Precision (y) against recall (x); ``items`` are ``(mark, run_index, recall, precision, title)``. A gap in
    the precision (None) breaks the line."""
    left, right, top, bottom = 52.0, width - 16.0, 12.0, height - 44.0
    x, y = Scale(0, 1, left, right), Scale(0, 1, bottom, top)
    lines = []
    for mark, run_index, recall, precision, line_title in items:
        path, pen_down = "", False
        for r, p in zip(recall, precision):
            if p is None:
                pen_down = False
                continue
            path += f"{'L' if pen_down else 'M'}{x(r)},{y(p)}"
            pen_down = True
        if path:
            lines.append(Line(mark, path, line_title, DASHES[run_index % len(DASHES)]))
    if not lines:
        return None
    label = lambda v: f"{v:.1f}"  # noqa: E731
    return LineChart(
        key,
        title,
        width,
        height,
        left,
        top,
        right,
        bottom,
        x.ticks(label),
        y.ticks(label),
        "recall",
        "precision",
        lines,
    )
