"""The leaderboards: the headline cards and the three tables (localization, detection, speed) built from the
columns of `zoo.report.columns`, and why a cell is empty."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zoo.report import charts, fmt
from zoo.report.columns import (
    DETECTION_COLUMNS,
    FORMATS,
    LOCALIZATION_COLUMNS,
    SPEED_COLUMNS,
    Column,
    hardware_note,
    setting_note,
    speed_setting_of,
)
from zoo.report.runs import FAILED, NO_WEIGHTS, OK, Series


@dataclass
class Cell:
    text: str
    sort: str  # the value the page sorts on; "" when missing (always sorted last)
    why: str = ""  # the reason a value is missing
    best: bool = False
    bar: float | None = None  # percent
    note: str = ""  # shown over the value
    flag: bool = False  # the value needs a look (a reproduction gap over 1 AP point)


@dataclass
class TableRow:
    series: Series
    cells: list[Cell]


@dataclass
class Table:
    key: str
    title: str
    intro: str
    columns: list[Column]
    rows: list[TableRow]
    sort_column: int  # index into columns of the default order
    sort_descending: bool


@dataclass
class Card:
    title: str
    series: Series | None
    value: str
    detail: str
    why: str = ""


def speed_intro(series: list[Series]) -> str:
    """The Speed table's intro: which score threshold its numbers are for, and what a * and a † mark."""
    return _setting_intro(series) + _elsewhere(series)


def _setting_intro(series: list[Series]) -> str:
    intro = "Per image at batch 1, after warm-up calls; the median split into preprocess, inference and postprocess."
    confs = sorted({float(speed_setting_of(s)["conf"]) for s in series if speed_setting_of(s)})
    if not confs:
        return intro
    if confs == [0.0]:
        return f"{intro} At the accuracy setting (--speed-conf 0: confidence 0, or each library's lowest)."
    asked = " or ".join(f"{c:g}" for c in confs)
    text = f"{intro} At confidence {asked} (--speed-conf), each library's own threshold, after the accuracy pass"
    if any(setting_note(s) for s in series):
        text += "; rows marked * are timed at the accuracy setting: their model has no threshold to set"
    return f"{text}."


def _elsewhere(series: list[Series]) -> str:
    """A sentence on the rows timed on other hardware than the rest of their run, where there are any."""
    if not any(hardware_note(s) for s in series):
        return ""
    return " Rows marked † were timed on other hardware than the rest of their run: compare their speed with care."


def value_of(series: Series, key: str) -> float | None:
    """The series' leaderboard value under ``key``; None when it was not measured."""
    value = series.row.get(key)
    return None if fmt.is_missing(value) else float(value)


def headline(series: list[Series]) -> list[Card]:
    """The cards above the tables: the best localization and detection, the fastest, the best trade-off."""
    scored = [s for s in series if s.status == OK]

    def best(key: str, low: bool = False) -> Series | None:
        candidates = [s for s in scored if value_of(s, key) is not None]
        if not candidates:
            return None
        return min(candidates, key=lambda s: (value_of(s, key) if low else -value_of(s, key), series.index(s)))

    cards = [
        _card(
            "Best localization",
            best("mean_iou"),
            lambda s: f"IoU {fmt.score(value_of(s, 'mean_iou'))}",
            lambda s: f"{fmt.percent(value_of(s, 'localized_50'))} of boxes found at IoU ≥ 0.5",
            "no model produced predictions to score",
        ),
        _card(
            "Best detection",
            best("map"),
            lambda s: f"AP {fmt.score(value_of(s, 'map'))}",
            lambda s: f"AP50 {fmt.score(value_of(s, 'map50'))} · AP75 {fmt.score(value_of(s, 'map75'))}",
            "no model has a COCO AP: none predicts the dataset's classes",
        ),
        _card(
            "Fastest",
            best("latency_ms_p50", low=True),
            lambda s: f"{fmt.ms(value_of(s, 'latency_ms_p50'))} ms",
            lambda s: f"median per image · {fmt.significant(value_of(s, 'images_per_s'))} img/s",
            "no model with results was timed",
        ),
    ]
    metric_key, metric = primary_metric(series)
    points = [(s, value_of(s, "latency_ms_p50"), value_of(s, metric_key)) for s in scored]
    points = [(s, lat, acc) for s, lat, acc in points if lat is not None and acc is not None and lat > 0]
    front = charts.pareto_front([(lat, acc) for _, lat, acc in points])
    chosen = charts.knee([(lat, acc) for _, lat, acc in points], front)
    if chosen is None:
        cards.append(Card("Best trade-off", None, fmt.DASH, "", "no model has both an accuracy and a latency"))
    else:
        s, lat, acc = points[chosen]
        if len(front) == 1:
            detail = f"more accurate and faster than every other model with an {metric}"
        else:
            detail = f"of the {len(front)} models on the {metric}–latency Pareto front, the nearest its ideal corner"
        cards.append(Card("Best trade-off", s, f"{metric} {fmt.score(acc)} · {fmt.ms(lat)} ms", detail))
    return cards


def _card(
    title: str, top: Series | None, value: Callable[[Series], str], detail: Callable[[Series], str], none: str
) -> Card:
    """The card of the best series, or one saying why there is none."""
    if top is None:
        return Card(title, None, fmt.DASH, "", none)
    return Card(title, top, value(top), detail(top))


def primary_metric(series: list[Series]) -> tuple[str, str]:
    """COCO AP when at least two models have one (a ranking needs two), else the mean IoU."""
    with_ap = [s for s in series if s.status == OK and value_of(s, "map") is not None]
    return ("map", "AP") if len(with_ap) >= 2 else ("mean_iou", "IoU")


def tables(series: list[Series]) -> list[Table]:
    return [
        _table(
            "localization",
            "Localization",
            "How well boxes land, whatever their class: each ground-truth box is matched one-to-one to a confident "
            "prediction.",
            LOCALIZATION_COLUMNS,
            series,
            0,
        ),
        _table(
            "detection",
            "Detection (COCO AP)",
            "Boxes and classes, scored by COCO's AP on all predictions (confidence 0).",
            DETECTION_COLUMNS,
            series,
            0,
        ),
        _table(
            "speed",
            "Speed",
            speed_intro(series),
            SPEED_COLUMNS,
            series,
            0,
        ),
    ]


def _table(key: str, title: str, intro: str, columns: list[Column], series: list[Series], sort_column: int) -> Table:
    rows = []
    for s in series:
        cells = []
        for column in columns:
            # a failed run's partial numbers (memory up to the failure, ...) are not results: its reason is
            value = None if s.status == FAILED else value_of(s, column.key)
            if value is None:
                cells.append(Cell(fmt.DASH, "", why(s, column)))
                continue
            bar = max(0.0, min(100.0, value * 100)) if column.bar else None
            note = str(s.row.get(column.note) or "") if column.note else ""
            flag = note.startswith("gap over")
            if column.annotate is not None:
                note, flag = column.annotate(s)
            text = FORMATS[column.format](value) + (column.mark(s) if column.mark is not None else "")
            cell = Cell(text, repr(value), bar=bar, note=note, flag=flag)
            cells.append(cell)
        rows.append(TableRow(s, cells))
    for n, column in enumerate(columns):
        values = [value_of(r.series, column.key) for r in rows]
        present = [v for v, r in zip(values, rows) if v is not None and r.series.status == OK]
        if column.better and len(present) > 1:
            target = max(present) if column.better == "high" else min(present)
            for value, r in zip(values, rows):
                r.cells[n].best = value == target and r.series.status == OK
    descending = columns[sort_column].better != "low"
    sort_col = columns[sort_column]

    def order(r: TableRow) -> tuple:
        value = None if r.series.status == FAILED else value_of(r.series, sort_col.key)
        return (value is None, -value if value is not None and descending else (value or 0.0), series.index(r.series))

    rows.sort(key=order)
    return Table(key, title, intro, columns, rows, sort_column, descending)


def why(series: Series, column: Column) -> str:
    """Why the series has no value in ``column``."""
    result = series.result
    if series.status == FAILED:
        return f"failed: {result.reason or 'no reason recorded'}"
    missing = result.missing
    for key in column.missing:
        if missing.get(key):
            return str(missing[key])
    if series.status == NO_WEIGHTS and column.missing and column.missing[-1] == "accuracy":
        return f"no weights: {result.reason}".strip()
    return column.absent
