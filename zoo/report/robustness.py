"""The report's robustness section (``zoo run --corruptions``), as plain data: the models sorted by mPC, a
corruption × severity heat map per model, and the metric against severity per corruption group, the models side
by side. ``templates/robustness.html`` renders it."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.data.corrupt import GROUPS
from zoo.metrics.robustness import Robustness
from zoo.report import fmt
from zoo.report.charts import Frame, LineChart, Mark, Scale
from zoo.report.charts.lines import DASHES, Line
from zoo.report.runs import Series


@dataclass
class Row:
    series: Series
    cells: list[tuple[str, str]]  # (text, sort value): P, mPC, rPC, clean IoU, IoU mPC, IoU rPC


@dataclass
class HeatCell:
    text: str
    alpha: float | None  # None: not measured
    title: str


@dataclass
class HeatMap:
    series: Series
    metric: str  # "AP" or "mean IoU"
    severities: list[int]
    clean: str
    rows: list[tuple[str, list[HeatCell]]]  # corruption -> a cell per severity


@dataclass
class Section:
    headers: list[str]
    rows: list[Row]
    heatmaps: list[HeatMap]
    charts: list[LineChart]
    without: list[tuple[Series, str]]  # models of the run with no robustness figures, and why
    setting: str  # corruptions, severities, seed, library


HEADERS = ["P (clean AP)", "mPC", "rPC", "clean IoU", "IoU mPC", "IoU rPC"]


def section(series: list[Series]) -> Section | None:
    """The section, or None when no model of the report was scored under corruptions."""
    measured = [s for s in series if s.result.robustness is not None]
    if not measured:
        return None
    measured.sort(key=_rank)
    rows = [Row(s, [_cell(v) for v in _figures(s.result.robustness)]) for s in measured]
    without = [(s, _why_not(s)) for s in series if s.result.robustness is None]
    first = measured[0].result.robustness
    library = first.library or {}
    setting = (
        f"{len(first.corruptions)} corruption(s) × severities {', '.join(map(str, first.severities))}, seed "
        f"{first.seed}; images corrupted by {library.get('package')} {library.get('version')} "
        f"({library.get('licence')})"
    )
    return Section(HEADERS, rows, [_heatmap(s) for s in measured], _charts(measured), without, setting)


def _why_not(s: Series) -> str:
    missing = s.result.missing
    return missing.get("robustness") or missing.get("accuracy") or s.reason or "not scored under corruptions"


def _figures(value: Robustness) -> list[float | None]:
    return [value.map_clean, value.mpc, value.rpc, value.iou_clean, value.iou_mpc, value.iou_rpc]


def _cell(value: float | None) -> tuple[str, str]:
    return (fmt.score(value), "" if fmt.is_missing(value) else repr(float(value)))


def _rank(s: Series) -> tuple:
    """Best mPC first; models without one by their IoU mPC, after."""
    value = s.result.robustness
    return (value.mpc is None, -(value.mpc or 0.0), value.iou_mpc is None, -(value.iou_mpc or 0.0), s.label)


def _metric(value: Robustness) -> tuple[str, str, float | None]:
    """The metric a model is charted by: AP where it has one, else mean IoU (a localization-only model)."""
    if value.map_clean is not None:
        return "map", "AP", value.map_clean
    return "mean_iou", "mean IoU", value.iou_clean


def _heatmap(s: Series) -> HeatMap:
    value = s.result.robustness
    key, label, clean = _metric(value)
    rows = []
    for name in value.corruptions:
        cells = []
        for severity in value.severities:
            score = value.scores.get(name, {}).get(str(severity))
            number = getattr(score, key) if score else None
            if number is None:
                cells.append(HeatCell(fmt.DASH, None, s.result.missing.get("robustness", "not measured")))
            else:
                share = f"; {number / clean:.0%} of clean" if clean else ""
                cells.append(
                    HeatCell(fmt.score(number), round(float(number), 3), f"{name}, severity {severity}{share}")
                )
        rows.append((name, cells))
    return HeatMap(s, label, list(value.severities), fmt.score(clean), rows)


def _charts(measured: list[Series]) -> list[LineChart]:
    """Per corruption group: the metric (clean at severity 0, then the group's mean at each severity) per model."""
    built = []
    for group, names in GROUPS.items():
        lines: list[tuple[Mark, int, list[tuple[int, float]], str]] = []
        metrics = set()
        for s in measured:
            value = s.result.robustness
            key, label, clean = _metric(value)
            chosen = [n for n in names if n in value.corruptions]
            if not chosen or clean is None:
                continue
            metrics.add(label)
            points = [(0, clean)]
            for severity in value.severities:
                numbers = [getattr(value.scores.get(n, {}).get(str(severity)), key, None) for n in chosen]
                if all(n is not None for n in numbers):
                    points.append((severity, sum(numbers) / len(numbers)))
            lines.append((s.mark, s.run.index, points, f"{s.label}: {label} on {', '.join(chosen)}"))
        if lines:
            built.append(_chart(group, " / ".join(sorted(metrics)), lines))
    return built


def _chart(group: str, metric: str, items: list[tuple[Mark, int, list[tuple[int, float]], str]]) -> LineChart:
    width, height = 300, 220
    left, right, top, bottom = 44.0, width - 12.0, 12.0, height - 40.0
    x, y = Scale(0, 5, left, right), Scale(0, 1, bottom, top)
    lines = []
    for mark, run_index, points, title in items:
        path = "".join(f"{'L' if i else 'M'}{x(sev)},{y(val)}" for i, (sev, val) in enumerate(points))
        lines.append(Line(mark, path, title, DASHES[run_index % len(DASHES)]))
    x_ticks = x.ticks(lambda v: "clean" if v == 0 else f"{v:g}")
    frame = Frame(width, height, left, top, right, bottom, x_ticks, y.ticks(lambda v: f"{v:.1f}"), "severity", metric)
    return LineChart(f"robustness-{group}", group, frame, lines)
