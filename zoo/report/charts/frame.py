"""What every chart shares: its frame (size, plot area, ticks, axis labels), the ticks' scales, and the mark that
identifies a series in the legend and on the plot."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zoo.report import fmt

FONT = 12  # px, the chart text size; label widths are estimated from it
CHAR_WIDTH = 0.6 * FONT


@dataclass(frozen=True)
class Tick:
    pos: float  # pixels along the axis
    label: str


@dataclass(frozen=True)
class Mark:
    """One series on a chart: what the legend and the point carry."""

    key: str
    label: str
    color: str
    shape: str  # circle, square, diamond, triangle: the run, when a report holds several


@dataclass(frozen=True)
class Frame:
    """A chart's frame: the SVG's size, the plot area inside it (pixels), the ticks on each axis and the axis labels.
    ``templates/charts.html`` draws it (the ``frame`` macros) under every chart kind's own marks."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_label: str = ""
    y_label: str = ""


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

    def ticks(self, label: Callable[[float], str] = fmt.tick) -> list[Tick]:
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
