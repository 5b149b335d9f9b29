"""The accuracy–latency chart: accuracy (y) against median latency (x, log scale), the Pareto front drawn through
its points, and the models with a latency but no accuracy in a lane under the axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from zoo.report import fmt
from zoo.report.charts.frame import CHAR_WIDTH, FONT, Frame, Mark, Scale, accuracy_domain, log_domain


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
    frame: Frame
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
    _place_lane_labels(lane, lane_y, left, width)
    frame = Frame(
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
    )
    return ScatterChart(key, metric, frame, points, path, lane, lane_y, f"no {metric}")


def _place_lane_labels(lane: list[LanePoint], lane_y: float, left: float, width: float) -> None:
    """Put each lane label beside its mark, on its line or the line below, where no other label or mark is."""
    taken: list[tuple[float, float, float, float]] = []
    marks = [(p.x - 6, lane_y - 6, p.x + 6, lane_y + 6) for p in lane]
    for point in lane:
        width_px = len(point.mark.label) * CHAR_WIDTH * 0.92
        options = [(point.x + 8, lane_y + 4), (point.x - 8 - width_px, lane_y + 4)]
        options += [(point.x + 8, lane_y + 18), (point.x - 8 - width_px, lane_y + 18)]
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
