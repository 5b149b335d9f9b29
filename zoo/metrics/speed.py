"""Latency statistics from timed `Model.predict` calls, per image and per step, and the confidence interval of the
median latency that decides when timing may stop."""

from __future__ import annotations

import functools
import math
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


@functools.lru_cache(maxsize=1024)
def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """The 1-based ranks ``(j, k)`` of the order statistics that bound a distribution-free ``confidence`` interval
    of the median of ``n`` samples, ``[x_(j), x_(k)]``; None when ``n`` is too small for one (under 6 at 95%).

    The binomial (sign-test) method: the number B of samples below the true median is Binomial(n, 1/2), so
    ``[x_(j), x_(n+1-j)]`` covers it with probability ``1 - 2 P(B <= j-1)``; ``j`` is the largest rank that keeps
    this at least ``confidence``. Computed exactly, in integers. For n = 20 at 95% it is ``[x_(6), x_(15)]``
    (coverage 0.9586), as in Table 1 of Campbell & Gardner, "Calculating confidence intervals for some
    non-parametric analyses", BMJ 296:1454 (1988), and as ``scipy.stats.binom`` gives (tests/test_timing.py).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence}: give a share between 0 and 1")
    num, den = ((1.0 - confidence) / 2).as_integer_ratio()
    bound = num * 2**n  # P(B <= x) <= tail  <=>  count(B <= x) * den <= num * 2**n
    below, term, j = 0, 1, 0  # below: the number of outcomes with B <= j; term: C(n, j)
    while j <= n:
        below += term
        if below * den > bound:
            break
        term = term * (n - j) // (j + 1)
        j += 1
    return (j, n + 1 - j) if j > 0 else None


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """The distribution-free ``confidence`` interval of the median of ``samples`` (see `median_ci_ranks`); None
    when there are too few samples for one."""
    ranks = median_ci_ranks(len(samples), confidence)
    if ranks is None:
        return None
    ordered = np.sort(np.asarray(samples, dtype=float))
    return float(ordered[ranks[0] - 1]), float(ordered[ranks[1] - 1])


def ci_halfwidth(low: float, median: float, high: float) -> float:
    """The interval's larger half as a share of the median: ``max(high - m, m - low) / m``."""
    half = max(high - median, median - low)
    if median > 0:
        return half / median
    return 0.0 if half == 0 else math.inf


def median_interval_ms(samples: Sequence[StageTimes]) -> tuple[float, float, float] | None:
    """The total per-image latency's 95% interval of the median and the median, ``(low, median, high)`` in
    milliseconds; None when there are too few samples for an interval."""
    ms = [sample.total * 1000.0 for sample in samples]
    interval = median_ci(ms)
    return None if interval is None else (interval[0], float(np.median(ms)), interval[1])


def is_precise(samples: Sequence[StageTimes], precision: float) -> bool:
    """Whether the 95% interval of the median latency is within ``precision`` (a share) of the median."""
    return _within(median_interval_ms(samples), precision)


def _within(interval: tuple[float, float, float] | None, precision: float) -> bool:
    return interval is not None and ci_halfwidth(*interval) <= precision


def speed_record(
    latency: Sequence[StageTimes], batched: Sequence[StageTimes], batch_size: int, warmup: int, precision: float
) -> dict[str, Any]:
    """The speed record; ``median_ci_ms`` is the 95% interval of the median total latency per image,
    ``ci_halfwidth`` its larger half as a share of the median, and ``precise`` whether that is within
    ``precision``."""
    interval = median_interval_ms(latency)
    halfwidth = None if interval is None else ci_halfwidth(*interval)
    record: dict[str, Any] = {
        "warmup_calls": warmup,
        "timed_calls": len(latency),
        "latency_ms": latency_summary(latency),
        "median_ci_ms": None if interval is None else [interval[0], interval[2]],
        "ci_halfwidth": halfwidth,
        "precise": _within(interval, precision),
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
