"""Line charts: precision (y) against recall (x), one line per series and class set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zoo.report.charts.frame import Frame, Mark, Scale


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
    frame: Frame
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
    frame = Frame(width, height, left, top, right, bottom, x.ticks(label), y.ticks(label), "recall", "precision")
    return LineChart(key, title, frame, lines)
