"""The leaderboards: the headline cards and the three tables (localization, detection, speed), their columns, and
why a cell is empty."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zoo.report import charts, fmt
from zoo.report.runs import FAILED, NO_WEIGHTS, OK, Series


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    help: str
    format: str = "score"
    better: str | None = "high"  # "high", "low", or None: which value is best (it is highlighted)
    bar: bool = False  # a bar under the value (0..1 values)
    missing: tuple[str, ...] = ()  # keys of the result's "missing" record that explain an empty cell
    absent: str = "not measured"  # the explanation when none of them does
    note: str | None = None  # the leaderboard row's key of a note shown over the value; the value is flagged when
    # the note says so ("gap over ...")
    annotate: Callable[[Series], tuple[str, bool]] | None = None  # or: the note over the value, and whether to flag
    mark: Callable[[Series], str] | None = None  # a marker after the value ("*"), which the table's intro explains


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


ACCURACY = ("accuracy",)
LOCALIZATION_COLUMNS = [
    Column(
        "mean_iou",
        "mean IoU",
        "class-agnostic: each ground-truth box scores the IoU of its one-to-one match (0 when unmatched)",
        bar=True,
        missing=("localization", *ACCURACY),
    ),
    Column(
        "localized_50",
        "found ≥ .5",
        "share of ground-truth boxes matched at IoU ≥ 0.5",
        "percent",
        bar=True,
        missing=("localization", *ACCURACY),
    ),
    Column(
        "localized_75",
        "found ≥ .75",
        "share of ground-truth boxes matched at IoU ≥ 0.75",
        "percent",
        bar=True,
        missing=("localization", *ACCURACY),
    ),
    Column(
        "mean_iou_class_aware",
        "IoU, same class",
        "mean IoU when a box may only match a prediction of its own class",
        bar=True,
        missing=("localization_class_aware", *ACCURACY),
    ),
    Column(
        "map_agnostic",
        "AP, any class",
        "COCO AP@[.5:.95] with every box one class: how well boxes land, whatever their label",
        bar=True,
        missing=ACCURACY,
    ),
]
DETECTION_COLUMNS = [
    Column("map", "AP", "COCO AP@[.5:.95], confidence 0, 100 detections", bar=True, missing=("coco", *ACCURACY)),
    Column("map50", "AP50", "COCO AP at IoU 0.5", bar=True, missing=("coco", *ACCURACY)),
    Column("map75", "AP75", "COCO AP at IoU 0.75", bar=True, missing=("coco", *ACCURACY)),
    Column(
        "map_small",
        "AP small",
        "AP on boxes under 32² pixels",
        missing=("coco", *ACCURACY),
        absent="no small ground-truth box",
    ),
    Column(
        "map_medium",
        "AP medium",
        "AP on boxes of 32² to 96² pixels",
        missing=("coco", *ACCURACY),
        absent="no medium ground-truth box",
    ),
    Column(
        "map_large",
        "AP large",
        "AP on boxes over 96² pixels",
        missing=("coco", *ACCURACY),
        absent="no large ground-truth box",
    ),
    Column("ar100", "AR100", "COCO average recall with 100 detections per image", missing=("coco", *ACCURACY)),
    Column(
        "published_map",
        "published AP",
        "the box AP the authors publish for these weights, on the benchmark named in the model's details",
        better=None,
        absent="no published AP for these weights",
    ),
    Column(
        "ap_gap",
        "gap",
        "measured AP minus published AP, on the benchmark the number is published for; flagged over 1 AP point "
        "(hover for the likely causes)",
        "points",
        better=None,
        absent="no published AP on this benchmark (run --data coco-val2017 for COCO numbers)",
        note="reproduction",
    ),
]


def interval_note(series: Series) -> tuple[str, bool]:
    """The 95% interval of the median latency in milliseconds, shown over its half-width; flagged, with the reason,
    when it stayed wider than the run's --speed-precision."""
    speed = series.result.get("speed") or {}
    interval, halfwidth, calls = speed.get("median_ci_ms"), speed.get("ci_halfwidth"), speed.get("timed_calls")
    if not interval or fmt.is_missing(halfwidth):
        return "", False
    span = f"{fmt.ms(interval[0])}–{fmt.ms(interval[1])} ms"
    if speed.get("precise", True):
        return f"95% interval of the median: {span}, from {calls} timed calls", False
    why = {
        "budget": f"the budget ran out after {calls} calls",
        "iters": f"the --iters cap was reached after {calls} calls",
    }.get(speed.get("latency_stop"), f"after {calls} calls")
    return f"the 95% interval of the median stayed {plus_minus(halfwidth)}: {why} ({span})", True


def _setting(series: Series) -> dict:
    return (series.result.get("speed") or {}).get("setting") or {}


def setting_note(series: Series) -> str:
    """Why a model was timed at the accuracy setting although the run asked for a threshold; "" otherwise."""
    setting = _setting(series)
    if setting.get("applied", True):
        return ""
    return f"timed at the accuracy setting, not at --speed-conf {setting['conf']:g}: {setting.get('why', '')}"


def speed_intro(series: list[Series]) -> str:
    """The Speed table's intro: which score threshold its numbers are for, and what a * marks."""
    intro = "Per image at batch 1, after warm-up calls; the median split into preprocess, inference and postprocess."
    confs = sorted({float(_setting(s)["conf"]) for s in series if _setting(s)})
    if not confs:
        return intro
    if confs == [0.0]:
        return f"{intro} At the accuracy setting (--speed-conf 0: confidence 0, or each library's lowest)."
    asked = " or ".join(f"{c:g}" for c in confs)
    text = f"{intro} At confidence {asked} (--speed-conf), each library's own threshold, after the accuracy pass"
    if any(setting_note(s) for s in series):
        text += "; rows marked * are timed at the accuracy setting: their model has no threshold to set"
    return f"{text}."


def plus_minus(share: float) -> str:
    """A half-width as a share of the median, in percent: ±2.4%, ±12%."""
    if fmt.is_missing(share):
        return fmt.DASH
    percent = 100 * float(share)
    return f"±{percent:.1f}%" if percent < 9.95 else f"±{percent:.0f}%"


def percent_of_peak(share: float) -> str:
    """A share of the device's peak in percent, to three significant digits: a detector at 0.2% is not at 0%."""
    return fmt.DASH if fmt.is_missing(share) else f"{fmt.significant(100 * float(share))}%"


FORMATS = {**fmt.FORMATS, "plusminus": plus_minus, "peak": percent_of_peak}
SPEED_COLUMNS = [
    Column(
        "latency_ms_p50",
        "p50 ms",
        "median latency per image, batch 1, at the speed setting (--speed-conf); * timed at the accuracy setting",
        "ms",
        better="low",
        missing=("speed",),
        annotate=lambda series: (setting_note(series), False),
        mark=lambda series: "" if setting_note(series) == "" else " *",
    ),
    Column(
        "latency_ci_halfwidth",
        "p50 ±",
        "half-width of the 95% confidence interval of the median latency, as a share of it (hover for the "
        "interval); flagged when it stayed wider than --speed-precision",
        "plusminus",
        better=None,
        missing=("speed",),
        absent="no interval recorded (a run from before zoo measured one)",
        annotate=interval_note,
    ),
    Column("latency_ms_p95", "p95 ms", "95th percentile latency per image", "ms", better="low", missing=("speed",)),
    Column("preprocess_ms_p50", "pre ms", "median preprocess time", "ms", better=None, missing=("speed",)),
    Column("inference_ms_p50", "infer ms", "median inference (forward) time", "ms", better=None, missing=("speed",)),
    Column("postprocess_ms_p50", "post ms", "median postprocess time", "ms", better=None, missing=("speed",)),
    Column("images_per_s", "img/s", "throughput at batch 1", "sig", better="high", missing=("speed",)),
    Column(
        "images_per_s_batch",
        "img/s batched",
        "throughput at the run's --batch size",
        "sig",
        better="high",
        missing=("speed",),
        absent="no batched calls timed",
    ),
    Column(
        "load_s",
        "load s",
        "cold start, part 1: loading the weights onto the device",
        "sig",
        better="low",
        absent="not loaded",
    ),
    Column(
        "first_call_ms",
        "1st call ms",
        "cold start, part 2: the first call after loading (lazy initialisation the timed calls no longer pay)",
        "ms",
        better="low",
        absent="no call made",
    ),
    Column("params_m", "params M", "parameters, millions", "one", better=None, absent="the plugin reports no count"),
    Column("gflops", "GFLOPs", "one forward pass on the first image", "one", better=None, missing=("gflops",)),
    Column(
        "gflops_per_s",
        "GFLOP/s",
        "arithmetic rate achieved: the GFLOPs of one forward pass over the median inference time; an estimate when "
        "image sizes vary (the GFLOPs are the first image's, or the plugin's own figure for its input size)",
        "sig",
        better=None,
        missing=("speed", "gflops"),
    ),
    Column(
        "peak_share",
        "% of peak",
        "GFLOP/s as a share of the device's peak, measured once per run as float32 2048² matrix products with the "
        "run's threads (peak_gflops in the run context); a detector far below it is bound by memory, Python or "
        "postprocessing, not by arithmetic",
        "peak",
        better=None,
        missing=("speed", "gflops"),
        absent="the run measured no peak (a run from before zoo measured one)",
    ),
    Column(
        "memory_mb",
        "memory MB",
        "peak device memory (CUDA) or growth of the process's memory",
        "whole",
        better=None,
        absent="not measured",
    ),
]


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
        return f"failed: {result.get('reason') or 'no reason recorded'}"
    missing = result.get("missing") or {}
    for key in column.missing:
        if missing.get(key):
            return str(missing[key])
    if series.status == NO_WEIGHTS and column.missing and column.missing[-1] == "accuracy":
        return f"no weights: {result.get('reason') or ''}".strip()
    return column.absent
