"""The leaderboard: one row per model, derived from ``results.json``. A value not measured is empty, and the row's
``status`` and ``reason`` say why."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.context import other_hardware
from zoo.metrics import robustness
from zoo.results import CocoMetrics, Localization, ModelResult, RunResults, Speed

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
    *robustness.COLUMNS,
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


def row(result: ModelResult, hardware: dict[str, Any] | None = None) -> dict[str, Any]:
    """One model's leaderboard row; ``hardware``, the run context's, gives the device's peak GFLOP/s."""
    accuracy, speed, info = result.accuracy, result.speed, result.info
    localization, coco = accuracy.localization or Localization(), accuracy.coco or CocoMetrics()
    aware, agnostic = accuracy.localization_class_aware or Localization(), accuracy.coco_agnostic or CocoMetrics()
    latency = speed.latency_ms or {}
    interval = speed.median_ci_ms  # the 95% interval of the median latency, [low, high]
    memory = result.memory.device_peak_mb or result.memory.rss_increase_mb
    host = result.host.to_dict() if result.host else None
    elsewhere = other_hardware(host, hardware)  # the run's peak is not the yardstick of its speed
    reasons = [text for text in (result.reason, result.notes) if text]
    reasons += [
        f"{what}: {why}" for what, why in result.missing.items() if not (result.untrained and what == "accuracy")
    ]
    rate = gflops_per_s(result)
    return {
        "model": result.id,
        "family": result.family,
        "status": str(result.status),
        "mean_iou": localization.mean_iou,
        "map": coco.map,
        "map50": coco.map50,
        "latency_ms_p50": _stat(latency, "total", "median"),
        "latency_ms_p95": _stat(latency, "total", "p95"),
        "images_per_s": speed.images_per_s,
        "localized_50": (localization.localized or {}).get("0.5"),
        "localized_75": (localization.localized or {}).get("0.75"),
        "mean_iou_class_aware": aware.mean_iou,
        "map75": coco.map75,
        "map_small": coco.map_small,
        "map_medium": coco.map_medium,
        "map_large": coco.map_large,
        "ar100": coco.ar100,
        "map_agnostic": agnostic.map,
        **robustness.leaderboard_columns(result.robustness),
        "preprocess_ms_p50": _stat(latency, "preprocess", "median"),
        "inference_ms_p50": _stat(latency, "inference", "median"),
        "postprocess_ms_p50": _stat(latency, "postprocess", "median"),
        "latency_ms_ci_low": interval[0] if interval else None,
        "latency_ms_ci_high": interval[1] if interval else None,
        "latency_ci_halfwidth": speed.ci_halfwidth,
        "speed_precise": speed.precise,
        "images_per_s_batch": speed.images_per_s_batch,
        "load_s": result.load_s,
        "first_call_ms": result.first_call_s * 1000 if result.first_call_s is not None else None,
        "batch_size": speed.batch_size,
        "speed_conf": speed_conf(speed),
        "params_m": info.num_params / 1e6 if info.num_params is not None else None,
        "gflops": info.gflops,
        "gflops_per_s": rate,
        "peak_share": peak_share(rate, None if elsewhere else hardware),
        "input_size": info.input_size,
        "published_map": (result.published or {}).get("box_ap", info.published_map),
        "ap_gap": (result.reproduction or {}).get("gap"),
        "reproduction": reproduction_note(result.reproduction),
        "memory_mb": memory,
        "framework": result.framework,
        "weights": result.weights,
        "trained_on": trained_on_text(result.trained_on),
        "timed_on": timed_on(host),
        "reason": "; ".join(reasons),
    }


def _stat(latency: dict[str, dict[str, float]], stage: str, statistic: str) -> float | None:
    return (latency.get(stage) or {}).get(statistic)


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


def speed_conf(speed: Speed) -> float | None:
    """The score threshold the row was timed at: ``--speed-conf`` where the model applied it, 0 where it has none
    (timed at the accuracy setting); None where no setting is recorded."""
    setting = speed.setting
    if not setting:
        return None
    return setting["conf"] if setting.get("applied") else 0


def gflops_per_s(result: ModelResult) -> float | None:
    """The arithmetic rate the model achieved: GFLOPs of one forward pass over its median inference time; None
    without both. An estimate when image sizes vary (the GFLOPs are the first image's, or the plugin's own)."""
    gflops = result.info.gflops
    inference_ms = _stat(result.speed.latency_ms or {}, "inference", "median")
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


def rows(results: RunResults) -> list[dict[str, Any]]:
    hardware = results.context.get("hardware")
    return sorted((row(result, hardware) for result in results.models), key=sort_key)


def frame(results: RunResults) -> pd.DataFrame:
    return pd.DataFrame(rows(results), columns=columns(results))


def columns(results: RunResults) -> list[str]:
    """`COLUMNS`, less the robustness ones when no model was scored under corruptions (``--corruptions``): a run
    without them writes the board it always wrote."""
    corrupted = any(model.robustness is not None for model in results.models)
    return [c for c in COLUMNS if corrupted or c not in robustness.COLUMNS]


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


def write_csv(results: RunResults, path: Path) -> None:
    _write(frame(results), path)


def write_joint_csv(runs: list[RunResults], labels: list[str], path: Path) -> None:
    """Several runs' leaderboards in one file, each row led by its run's label."""
    frames = [frame(results).assign(run=label) for results, label in zip(runs, labels)]
    joint = pd.concat(frames, ignore_index=True)
    _write(joint[["run", *[c for c in COLUMNS if c in joint.columns]]], path)
