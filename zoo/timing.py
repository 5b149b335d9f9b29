"""The speed protocol around the accuracy pass: untimed warm-up calls, batch-1 latency samples topped up until the
median is known precisely enough (or a cap or budget is reached), and batched throughput. The runner calls it; a
failure here is the model's, and the runner records it."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from zoo.data import Dataset
from zoo.metrics.speed import is_precise, speed_record
from zoo.model import Model, StageTimes
from zoo.results import Speed
from zoo.settings import Report, Settings

MIN_TIMED_CALLS = 6
"""The fewest batch-1 samples with a distribution-free 95% interval of the median: timing never stops for precision
before it has them (the budget may stop it sooner, and the row is flagged)."""

Clock = Callable[[], float]

WARM_UP_SHARE = 0.25
"""The share of the budget the warm-up calls after the first may take: a model that needs minutes per call is timed,
not warmed, with what its budget allows."""


class Budget:
    """The seconds a model may spend on timing beyond its first call and its accuracy pass (``--speed-budget``): the
    rest of the warm-up, the top-up calls and the batches draw on it in turn. A call is made only when it is expected
    to fit in what is left, except the one sample a latency needs, so a model takes about its budget, not more."""

    def __init__(self, seconds: float, clock: Clock = time.perf_counter) -> None:
        self.seconds = self.left = seconds
        self.clock = clock

    def fits(self, seconds: float) -> bool:
        return seconds <= self.left

    @contextmanager
    def spend(self) -> Iterator[None]:
        started = self.clock()
        try:
            yield
        finally:
            self.left -= self.clock() - started


def warm_up(model: Model, first: np.ndarray, settings: Settings, report: Report, budget: Budget) -> tuple[int, float]:
    """The first call after loading, timed on its own (the cold start a CLI or serverless user waits for), then
    untimed calls on the same image up to ``warmup`` in all, as long as each is expected to fit in a quarter of the
    budget: a model that takes a minute per image is warm enough after one call. Returns the calls made and the first
    call's seconds."""
    started = budget.clock()
    model.predict([first])
    first_call = last = budget.clock() - started
    calls, spent, allowed = 1, 0.0, budget.left * WARM_UP_SHARE
    report("warm-up", calls, max(settings.warmup, 1))
    while calls < settings.warmup and spent + last <= allowed:
        began = budget.clock()
        with budget.spend():
            model.predict([first])
        last = budget.clock() - began
        spent += last
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
    budget: Budget,
    sizes: set[tuple[int, int]] | None = None,
) -> tuple[Speed, str | None]:
    """Top the batch-1 latency samples up until the median is precise (`top_up`), then time batched calls for
    throughput (`time_batches`), both within what is left of ``budget``. Returns the speed record, and why batched
    calls were skipped (None when they were not). ``sizes``: the image sizes the model has run at already (its first
    call at any other size is not a sample).

    First the model is asked to apply ``speed_conf`` (`Model.set_score_threshold`; 0: the accuracy setting, kept);
    where it does, the samples of the accuracy pass (at the accuracy setting) are dropped and latency comes from
    top-up calls alone. What was timed is recorded as ``setting``. Nothing predicted here is scored."""
    setting = speed_setting(model, settings.speed_conf)
    if setting["conf"] and setting["applied"]:
        latency.clear()
    stop = top_up(model, dataset, settings, latency, report, budget, sizes)
    batched, skipped, batches_cut = time_batches(model, dataset, settings, latency, report, budget)
    record = Speed.from_dict(speed_record(latency, batched, settings.batch, warmup_calls, settings.speed_precision))
    record.setting = setting
    record.latency_stop = stop
    record.stopped_by_budget = stop == "budget" or batches_cut
    record.budget_s = {"given": settings.speed_budget, "left": round(budget.left, 3)}
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
    budget: Budget,
    sizes: set[tuple[int, int]] | None = None,
) -> str:
    """Time batch-1 calls (cycling the dataset's images) after the ones already in ``latency``, checking after each
    whether the 95% interval of the median latency is within ``speed_precision`` of the median. Stops at the first
    of: precise enough ("precision", never before ``MIN_TIMED_CALLS`` samples, which an interval needs), ``iters``
    samples ("iters"), or a next call (as long as the median so far) that would not fit in the budget ("budget");
    there is always at least one sample. The first call at an image size not in ``sizes`` (the sizes the model has
    already run at) is a warm-up for that size, not a sample: p95 then describes the model, not a first call.
    Returns why it stopped."""
    cap = max(settings.iters, MIN_TIMED_CALLS)
    cycle = itertools.cycle(dataset.images)
    while True:
        if latency:
            if len(latency) >= MIN_TIMED_CALLS and is_precise(latency, settings.speed_precision):
                return "precision"
            if len(latency) >= cap:
                return "iters"
            if not budget.fits(float(np.median([sample.total for sample in latency]))):
                return "budget"
        image = next(cycle)
        with budget.spend():
            times = model.predict([image.load()]).times
        if is_sample(image, sizes):
            latency.append(times)
            report("timing", len(latency), cap)


def time_batches(
    model: Model, dataset: Dataset, settings: Settings, latency: list[StageTimes], report: Report, budget: Budget
) -> tuple[list[StageTimes], str | None, bool]:
    """Up to ``batch_calls`` timed calls of ``batch`` images after one untimed one, each expected to fit in what is
    left of the budget; skipped, with the reason, when the untimed call and one timed call would not fit (judging by
    the batch-1 median). Returns the timed calls, why they were skipped (or None), and whether the budget cut them
    short of ``batch_calls``."""
    if settings.batch <= 1 or settings.batch_calls <= 0:
        return [], None, False
    one_batch = float(np.median([sample.total for sample in latency])) * settings.batch
    if not budget.fits(2 * one_batch):
        skipped = (
            f"skipped: an untimed and a timed batch of {settings.batch} would take about {2 * one_batch:.3g} s, more "
            f"than the {max(budget.left, 0):.3g} s left of --speed-budget {settings.speed_budget:g}"
        )
        return [], skipped, False
    batch_cycle = itertools.cycle(dataset.images)

    def batch() -> list[np.ndarray]:
        return [next(batch_cycle).load() for _ in range(settings.batch)]

    with budget.spend():
        model.predict(batch())
    report("batch timing", 0, settings.batch_calls)
    batched: list[StageTimes] = []
    while len(batched) < settings.batch_calls:
        if batched and not budget.fits(batched[-1].total):
            return batched, None, True
        with budget.spend():
            batched.append(model.predict(batch()).times)
        report("batch timing", len(batched), settings.batch_calls)
    return batched, None, False
