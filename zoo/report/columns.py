"""The leaderboards' columns: what each shows, how it is formatted, which value is best, and the notes some cells
carry (a reproduction gap, a latency interval that stayed wide, a model timed at the accuracy setting)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zoo.context import other_hardware
from zoo.report import fmt
from zoo.report.runs import Series


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
    speed = series.result.speed
    interval, halfwidth, calls = speed.median_ci_ms, speed.ci_halfwidth, speed.timed_calls
    if speed.latency_stop == "budget" and not interval:
        plural = "call" if calls == 1 else "calls"
        return f"no 95% interval of the median: the budget ran out after {calls} timed {plural} (6 needed)", True
    if not interval or fmt.is_missing(halfwidth):
        return "", False
    span = f"{fmt.ms(interval[0])}–{fmt.ms(interval[1])} ms"
    if speed.precise is not False:
        return f"95% interval of the median: {span}, from {calls} timed calls", False
    why = {
        "budget": f"the budget ran out after {calls} calls",
        "iters": f"the --iters cap was reached after {calls} calls",
    }.get(speed.latency_stop or "", f"after {calls} calls")
    return f"the 95% interval of the median stayed {plus_minus(halfwidth)}: {why} ({span})", True


def speed_setting_of(series: Series) -> dict:
    return series.result.speed.setting or {}


def setting_note(series: Series) -> str:
    """Why a model was timed at the accuracy setting although the run asked for a threshold; "" otherwise."""
    setting = speed_setting_of(series)
    if setting.get("applied", True):
        return ""
    return f"timed at the accuracy setting, not at --speed-conf {setting['conf']:g}: {setting.get('why', '')}"


def hardware_note(series: Series) -> str:
    """Where a row was timed when that is other hardware than the rest of its run's; "" otherwise."""
    host = series.result.host.to_dict() if series.result.host else None
    return other_hardware(host, series.run.hardware) or ""


def latency_note(series: Series) -> tuple[str, bool]:
    """Over the median latency: why it was timed at the accuracy setting, and where when that was other hardware
    (flagged: its speed does not compare with the others')."""
    elsewhere = hardware_note(series)
    return "; ".join(filter(None, (setting_note(series), elsewhere))), bool(elsewhere)


def latency_mark(series: Series) -> str:
    return (" *" if setting_note(series) else "") + (" †" if hardware_note(series) else "")


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
        "median latency per image, batch 1, at the speed setting (--speed-conf); * timed at the accuracy setting; "
        "† timed on other hardware than the rest of the run (--executor ray)",
        "ms",
        better="low",
        missing=("speed",),
        annotate=latency_note,
        mark=latency_mark,
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
