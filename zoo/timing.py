"""The speed protocol around the accuracy pass: untimed warm-up calls, batch-1 latency samples topped up within a
budget, and batched throughput. The runner calls it; a failure here is the model's, and the runner records it."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data import Dataset
from zoo.metrics.speed import speed_record
from zoo.model import Model, StageTimes

if TYPE_CHECKING:
    from zoo.runner import Report, Settings

MIN_TIMED_CALLS = 5


def warm_up(model: Model, first: np.ndarray, settings: Settings, report: Report) -> int:
    """Untimed calls on the first image, up to ``warmup`` of them, stopping once ``speed_budget`` seconds have gone
    (after at least one): a model that takes minutes per image is warm after one call. Returns the calls made."""
    deadline = time.perf_counter() + settings.speed_budget
    calls = 0
    while calls < settings.warmup and (calls == 0 or time.perf_counter() < deadline):
        model.predict([first])
        calls += 1
        report("warm-up", calls, settings.warmup)
    return calls


def time_speed(
    model: Model, dataset: Dataset, settings: Settings, latency: list[StageTimes], report: Report, warmup_calls: int
) -> tuple[dict[str, Any], str | None]:
    """Top the batch-1 latency samples up to ``iters`` calls, then time batched calls for throughput.

    A slow model stops topping up (and stops its batched calls) once ``speed_budget`` seconds have gone on each,
    after at least ``MIN_TIMED_CALLS`` latency samples and one timed batch; the counts are recorded. Batched calls
    are skipped when one batch would take longer than the whole budget. Returns the speed record, and why batched
    calls were skipped (None when they were not).
    """
    cycle = itertools.cycle(dataset.images)
    budget_hit, skipped = False, None
    deadline = time.perf_counter() + settings.speed_budget
    while len(latency) < settings.iters:
        if len(latency) >= MIN_TIMED_CALLS and time.perf_counter() > deadline:
            budget_hit = True
            break
        latency.append(model.predict([next(cycle).load()]).times)
        report("timing", len(latency), settings.iters)
    batched: list[StageTimes] = []
    one_batch = float(np.median([sample.total for sample in latency])) * settings.batch
    if settings.batch > 1 and settings.batch_calls > 0 and one_batch > settings.speed_budget:
        skipped = (
            f"skipped: one batch of {settings.batch} would take about {one_batch:.0f} s, over --speed-budget "
            f"{settings.speed_budget:g} s"
        )
    elif settings.batch > 1 and settings.batch_calls > 0:
        batch_cycle = itertools.cycle(dataset.images)

        def batch() -> list[np.ndarray]:
            return [next(batch_cycle).load() for _ in range(settings.batch)]

        model.predict(batch())
        report("batch timing", 0, settings.batch_calls)
        deadline = time.perf_counter() + settings.speed_budget
        while len(batched) < settings.batch_calls:
            if batched and time.perf_counter() > deadline:
                budget_hit = True
                break
            batched.append(model.predict(batch()).times)
            report("batch timing", len(batched), settings.batch_calls)
    record = speed_record(latency, batched, settings.batch, warmup_calls)
    record["stopped_by_budget"] = budget_hit
    return record, skipped
