"""Latency statistics from timed `Model.predict` calls, per image and per step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo.model import StageTimes

STAGES = ("preprocess", "inference", "postprocess", "total")


def latency_summary(samples: Sequence[StageTimes], images_per_call: int = 1) -> dict[str, dict[str, float]]:
    """Milliseconds per image for each step and in total: median, p90, p95, mean, std, min, max."""
    if not samples:
        raise ValueError("no timed calls to summarise")
    summary: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        ms = np.array([getattr(sample, stage) for sample in samples]) * 1000.0 / images_per_call
        summary[stage] = {
            "median": float(np.median(ms)),
            "p90": float(np.percentile(ms, 90)),
            "p95": float(np.percentile(ms, 95)),
            "mean": float(ms.mean()),
            "std": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
            "min": float(ms.min()),
            "max": float(ms.max()),
        }
    return summary


def throughput(samples: Sequence[StageTimes], images_per_call: int) -> float:
    """Images per second over the timed calls: images processed divided by the time the calls took."""
    seconds = sum(sample.total for sample in samples)
    return images_per_call * len(samples) / seconds if seconds > 0 else float("nan")


def speed_record(
    latency: Sequence[StageTimes], batched: Sequence[StageTimes], batch_size: int, warmup: int
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "warmup_calls": warmup,
        "timed_calls": len(latency),
        "latency_ms": latency_summary(latency),
        "images_per_s": throughput(latency, 1),
        "latency_samples_ms": {
            stage: [round(getattr(sample, stage) * 1000.0, 4) for sample in latency] for stage in STAGES
        },
    }
    if batched:
        record["batch_size"] = batch_size
        record["batch_calls"] = len(batched)
        record["images_per_s_batch"] = throughput(batched, batch_size)
        record["batch_latency_ms"] = latency_summary(batched, batch_size)
    return record
