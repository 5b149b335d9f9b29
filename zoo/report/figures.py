"""The charts' data (accuracy against latency, latency distributions, precision-recall curves; `charts` draws
them) and the per-class AP table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zoo.report import charts, fmt
from zoo.report.columns import DETECTION_COLUMNS, LOCALIZATION_COLUMNS
from zoo.report.gallery import ground_truth
from zoo.report.leaderboards import primary_metric, value_of, why
from zoo.report.runs import OK, RunSource, Series
from zoo.runtimes import view as runtime_view


@dataclass
class ClassCell:
    text: str
    sort: str
    alpha: float | None
    why: str = ""


@dataclass
class PerClass:
    classes: list[str]
    counts: list[tuple[str, str]]  # ground-truth boxes of each class: (text, sort value)
    series: list[Series]
    rows: list[list[ClassCell]]
    without: list[tuple[Series, str]]


def tradeoff(series: list[Series]) -> tuple[list[charts.ScatterChart], str]:
    """Accuracy against median latency, by AP and by IoU (the primary metric first), and the note under them."""
    built = []
    for key, metric in (("map", "AP"), ("mean_iou", "IoU")):
        column = next(c for c in (*DETECTION_COLUMNS, *LOCALIZATION_COLUMNS) if c.key == key)
        items = []
        for s in series:
            accuracy = value_of(s, key) if s.status == OK else None
            reason = why(s, column) if accuracy is None else ""
            items.append((s.mark, value_of(s, "latency_ms_p50"), value_of(s, "latency_ms_p95"), accuracy, reason))
        chart = charts.scatter_chart(f"tradeoff-{key}", metric, items)
        if chart is not None:
            chart.links = runtime_view.links(chart, series)
            built.append(chart)
    primary = primary_metric(series)[1]
    built.sort(key=lambda c: c.metric != primary)
    note = (
        "Up and to the left is better. The line joins the Pareto front: the models no other model beats on both "
        "accuracy and median latency. Whiskers reach the 95th percentile latency."
    )
    if any(chart.links for chart in built):
        note += " A dotted line joins one model's rows under each runtime (zoo run --runtimes)."
    return built, note


def latency(series: list[Series]) -> charts.LatencyChart | None:
    items = []
    for s in series:
        speed = s.result.speed
        note = "untrained copy" if s.untrained else ""
        items.append((s.mark, note, speed.latency_samples_ms or {}, speed.latency_ms or {}))
    return charts.latency_chart(items)


def pr(series: list[Series]) -> tuple[list[charts.LineChart], list[tuple[Series, str]]]:
    """Precision-recall curves at three IoU thresholds, and the series without a curve (with why)."""
    variants = (
        ("precision_50", "IoU 0.50"),
        ("precision_75", "IoU 0.75"),
        ("precision", "IoU 0.50:0.95"),
    )
    built, without = [], []
    curves = []
    for s in series:
        curve = s.result.accuracy.coco.pr_curve if s.result.accuracy.coco else None
        if curve and curve.get("recall"):
            curves.append((s, curve))
        else:
            without.append((s, why(s, DETECTION_COLUMNS[0])))
    for key, title in variants:
        items = [
            (
                s.mark,
                s.run.index,
                curve["recall"],
                curve.get(key) or [],
                f"{s.label}: AP {fmt.score(value_of(s, 'map'))}",
            )
            for s, curve in curves
        ]
        chart = charts.pr_chart(f"pr-{key}", title, items)
        if chart is not None:
            built.append(chart)
    return built, without


def per_class_table(series: list[Series], sources: Sequence[RunSource]) -> PerClass | None:
    """AP per class for each series that has one; None when none has."""
    classes: list[str] = []
    for source in sources:
        for name in (source.results.context.get("dataset") or {}).get("categories") or []:
            if str(name) not in classes:
                classes.append(str(name))
    with_ap, without = [], []
    for s in series:
        per_class = s.result.accuracy.coco.per_class if s.result.accuracy.coco else None
        if per_class:
            with_ap.append((s, per_class))
            classes += [str(name) for name in per_class if str(name) not in classes]
        else:
            without.append((s, why(s, DETECTION_COLUMNS[0])))
    if not with_ap:
        return None
    counts = _class_counts(sources)
    rows = []
    for name in classes:
        cells = []
        for _, per_class in with_ap:
            value = per_class.get(name)
            if fmt.is_missing(value):
                reason = "no ground truth of this class" if name in per_class else "not a class of this run's dataset"
                cells.append(ClassCell(fmt.DASH, "", None, reason))
            else:
                cells.append(ClassCell(fmt.score(value), repr(float(value)), round(float(value), 3)))
        rows.append(cells)
    return PerClass(
        classes=classes,
        counts=[(fmt.whole(counts.get(name)), str(counts.get(name, ""))) for name in classes],
        series=[s for s, _ in with_ap],
        rows=rows,
        without=without,
    )


def _class_counts(sources: Sequence[RunSource]) -> dict[str, int]:
    for source in sources:
        truth = ground_truth(source.directory)
        if truth:
            names = {c["id"]: str(c["name"]) for c in truth.get("categories", [])}
            counts: dict[str, int] = {}
            for annotation in truth.get("annotations", []):
                if not annotation.get("iscrowd"):
                    name = names.get(annotation.get("category_id"), "?")
                    counts[name] = counts.get(name, 0) + 1
            return counts
    return {}
