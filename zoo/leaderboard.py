"""The leaderboard: one row per model, derived from ``results.json``. A value not measured is empty, and the row's
``status`` and ``reason`` say why."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.context import other_hardware

COLUMNS = (
    "model",
    "family",
    "status",
    "mean_iou",
    "map",
    "map50",
    "latency_ms_p50",
    "latency_ms_p95",
    "images_per_s",
    "localized_50",
    "localized_75",
    "mean_iou_class_aware",
    "map75",
    "map_small",
    "map_medium",
    "map_large",
    "ar100",
    "map_agnostic",
    "preprocess_ms_p50",
    "inference_ms_p50",
    "postprocess_ms_p50",
    "latency_ms_ci_low",
    "latency_ms_ci_high",
    "latency_ci_halfwidth",
    "speed_precise",
    "images_per_s_batch",
    "load_s",
    "first_call_ms",
    "batch_size",
    "speed_conf",
    "params_m",
    "gflops",
    "gflops_per_s",
    "peak_share",
    "input_size",
    "memory_mb",
    "published_map",
    "ap_gap",
    "reproduction",
    "framework",
    "weights",
    "trained_on",
    "timed_on",
    "reason",
)


def _get(record: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def row(result: dict[str, Any], hardware: dict[str, Any] | None = None) -> dict[str, Any]:
    """One model's leaderboard row; ``hardware``, the run context's, gives the device's peak GFLOP/s."""
    accuracy, speed, info = result.get("accuracy", {}), result.get("speed", {}), result.get("info", {})
    params = info.get("num_params")
    interval = speed.get("median_ci_ms")  # the 95% interval of the median latency, [low, high]
    memory = _get(result, "memory", "device_peak_mb") or _get(result, "memory", "rss_increase_mb")
    elsewhere = other_hardware(result.get("host"), hardware)  # the run's peak is not the yardstick of its speed
    reasons = [text for text in (result.get("reason"), result.get("notes")) if text]
    reasons += [
        f"{what}: {why}"
        for what, why in result.get("missing", {}).items()
        if not (result.get("untrained") and what == "accuracy")
    ]
    return {
        "model": result["id"],
        "family": result.get("family"),
        "status": result.get("status"),
        "mean_iou": _get(accuracy, "localization", "mean_iou"),
        "map": _get(accuracy, "coco", "map"),
        "map50": _get(accuracy, "coco", "map50"),
        "latency_ms_p50": _get(speed, "latency_ms", "total", "median"),
        "latency_ms_p95": _get(speed, "latency_ms", "total", "p95"),
        "images_per_s": speed.get("images_per_s"),
        "localized_50": _get(accuracy, "localization", "localized", "0.5"),
        "localized_75": _get(accuracy, "localization", "localized", "0.75"),
        "mean_iou_class_aware": _get(accuracy, "localization_class_aware", "mean_iou"),
        "map75": _get(accuracy, "coco", "map75"),
        "map_small": _get(accuracy, "coco", "map_small"),
        "map_medium": _get(accuracy, "coco", "map_medium"),
        "map_large": _get(accuracy, "coco", "map_large"),
        "ar100": _get(accuracy, "coco", "ar100"),
        "map_agnostic": _get(accuracy, "coco_agnostic", "map"),
        "preprocess_ms_p50": _get(speed, "latency_ms", "preprocess", "median"),
        "inference_ms_p50": _get(speed, "latency_ms", "inference", "median"),
        "postprocess_ms_p50": _get(speed, "latency_ms", "postprocess", "median"),
        "latency_ms_ci_low": interval[0] if interval else None,
        "latency_ms_ci_high": interval[1] if interval else None,
        "latency_ci_halfwidth": speed.get("ci_halfwidth"),
        "speed_precise": speed.get("precise"),
        "images_per_s_batch": speed.get("images_per_s_batch"),
        "load_s": result.get("load_s"),
        "first_call_ms": result["first_call_s"] * 1000 if result.get("first_call_s") is not None else None,
        "batch_size": speed.get("batch_size"),
        "speed_conf": speed_conf(speed),
        "params_m": params / 1e6 if params is not None else None,
        "gflops": info.get("gflops"),
        "gflops_per_s": gflops_per_s(result),
        "peak_share": peak_share(gflops_per_s(result), None if elsewhere else hardware),
        "input_size": info.get("input_size"),
        "published_map": (result.get("published") or {}).get("box_ap", info.get("published_map")),
        "ap_gap": _get(result, "reproduction", "gap"),
        "reproduction": reproduction_note(result.get("reproduction")),
        "memory_mb": memory,
        "framework": result.get("framework"),
        "weights": result.get("weights"),
        "trained_on": trained_on_text(result.get("trained_on")),
        "timed_on": timed_on(result.get("host")),
        "reason": "; ".join(reasons),
    }


def trained_on_text(record: dict[str, Any] | None) -> str | None:
    """A fine-tuned row's ``trained_on``, short: ``shapes (fp 1a2b…) 10-shot seed 0, 20 epochs, from scratch``."""
    if not record:
        return None
    shots = f" {record['shots']}-shot" if record.get("shots") else ""
    scratch = ", from scratch" if record.get("from_scratch") else ""
    return (
        f"{record['dataset']} (fingerprint {record['fingerprint']}){shots} seed {record['seed']}, "
        f"{record['epochs']} epoch(s){scratch}"
    )


def timed_on(host: dict[str, Any] | None) -> str | None:
    """The machine and device a row was timed on, short: ``node-2 (cuda)``; None where the row does not say."""
    if not host:
        return None
    return f"{host.get('hostname') or '?'} ({host.get('device') or 'cpu'})"


def speed_conf(speed: dict[str, Any]) -> float | None:
    """The score threshold the row was timed at: ``--speed-conf`` where the model applied it, 0 where it has none
    (timed at the accuracy setting); None where no setting is recorded."""
    setting = speed.get("setting")
    if not setting:
        return None
    return setting["conf"] if setting.get("applied") else 0


def gflops_per_s(result: dict[str, Any]) -> float | None:
    """The arithmetic rate the model achieved: GFLOPs of one forward pass over its median inference time; None
    without both. An estimate when image sizes vary (the GFLOPs are the first image's, or the plugin's own)."""
    gflops = _get(result, "info", "gflops")
    inference_ms = _get(result, "speed", "latency_ms", "inference", "median")
    if gflops is None or not inference_ms or inference_ms <= 0:
        return None
    return gflops / (inference_ms / 1000)


def peak_share(rate: float | None, hardware: dict[str, Any] | None) -> float | None:
    """``rate`` as a share (0..1) of the device's measured float32 peak (``hardware.peak_gflops``); None without."""
    peak = (hardware or {}).get("peak_gflops")
    return rate / peak if rate is not None and peak else None


def reproduction_note(check: dict[str, Any] | None) -> str:
    """The reproduction check in one line: flagged or not, indicative or not, and the likely causes."""
    if not check:
        return ""
    verdict = "gap over 1 AP point" if check["flagged"] else "within 1 AP point"
    if check["indicative"]:
        verdict += f" (indicative: {check['images']} images)"
    if not check["flagged"]:
        return verdict
    causes = [c for c in check["causes"] if not c.startswith("a subset")]
    if not causes:
        return (
            f"{verdict}; none of the causes zoo checks applies (skipped images, label map, input size, thresholds): "
            "compare the weights and the preprocessing with the source's"
        )
    return f"{verdict}; likely causes: {'; '.join(causes)}"


def sort_key(item: dict[str, Any]) -> tuple:
    """Best first: COCO AP, then mean IoU, then speed; models without a number go after those with one."""

    def missing_last(value: Any) -> tuple[bool, float]:
        absent = value is None or (isinstance(value, float) and math.isnan(value))
        return (absent, 0.0 if absent else -float(value))

    return (
        missing_last(item["map"]),
        missing_last(item["mean_iou"]),
        missing_last(item["images_per_s"]),
        item["model"],
    )


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    hardware = (results.get("context") or {}).get("hardware")
    return sorted((row(result, hardware) for result in results["models"]), key=sort_key)


def frame(results: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(rows(results), columns=list(COLUMNS))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """A cell a spreadsheet will not run: text that starts like a formula (``=HYPERLINK(...)``, ``@SUM(...)``,
    ``+``, ``-``, a tab or a carriage return) gets a leading single quote, as OWASP advises against CSV injection;
    a carriage return inside becomes a newline, which the writer quotes (a bare one would end the row). Numbers, a
    negative one included, stay numbers."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _write(board: pd.DataFrame, path: Path) -> None:
    """The board as CSV, every text cell made inert (names, reasons and versions come from plugins and datasets)."""
    board.map(inert).to_csv(path, index=False, float_format="%.6g")


def write_csv(results: dict[str, Any], path: Path) -> None:
    _write(frame(results), path)


def write_joint_csv(runs: list[dict[str, Any]], labels: list[str], path: Path) -> None:
    """Several runs' leaderboards in one file, each row led by its run's label."""
    frames = [frame(results).assign(run=label) for results, label in zip(runs, labels)]
    joint = pd.concat(frames, ignore_index=True)
    _write(joint[["run", *COLUMNS]], path)
