"""Chart geometry as plain data: scales, ticks, the Pareto front, and the shapes of each chart in pixels.

One `Frame` (size, plot area, ticks, axis labels) under every kind: `scatter` (accuracy against latency), `latency`
(box plots by series) and `lines` (precision-recall curves). Nothing here writes markup; ``templates/charts.html``
turns these dataclasses into inline SVG (autoescaped, so a model or class name is text wherever it lands).
"""

from __future__ import annotations

from zoo.report.charts.frame import Frame, Mark, Scale, Tick
from zoo.report.charts.latency import LatencyChart, latency_chart
from zoo.report.charts.lines import LineChart, pr_chart
from zoo.report.charts.scatter import ScatterChart, knee, pareto_front, scatter_chart

__all__ = [
    "Frame",
    "LatencyChart",
    "LineChart",
    "Mark",
    "Scale",
    "ScatterChart",
    "Tick",
    "knee",
    "latency_chart",
    "pareto_front",
    "pr_chart",
    "scatter_chart",
]
