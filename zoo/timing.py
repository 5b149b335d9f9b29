"""The speed protocol around the accuracy pass: untimed warm-up calls, batch-1 latency samples topped up until the
median is known precisely enough (or a cap or budget is reached), and batched throughput. The runner calls it; a
failure here is the model's, and the runner records it."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data import Dataset
from zoo.metrics.speed import is_precise, speed_record
from zoo.model import Model, StageTimes

if TYPE_CHECKING:
    from zoo.runner import Report, Settings

MIN_TIMED_CALLS = 6
"""The fewest batch-1 calls timed: 6 is the smallest sample with a distribution-free 95% interval of the median."""

Clock = Callable[[], float]


def warm_up(model: Model, first: np.ndarray, settings: Settings, report: Report) -> tuple[int, float]:
    """The first call after loading, timed on its own (the cold start a CLI or serverless user waits for), then
    untimed calls on the same image up to ``warmup`` in all, stopping once ``speed_budget`` seconds have gone: a
    model that takes minutes per image is warm after one call. Returns the calls made and the first call's seconds."""
    started = time.perf_counter()
    model.predict([first])
    first_call = time.perf_counter() - started
    calls = 1
    report("warm-up", calls, max(settings.warmup, 1))
    deadline = started + settings.speed_budget
    while calls < settings.warmup and time.perf_counter() < deadline:
        model.predict([first])
        calls += 1
        report("warm-up", calls, settings.warmup)
    return calls, first_call


def time_speed(
    model: Model,
    dataset: Dataset,
    settings: Settings,
    latency: list[StageTimes],
    report: Report,
    warmup_calls: int,
    clock: Clock = time.perf_counter,
    sizes: set[tuple[int, int]] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Top the batch-1 latency samples up until the median is precise (`top_up`), then time batched calls for
    throughput (`time_batches`). Returns the speed record, and why batched calls were skipped (None when they were
    not). ``clock`` measures the budgets (a test passes a fake one); ``sizes``: the image sizes the model has run
    at already (its first call at any other size is not a sample).

    First the model is asked to apply ``speed_conf`` (`Model.set_score_threshold`; 0: the accuracy setting, kept);
    where it does, the samples of the accuracy pass (at the accuracy setting) are dropped and latency comes from
    top-up calls alone. What was timed is recorded as ``setting``. Nothing predicted here is scored."""
    setting = speed_setting(model, settings.speed_conf)
    if setting["conf"] and setting["applied"]:
        latency.clear()
    stop = top_up(model, dataset, settings, latency, report, clock, sizes)
    batched, skipped, batches_cut = time_batches(model, dataset, settings, latency, report, clock)
    record = speed_record(latency, batched, settings.batch, warmup_calls, settings.speed_precision)
    record["setting"] = setting
    record["latency_stop"] = stop
    record["stopped_by_budget"] = stop == "budget" or batches_cut
    return record, skipped


def speed_setting(model: Model, conf: float) -> dict[str, Any]:
    """Ask the model to apply the score threshold ``conf`` for timing (0: none asked, the accuracy setting), and say
    what it is timed at: ``{"conf", "applied"}``, with ``"why"`` where the model has no threshold to set."""
    if not conf:
        return {"conf": 0, "applied": True}
    setter = getattr(model, "set_score_threshold", None)  # a stand-in model (a test's) may have none
    if setter is not None and setter(conf):
        return {"conf": conf, "applied": True}
    return {"conf": conf, "applied": False, "why": "the model has no score threshold (timed as for accuracy)"}


def is_sample(image: Any, sizes: set[tuple[int, int]] | None) -> bool:
    """Whether a call on ``image`` is a latency sample: not the model's first call at that image size, which warms
    the size up (``sizes``: the sizes it has run at, None: every call is a sample). Records the size."""
    if sizes is None:
        return True
    size = (image.width, image.height)
    seen = size in sizes
    sizes.add(size)
    return seen


def top_up(
    model: Model,
    dataset: Dataset,
    settings: Settings,
    latency: list[StageTimes],
    report: Report,
    clock: Clock,
    sizes: set[tuple[int, int]] | None = None,
) -> str:
    """Time batch-1 calls (cycling the dataset's images) after the ones already in ``latency``, checking after each
    whether the 95% interval of the median latency is within ``speed_precision`` of the median. Stops at the first
    of: precise enough ("precision"), ``iters`` samples ("iters"), or ``speed_budget`` seconds spent topping up
    ("budget"); never before ``MIN_TIMED_CALLS`` samples, which an interval needs. The first call at an image size
    not in ``sizes`` (the sizes the model has already run at) is a warm-up for that size, not a sample: p95 then
    describes the model, not a first call. Returns why it stopped."""
    cap = max(settings.iters, MIN_TIMED_CALLS)
    cycle = itertools.cycle(dataset.images)
    deadline = clock() + settings.speed_budget
    while True:
        if len(latency) >= MIN_TIMED_CALLS:
            if is_precise(latency, settings.speed_precision):
                return "precision"
            if len(latency) >= cap:
                return "iters"
            if clock() > deadline:
                return "budget"
        image = next(cycle)
        times = model.predict([image.load()]).times
        if is_sample(image, sizes):
            latency.append(times)
            report("timing", len(latency), cap)


def time_batches(
    model: Model, dataset: Dataset, settings: Settings, latency: list[StageTimes], report: Report, clock: Clock
) -> tuple[list[StageTimes], str | None, bool]:
    """Up to ``batch_calls`` timed calls of ``batch`` images, after one untimed one, within ``speed_budget`` seconds
    (at least one is timed); skipped when one batch would take longer than the whole budget, judging by the batch-1
    median. Returns the timed calls, why they were skipped (or None), and whether the budget cut them short."""
    if settings.batch <= 1 or settings.batch_calls <= 0:
        return [], None, False
    one_batch = float(np.median([sample.total for sample in latency])) * settings.batch
    if one_batch > settings.speed_budget:
        skipped = (
            f"skipped: one batch of {settings.batch} would take about {one_batch:.0f} s, over --speed-budget "
            f"{settings.speed_budget:g} s"
        )
        return [], skipped, False
    batch_cycle = itertools.cycle(dataset.images)

    def batch() -> list[np.ndarray]:
        return [next(batch_cycle).load() for _ in range(settings.batch)]

    model.predict(batch())
    report("batch timing", 0, settings.batch_calls)
    batched: list[StageTimes] = []
    deadline = clock() + settings.speed_budget
    while len(batched) < settings.batch_calls:
        if batched and clock() > deadline:
            return batched, None, True
        batched.append(model.predict(batch()).times)
        report("batch timing", len(batched), settings.batch_calls)
    return batched, None, False
