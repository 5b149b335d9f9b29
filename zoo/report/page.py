"""What the report shows, as plain data: the page is built here from ``results.json`` (and the files beside it),
then rendered by the templates. Nothing in this module writes markup or escapes text; the templates do both.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.leaderboard import row as leaderboard_row
from zoo.leaderboard import sort_key
from zoo.report import charts, fmt
from zoo.report.gallery import GALLERY_CAP, GALLERY_DIR, confident_predictions, inside, worst_first

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#b07aa1",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#7f7f7f",
)
SHAPES = ("circle", "square", "diamond", "triangle")
ASSETS_DIR = "report-assets"
OK, NO_WEIGHTS, FAILED = "ok", "no-weights", "failed"


@dataclass(frozen=True)
class RunSource:
    """One run to report: its ``results.json`` and the folder it came from (None: only the results are known)."""

    results: dict[str, Any]
    directory: Path | None = None


# ---------------------------------------------------------------------------------------------------- the parts


@dataclass
class Run:
    index: int
    label: str
    shape: str
    context: dict[str, Any]
    directory: Path | None
    local: bool  # the run folder is the report's folder: its files can be linked
    summary: str
    counts: dict[str, int]
    finished: bool


@dataclass
class Series:
    """One model in one run: a row of every table and a mark on every chart, in one colour throughout."""

    key: str
    run: Run
    model: str
    label: str
    color: str
    status: str
    reason: str
    untrained: bool
    row: dict[str, Any]
    result: dict[str, Any]

    @property
    def mark(self) -> charts.Mark:
        return charts.Mark(self.key, self.label, self.color, self.run.shape)

    @property
    def family(self) -> str:
        return str(self.result.get("family") or "")


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


@dataclass
class Cell:
    text: str
    sort: str  # the value the page sorts on; "" when missing (always sorted last)
    why: str = ""  # the reason a value is missing
    best: bool = False
    bar: float | None = None  # percent


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


@dataclass
class Notice:
    level: str  # "warn", "info"
    text: str


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


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float
    title: str


@dataclass
class Tile:
    series: Series
    iou: str
    level: str  # good, fair, poor, none
    boxes: list[Box]


@dataclass
class GalleryImage:
    image_id: int
    file_name: str
    src: str | None
    width: float
    height: float
    truth: list[Box]
    tiles: list[Tile]
    mean_iou: str
    sort: dict[str, str]


@dataclass
class Gallery:
    title: str
    note: str
    conf: str
    images: list[GalleryImage]
    series: list[Series]
    without: list[tuple[Series, str]]
    tile_px: int  # tiles are larger when there are few models
    first: int = 6  # images shown before "show all"


@dataclass
class Fact:
    label: str
    value: str
    href: str | None = None


@dataclass
class Detail:
    series: Series
    facts: list[Fact]
    traceback: str


@dataclass
class ContextRow:
    key: str
    values: list[str]
    differs: bool


@dataclass
class ContextGroup:
    title: str
    rows: list[ContextRow]


@dataclass
class Entry:
    """A catalogue entry as the run recorded it."""

    run: str
    id: str
    plugin: str
    model: str
    weights: str
    options: str
    notes: str


@dataclass
class Page:
    title: str
    subtitle: str
    runs: list[Run]
    series: list[Series]
    notices: list[Notice]
    cards: list[Card]
    tables: list[Table]
    tradeoff: list[charts.ScatterChart]
    tradeoff_note: str
    latency: charts.LatencyChart | None
    per_class: PerClass | None
    pr: list[charts.LineChart]
    pr_without: list[tuple[Series, str]]
    galleries: list[Gallery]
    details: list[Detail]
    context: list[ContextGroup]
    entries: list[Entry] = field(default_factory=list)
    files: list[Fact] = field(default_factory=list)

    @property
    def multi(self) -> bool:
        return len(self.runs) > 1


# ---------------------------------------------------------------------------------------------------- columns

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
        "the COCO val2017 AP the authors publish for these weights (another dataset: for reference only)",
        better=None,
        absent="no published AP for these weights",
    ),
]
SPEED_COLUMNS = [
    Column("latency_ms_p50", "p50 ms", "median latency per image, batch 1", "ms", better="low", missing=("speed",)),
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
    Column("params_m", "params M", "parameters, millions", "one", better=None, absent="the plugin reports no count"),
    Column("gflops", "GFLOPs", "one forward pass on the first image", "one", better=None, missing=("gflops",)),
    Column(
        "memory_mb",
        "memory MB",
        "peak device memory (CUDA) or growth of the process's memory",
        "whole",
        better=None,
        absent="not measured",
    ),
]


# ---------------------------------------------------------------------------------------------------- building


def build_page(sources: Sequence[RunSource], out_dir: Path | None = None) -> Page:
    """Everything the page shows. ``out_dir`` is where the page will live: thumbnails of runs kept elsewhere are
    copied under it (``report-assets/``) so the folder holds all it links to."""
    runs = _runs(sources, out_dir)
    series = _series(runs, sources)
    notices = _notices(runs, series)
    tradeoff, tradeoff_note = _tradeoff(series)
    pr, pr_without = _pr(series)
    return Page(
        title="zoo report",
        subtitle=_subtitle(runs, series),
        runs=runs,
        series=series,
        notices=notices,
        cards=_cards(series),
        tables=_tables(series),
        tradeoff=tradeoff,
        tradeoff_note=tradeoff_note,
        latency=_latency(series),
        per_class=_per_class(series, sources),
        pr=pr,
        pr_without=pr_without,
        galleries=_galleries(runs, series, out_dir),
        details=_details(series),
        context=_context(runs),
        entries=_entries(runs, sources),
        files=_files(runs),
    )


def _runs(sources: Sequence[RunSource], out_dir: Path | None) -> list[Run]:
    labels = run_labels([s.directory for s in sources])
    runs = []
    for index, (source, label) in enumerate(zip(sources, labels)):
        context = source.results.get("context") or {}
        models = source.results.get("models") or []
        counts = {status: sum(1 for m in models if m.get("status") == status) for status in (OK, NO_WEIGHTS, FAILED)}
        local = (
            source.directory is not None
            and out_dir is not None
            and source.directory.resolve() == Path(out_dir).resolve()
        )
        runs.append(
            Run(
                index=index,
                label=label,
                shape=SHAPES[index % len(SHAPES)],
                context=context,
                directory=source.directory,
                local=local,
                summary=_run_summary(context),
                counts=counts,
                finished="finished" in context,
            )
        )
    return runs


def run_labels(directories: Sequence[Path | None]) -> list[str]:
    """A short, distinct name per run: its folder's name, with its parent's where two are alike, then a number."""
    paths = [d.resolve() if d is not None else None for d in directories]
    names = [p.name if p is not None else f"run {n + 1}" for n, p in enumerate(paths)]
    labels = [
        f"{p.parent.name}/{name}" if p is not None and names.count(name) > 1 else name for p, name in zip(paths, names)
    ]
    return [f"{label} ({n + 1})" if labels.count(label) > 1 else label for n, label in enumerate(labels)]


def _run_summary(context: dict[str, Any]) -> str:
    dataset, hardware = context.get("dataset") or {}, context.get("hardware") or {}
    parts = []
    if dataset:
        parts.append(
            f"{dataset.get('name', '?')} · {dataset.get('images', '?')} images · {dataset.get('boxes', '?')} boxes"
        )
    machine = [str(hardware[k]) for k in ("device", "gpu", "cpu") if hardware.get(k)]
    if hardware.get("torch_threads"):
        machine.append(f"{hardware['torch_threads']} threads")
    if machine:
        parts.append(" · ".join(machine))
    if context.get("started"):
        parts.append(str(context["started"]).replace("T", " ").replace("+00:00", " UTC"))
    return " — ".join(parts)


def _subtitle(runs: list[Run], series: list[Series]) -> str:
    if len(runs) == 1:
        return runs[0].summary
    return f"{len(runs)} runs, {len(series)} results"


def _series(runs: list[Run], sources: Sequence[RunSource]) -> list[Series]:
    entries = []
    for run, source in zip(runs, sources):
        for result in source.results.get("models") or []:
            if isinstance(result, dict) and "id" in result:
                entries.append((run, result, leaderboard_row(result)))
    best: dict[str, tuple] = {}
    for run, _, row in entries:
        key = (sort_key(row), run.index)
        if row["model"] not in best or key < best[row["model"]]:
            best[row["model"]] = key
    entries.sort(key=lambda e: (best[e[2]["model"]], e[0].index))
    colors: dict[str, str] = {}
    multi = len(runs) > 1
    series = []
    for n, (run, result, row) in enumerate(entries):
        model = str(result["id"])
        colors.setdefault(model, PALETTE[len(colors) % len(PALETTE)])
        series.append(
            Series(
                key=f"s{n}",
                run=run,
                model=model,
                label=f"{model} · {run.label}" if multi else model,
                color=colors[model],
                status=str(result.get("status") or "?"),
                reason=_reason(result),
                untrained=bool(result.get("untrained")),
                row=row,
                result=result,
            )
        )
    return series


def _reason(result: dict[str, Any]) -> str:
    """Why this row lacks numbers, in one line: the failure or the missing weights, then the notes."""
    parts = [str(text) for text in (result.get("reason"), result.get("notes")) if text]
    return " — ".join(parts)


def _notices(runs: list[Run], series: list[Series]) -> list[Notice]:
    notices = []
    for run in runs:
        prefix = f"{run.label}: " if len(runs) > 1 else ""
        if not run.finished:
            notices.append(
                Notice(
                    "warn", f"{prefix}the run has not finished (or was interrupted); the models that finished are shown"
                )
            )
        for line in run.context.get("plugin_problems") or []:
            notices.append(Notice("warn", f"{prefix}plugin problem: {line}"))
        for line in (run.context.get("dataset") or {}).get("warnings") or []:
            notices.append(Notice("info", f"{prefix}dataset: {line}"))
    fingerprints = {(r.context.get("dataset") or {}).get("fingerprint") for r in runs}
    if len(fingerprints) > 1:
        notices.append(
            Notice(
                "warn",
                "these runs scored different data (dataset fingerprints differ): compare their accuracy with care",
            )
        )
    if len(runs) > 1:
        differing = []
        for group in ("settings", "hardware", "versions"):
            tables = [r.context.get(group) or {} for r in runs]
            keys = sorted({k for t in tables for k in t if k != "models"})
            differing += [f"{group}.{k}" for k in keys if any(t.get(k) != tables[0].get(k) for t in tables)]
        if differing:
            notices.append(Notice("info", "the runs differ in " + ", ".join(differing) + " (see the run context)"))
    return notices


# ---------------------------------------------------------------------------------------------------- headline


def _value(series: Series, key: str) -> float | None:
    value = series.row.get(key)
    return None if fmt.is_missing(value) else float(value)


def _cards(series: list[Series]) -> list[Card]:
    scored = [s for s in series if s.status == OK]

    def best(key: str, low: bool = False) -> Series | None:
        candidates = [s for s in scored if _value(s, key) is not None]
        if not candidates:
            return None
        return min(candidates, key=lambda s: (_value(s, key) if low else -_value(s, key), series.index(s)))

    cards = []
    top = best("mean_iou")
    cards.append(
        Card(
            "Best localization",
            top,
            f"IoU {fmt.score(_value(top, 'mean_iou'))}" if top else fmt.DASH,
            f"{fmt.percent(_value(top, 'localized_50'))} of boxes found at IoU ≥ 0.5" if top else "",
            "" if top else "no model produced predictions to score",
        )
    )
    top = best("map")
    cards.append(
        Card(
            "Best detection",
            top,
            f"AP {fmt.score(_value(top, 'map'))}" if top else fmt.DASH,
            f"AP50 {fmt.score(_value(top, 'map50'))} · AP75 {fmt.score(_value(top, 'map75'))}" if top else "",
            "" if top else "no model has a COCO AP: none predicts the dataset's classes",
        )
    )
    fastest = best("latency_ms_p50", low=True)
    cards.append(
        Card(
            "Fastest",
            fastest,
            f"{fmt.ms(_value(fastest, 'latency_ms_p50'))} ms" if fastest else fmt.DASH,
            f"median per image · {fmt.significant(_value(fastest, 'images_per_s'))} img/s" if fastest else "",
            "" if fastest else "no model with results was timed",
        )
    )
    metric_key, metric = _primary_metric(series)
    points = [(s, _value(s, "latency_ms_p50"), _value(s, metric_key)) for s in scored]
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


def _primary_metric(series: list[Series]) -> tuple[str, str]:
    """COCO AP when at least two models have one (a ranking needs two), else the mean IoU."""
    with_ap = [s for s in series if s.status == OK and _value(s, "map") is not None]
    return ("map", "AP") if len(with_ap) >= 2 else ("mean_iou", "IoU")


# ---------------------------------------------------------------------------------------------------- tables


def _tables(series: list[Series]) -> list[Table]:
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
            "Per image at batch 1, after warm-up calls; the median split into preprocess, inference and postprocess.",
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
            value = None if s.status == FAILED else _value(s, column.key)
            if value is None:
                cells.append(Cell(fmt.DASH, "", _why(s, column)))
                continue
            bar = max(0.0, min(100.0, value * 100)) if column.bar else None
            cells.append(Cell(fmt.FORMATS[column.format](value), repr(value), bar=bar))
        rows.append(TableRow(s, cells))
    for n, column in enumerate(columns):
        values = [_value(r.series, column.key) for r in rows]
        present = [v for v, r in zip(values, rows) if v is not None and r.series.status == OK]
        if column.better and len(present) > 1:
            target = max(present) if column.better == "high" else min(present)
            for value, r in zip(values, rows):
                r.cells[n].best = value == target and r.series.status == OK
    descending = columns[sort_column].better != "low"
    sort_col = columns[sort_column]

    def order(r: TableRow) -> tuple:
        value = None if r.series.status == FAILED else _value(r.series, sort_col.key)
        return (value is None, -value if value is not None and descending else (value or 0.0), series.index(r.series))

    rows.sort(key=order)
    return Table(key, title, intro, columns, rows, sort_column, descending)


def _why(series: Series, column: Column) -> str:
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


# ---------------------------------------------------------------------------------------------------- charts


def _tradeoff(series: list[Series]) -> tuple[list[charts.ScatterChart], str]:
    built = []
    for key, metric in (("map", "AP"), ("mean_iou", "IoU")):
        column = next(c for c in (*DETECTION_COLUMNS, *LOCALIZATION_COLUMNS) if c.key == key)
        items = []
        for s in series:
            accuracy = _value(s, key) if s.status == OK else None
            why = _why(s, column) if accuracy is None else ""
            items.append((s.mark, _value(s, "latency_ms_p50"), _value(s, "latency_ms_p95"), accuracy, why))
        chart = charts.scatter_chart(f"tradeoff-{key}", metric, items)
        if chart is not None:
            built.append(chart)
    primary = _primary_metric(series)[1]
    built.sort(key=lambda c: c.metric != primary)
    note = (
        "Up and to the left is better. The line joins the Pareto front: the models no other model beats on both "
        "accuracy and median latency. Whiskers reach the 95th percentile latency."
    )
    return built, note


def _latency(series: list[Series]) -> charts.LatencyChart | None:
    items = []
    for s in series:
        speed = s.result.get("speed") or {}
        note = "untrained copy" if s.untrained else ""
        items.append((s.mark, note, speed.get("latency_samples_ms") or {}, speed.get("latency_ms") or {}))
    return charts.latency_chart(items)


def _pr(series: list[Series]) -> tuple[list[charts.LineChart], list[tuple[Series, str]]]:
    variants = (
        ("precision_50", "IoU 0.50"),
        ("precision_75", "IoU 0.75"),
        ("precision", "IoU 0.50:0.95"),
    )
    built, without = [], []
    curves = []
    for s in series:
        curve = ((s.result.get("accuracy") or {}).get("coco") or {}).get("pr_curve")
        if curve and curve.get("recall"):
            curves.append((s, curve))
        else:
            without.append((s, _why(s, DETECTION_COLUMNS[0])))
    for key, title in variants:
        items = [
            (s.mark, s.run.index, curve["recall"], curve.get(key) or [], f"{s.label}: AP {fmt.score(_value(s, 'map'))}")
            for s, curve in curves
        ]
        chart = charts.pr_chart(f"pr-{key}", title, items)
        if chart is not None:
            built.append(chart)
    return built, without


def _per_class(series: list[Series], sources: Sequence[RunSource]) -> PerClass | None:
    classes: list[str] = []
    for source in sources:
        for name in ((source.results.get("context") or {}).get("dataset") or {}).get("categories") or []:
            if str(name) not in classes:
                classes.append(str(name))
    with_ap, without = [], []
    for s in series:
        per_class = ((s.result.get("accuracy") or {}).get("coco") or {}).get("per_class")
        if per_class:
            with_ap.append((s, per_class))
            classes += [str(name) for name in per_class if str(name) not in classes]
        else:
            without.append((s, _why(s, DETECTION_COLUMNS[0])))
    if not with_ap:
        return None
    counts = _class_counts(sources)
    rows = []
    for name in classes:
        cells = []
        for _, per_class in with_ap:
            value = per_class.get(name)
            if fmt.is_missing(value):
                why = "no ground truth of this class" if name in per_class else "not a class of this run's dataset"
                cells.append(ClassCell(fmt.DASH, "", None, why))
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
        truth = _ground_truth(source.directory)
        if truth:
            names = {c["id"]: str(c["name"]) for c in truth.get("categories", [])}
            counts: dict[str, int] = {}
            for annotation in truth.get("annotations", []):
                if not annotation.get("iscrowd"):
                    name = names.get(annotation.get("category_id"), "?")
                    counts[name] = counts.get(name, 0) + 1
            return counts
    return {}


def _ground_truth(directory: Path | None) -> dict[str, Any] | None:
    if directory is None:
        return None
    path = inside(directory, "ground_truth.json")
    if path is None:
        return None
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return truth if isinstance(truth, dict) else None


# ---------------------------------------------------------------------------------------------------- gallery


def _galleries(runs: list[Run], series: list[Series], out_dir: Path | None) -> list[Gallery]:
    groups: dict[str, list[Run]] = {}
    for run in runs:
        fingerprint = str((run.context.get("dataset") or {}).get("fingerprint") or f"run-{run.index}")
        groups.setdefault(fingerprint, []).append(run)
    galleries = []
    for group in groups.values():
        gallery = _gallery(group, [s for s in series if s.run in group], out_dir, len(groups) > 1)
        if gallery is not None:
            galleries.append(gallery)
    return galleries


def _gallery(runs: list[Run], series: list[Series], out_dir: Path | None, several: bool) -> Gallery | None:
    truth, truth_run = None, None
    for run in runs:
        truth = _ground_truth(run.directory)
        if truth:
            truth_run = run
            break
    if truth is None or truth_run is None:
        return None
    images = {int(i["id"]): i for i in truth.get("images", []) if "id" in i}
    names = {c["id"]: str(c["name"]) for c in truth.get("categories", [])}
    boxes: dict[int, list[Box]] = {}
    for a in truth.get("annotations", []):
        x, y, w, h = (float(v) for v in a["bbox"])
        crowd = " (crowd / difficult: ignored)" if a.get("iscrowd") else ""
        boxes.setdefault(int(a["image_id"]), []).append(Box(x, y, w, h, f"{names.get(a['category_id'], '?')}{crowd}"))
    thumbs: dict[int, Path] = {}
    for run in runs:
        if run.directory is None:
            continue
        for path in sorted((run.directory / GALLERY_DIR).glob("*.jpg")):
            if path.stem.isdigit() and int(path.stem) in images:
                thumbs.setdefault(int(path.stem), path)
    candidates = [i for i in images if i in thumbs] or list(images)
    with_iou = [s for s in series if (s.result.get("accuracy") or {}).get("per_image_iou")]
    ordered = worst_first(candidates, [s.result["accuracy"]["per_image_iou"] for s in with_iou])[:GALLERY_CAP]
    shown = [s for s in series if s.status == OK and s.result.get("predictions_file") is not None]
    without = [(s, s.reason or "no predictions") for s in series if s not in shown]
    predictions: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for s in shown:
        path = inside(s.run.directory, s.result.get("predictions_file")) if s.run.directory else None
        predictions[s.key] = confident_predictions(path, _conf(s.run)) if path else {}
    gallery_images = []
    for image_id in ordered:
        record = images[image_id]
        tiles = []
        sort = {}
        values = []
        for s in shown:
            iou = ((s.result.get("accuracy") or {}).get("per_image_iou") or {}).get(str(image_id))
            drawn = predictions[s.key].get(image_id, [])
            tiles.append(
                Tile(
                    s,
                    fmt.score(iou),
                    _level(iou),
                    [Box(*(float(v) for v in r["bbox"]), _prediction_title(r, names)) for r in drawn],
                )
            )
            if iou is not None:
                sort[s.key] = repr(float(iou))
                values.append(float(iou))
        mean = sum(values) / len(values) if values else None
        sort["all"] = repr(mean) if mean is not None else ""
        gallery_images.append(
            GalleryImage(
                image_id=image_id,
                file_name=str(record.get("file_name") or image_id),
                src=_asset(thumbs.get(image_id), truth_run, runs, out_dir),
                width=float(record.get("width") or 1),
                height=float(record.get("height") or 1),
                truth=boxes.get(image_id, []),
                tiles=tiles,
                mean_iou=fmt.score(mean),
                sort=sort,
            )
        )
    dataset = truth_run.context.get("dataset") or {}
    total = len(images)
    note = (
        f"The {len(gallery_images)} worst-localized of {total} images, by mean IoU over the models: ground truth "
        "first, then each model's confident boxes over the ground truth (dashed)."
    )
    if not thumbs:
        note += " This run folder holds no pictures (written without the dataset), so boxes are drawn on a blank."
    title = "Gallery" + (f" — {dataset.get('name', '')} ({dataset.get('fingerprint', '')})" if several else "")
    conf = ", ".join(sorted({fmt.plain(_conf(r)) for r in runs}))
    tile_px = max(160, min(280, 1150 // (len(shown) + 1) - 10))
    return Gallery(title, note, conf, gallery_images, shown, without, tile_px)


def _conf(run: Run) -> float:
    value = (run.context.get("settings") or {}).get("iou_conf")
    return float(value) if isinstance(value, (int, float)) else 0.5


def _level(iou: Any) -> str:
    if fmt.is_missing(iou):
        return "none"
    return "good" if iou >= 0.75 else "fair" if iou >= 0.5 else "poor"


def _prediction_title(record: dict[str, Any], names: dict[Any, str]) -> str:
    label = str(record.get("label") or names.get(record.get("category_id"), "object"))
    if record.get("category_id") == -1 and record.get("label"):
        label += " (no dataset class)"
    return f"{label} {float(record.get('score', 0)):.2f}"


def _asset(path: Path | None, truth_run: Run, runs: list[Run], out_dir: Path | None) -> str | None:
    """The page's relative link to a thumbnail: in place when its run folder is the page's, else a copy."""
    if path is None or out_dir is None:
        return None
    out_dir = Path(out_dir)
    try:
        return path.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        pass
    owner = next(
        (r for r in runs if r.directory is not None and path.resolve().is_relative_to(r.directory.resolve())),
        truth_run,
    )
    target = out_dir / ASSETS_DIR / f"run{owner.index + 1}" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return target.relative_to(out_dir).as_posix()


# ---------------------------------------------------------------------------------------------------- details


def _details(series: list[Series]) -> list[Detail]:
    details = []
    for s in series:
        r = s.result
        info, labels, speed = r.get("info") or {}, r.get("labels") or {}, r.get("speed") or {}
        facts = [
            Fact("status", s.status),
            Fact("family", fmt.plain(r.get("family"))),
            Fact("plugin", fmt.plain(r.get("plugin"))),
            Fact("framework", fmt.plain(r.get("framework"))),
            Fact("weights", fmt.plain(r.get("weights"))),
            Fact("input size", fmt.plain(info.get("input_size"))),
            Fact("parameters", fmt.whole(info.get("num_params"))),
            Fact("GFLOPs", f"{fmt.one_decimal(info.get('gflops'))} on a {info.get('gflops_image', '?')} image"),
        ]
        if info.get("published_map") is not None:
            facts.append(
                Fact("published AP", f"{fmt.score(info['published_map'])} ({fmt.plain(info.get('published_source'))})")
            )
        if info.get("settings"):
            facts.append(Fact("model settings", fmt.plain(info["settings"])))
        if labels:
            if labels.get("class_agnostic"):
                facts.append(Fact("labels", "class-agnostic: boxes only"))
            else:
                mapped = labels.get("mapped") or {}
                facts.append(
                    Fact(
                        "labels",
                        f"{len(labels.get('space') or [])} in its label space, {len(mapped)} joined to dataset "
                        f"classes: {fmt.plain([f'{k}→{v}' for k, v in mapped.items()])}",
                    )
                )
                if labels.get("dropped"):
                    facts.append(Fact("predictions of other classes", fmt.plain(labels["dropped"])))
            if labels.get("predictions") is not None:
                facts.append(Fact("predictions", fmt.whole(labels["predictions"])))
        if speed:
            facts.append(
                Fact(
                    "timing",
                    f"{speed.get('warmup_calls', '?')} warm-up calls, {speed.get('timed_calls', '?')} timed at batch 1"
                    + (
                        f", {speed['batch_calls']} at batch {speed.get('batch_size')}"
                        if speed.get("batch_calls")
                        else ""
                    )
                    + (" (stopped by the speed budget)" if speed.get("stopped_by_budget") else ""),
                )
            )
        if r.get("load_s") is not None:
            facts.append(Fact("load time", f"{fmt.significant(r['load_s'])} s"))
        for what, why in (r.get("missing") or {}).items():
            facts.append(Fact(f"no {what}", str(why)))
        if r.get("notes"):
            facts.append(Fact("notes", str(r["notes"])))
        if r.get("reason"):
            facts.append(Fact("reason", str(r["reason"])))
        if s.run.local and s.run.directory is not None and inside(s.run.directory, r.get("predictions_file")):
            facts.append(Fact("predictions", str(r["predictions_file"]), href=str(r["predictions_file"])))
        details.append(Detail(s, facts, str(r.get("traceback") or "")))
    return details


def _files(runs: list[Run]) -> list[Fact]:
    files = []
    for run in runs:
        if run.directory is None:
            continue
        for name, what in (
            ("results.json", "everything measured, and the context"),
            ("leaderboard.csv", "one row per model"),
            ("ground_truth.json", "the ground truth, COCO format"),
        ):
            if run.local and inside(run.directory, name):
                files.append(Fact(what, name, href=name))
            elif not run.local:
                files.append(Fact(f"{run.label}: {what}", str(run.directory / name)))
    return files


# ---------------------------------------------------------------------------------------------------- context


GROUPS: tuple[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]], ...] = (
    (
        "Run",
        lambda c: {k: c.get(k) for k in ("started", "finished", "duration_s", "command", "zoo_commit") if k in c},
    ),
    ("Machine", lambda c: c.get("hardware") or {}),
    ("Software", lambda c: c.get("versions") or {}),
    ("Dataset", lambda c: c.get("dataset") or {}),
    ("Settings", lambda c: c.get("settings") or {}),
)


def _context(runs: list[Run]) -> list[ContextGroup]:
    groups = []
    for title, pick in GROUPS:
        tables = [pick(run.context) if isinstance(run.context, dict) else {} for run in runs]
        keys: list[str] = []
        for table in tables:
            keys += [str(k) for k in table if str(k) not in keys]
        rows = []
        for key in keys:
            raw = [table.get(key) for table in tables]
            values = [fmt.plain(v) for v in raw]
            rows.append(ContextRow(key, values, len(runs) > 1 and len(set(values)) > 1))
        if rows:
            groups.append(ContextGroup(title, rows))
    return groups


def _entries(runs: list[Run], sources: Sequence[RunSource]) -> list[Entry]:
    """Each model's catalogue entry as its run recorded it (``key.entry`` and ``entry_notes`` of its result)."""
    entries = []
    for run, source in zip(runs, sources):
        for result in source.results.get("models", []):
            key = result.get("key") if isinstance(result.get("key"), dict) else {}
            entry = {**(key.get("entry") or {}), "notes": result.get("entry_notes")}
            if key.get("weights"):
                entry["weights"] = key["weights"]
            entries.append(
                Entry(
                    run.label,
                    str(result.get("id")),
                    *(fmt.plain(entry.get(k)) for k in ("plugin", "model", "weights", "options", "notes")),
                )
            )
    return entries
