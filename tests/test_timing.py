"""Adaptive timing: the distribution-free interval of the median, the rule that stops timing once it is narrow
enough (with fake models on a fake clock: speed is measured, never asserted), and the fields a run records."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tests.test_run import run_zoo
from zoo.metrics.speed import ci_halfwidth, median_ci, median_ci_ranks
from zoo.model import StageTimes
from zoo.report.columns import interval_note, plus_minus
from zoo.results import ModelResult
from zoo.runfolder import read_results
from zoo.settings import Settings
from zoo.timing import MIN_TIMED_CALLS, Budget, time_speed, warm_up

# Table 1 of Campbell & Gardner, BMJ 296:1454 (1988): ranks of the 95% interval of a median, 1-based
CAMPBELL_GARDNER = {6: (1, 6), 9: (2, 8), 12: (3, 10), 15: (4, 12), 20: (6, 15), 30: (10, 21), 50: (18, 33)}


@pytest.mark.parametrize(("n", "ranks"), CAMPBELL_GARDNER.items())
def test_median_interval_ranks_match_the_published_table(n, ranks):
    assert median_ci_ranks(n) == ranks


def test_median_interval_ranks_are_the_binomial_quantiles_of_scipy():
    from scipy.stats import binom

    assert [median_ci_ranks(n) for n in range(6)] == [None] * 6, "under 6 samples no 95% interval exists"
    for n in range(6, 301):
        j, k = median_ci_ranks(n)
        assert k == n + 1 - j
        assert 1 - 2 * binom.cdf(j - 1, n, 0.5) >= 0.95, f"n={n}: coverage under 95%"
        assert 1 - 2 * binom.cdf(j, n, 0.5) < 0.95, f"n={n}: a narrower interval would do"
    assert median_ci_ranks(20, confidence=0.99) == (4, 17)


def test_median_interval_picks_the_order_statistics():
    values = np.random.default_rng(0).permutation(np.arange(1.0, 21.0))
    assert median_ci(values) == (6.0, 15.0)
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0]) is None
    assert ci_halfwidth(9.0, 10.0, 12.0) == pytest.approx(0.2)
    assert ci_halfwidth(0.0, 0.0, 0.0) == 0.0 and ci_halfwidth(0.0, 0.0, 1.0) == math.inf


@pytest.mark.parametrize("n", [6, 20, 57])
def test_the_interval_covers_the_true_median_of_a_lognormal_at_least_95_percent_of_the_time(n):
    rng = np.random.default_rng(13)
    samples = np.sort(rng.lognormal(mean=np.log(0.02), sigma=0.6, size=(2000, n)), axis=1)
    j, k = median_ci_ranks(n)
    covered = (samples[:, j - 1] <= 0.02) & (0.02 <= samples[:, k - 1])
    assert covered.mean() >= 0.95 - 0.015  # the binomial standard error of 2,000 trials is about 0.005


class Clock:
    """A fake ``time.perf_counter``: each scripted call advances it by the call's latency."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """A model whose batch-1 calls take the scripted totals (seconds), on the fake clock."""

    def __init__(self, totals, clock: Clock) -> None:
        self.totals, self.clock, self.calls = itertools.cycle(totals), clock, 0

    def predict(self, images):
        seconds = next(self.totals) * len(images)
        self.clock.now += seconds
        self.calls += 1
        return SimpleNamespace(times=StageTimes(0.1 * seconds, 0.8 * seconds, 0.1 * seconds))


DATASET = SimpleNamespace(images=[SimpleNamespace(load=lambda: np.zeros((4, 4, 3), np.uint8))] * 3)


def timed(totals, seeds=(), **settings):
    clock = Clock()
    model = Scripted(totals, clock)
    latency = [StageTimes(0.0, seconds, 0.0) for seconds in seeds]
    defaults = {"batch": 1, "iters": 200, "speed_budget": 60.0, "speed_precision": 0.05}
    settings = Settings(**{**defaults, **settings})
    budget = Budget(settings.speed_budget, clock)
    record, skipped = time_speed(model, DATASET, settings, latency, lambda *_: None, 3, budget)
    return record, model


def test_steady_latencies_stop_at_the_minimum():
    record, model = timed([0.010, 0.0101, 0.0099, 0.01005])
    assert record.timed_calls == MIN_TIMED_CALLS == model.calls == 6
    assert record.precise and record.latency_stop == "precision" and not record.stopped_by_budget
    low, high = record.median_ci_ms
    assert low <= record.latency_ms["total"]["median"] <= high and record.ci_halfwidth <= 0.05


def test_the_accuracy_pass_samples_count_and_a_precise_seed_needs_no_top_up():
    record, model = timed([0.5], seeds=[0.010, 0.0101, 0.0099, 0.01, 0.0102, 0.0098, 0.01, 0.0101])
    assert model.calls == 0 and record.timed_calls == 8 and record.precise
    record, model = timed([0.010], seeds=[0.010, 0.0101])
    assert model.calls == 4 and record.timed_calls == 6, "too few images: topped up by cycling"


def test_noisy_latencies_run_to_the_cap_and_are_not_precise():
    noisy = np.random.default_rng(1).lognormal(np.log(0.01), 0.8, size=500).tolist()
    record, model = timed(noisy, iters=40)
    assert record.timed_calls == model.calls == 40
    assert not record.precise and record.latency_stop == "iters" and record.ci_halfwidth > 0.05
    record, model = timed(noisy, iters=3)
    assert record.timed_calls == MIN_TIMED_CALLS, "the cap never goes under the minimum an interval needs"


def test_the_budget_stops_a_slow_noisy_model_before_a_call_that_would_not_fit():
    record, model = timed([1.0, 3.0], speed_budget=20.0)
    # 1+3+1+3+...: 20 s after 10 calls, and the 11th (as long as the median, 2 s) would not fit
    assert record.timed_calls == model.calls == 10 and record.budget_s == {"given": 20.0, "left": 0.0}
    assert record.latency_stop == "budget" and record.stopped_by_budget and not record.precise
    record, model = timed([30.0, 60.0], speed_budget=20.0)
    assert record.timed_calls == model.calls == 1, "one sample, whatever the budget: a latency, flagged"
    assert record.median_ci_ms is None and not record.precise and record.latency_stop == "budget"
    note, flag = interval_note(SimpleNamespace(result=ModelResult(speed=record)))
    assert flag and note == "no 95% interval of the median: the budget ran out after 1 timed call (6 needed)"


def test_the_warm_up_takes_at_most_a_quarter_of_the_budget_after_the_first_call():
    for seconds, budget_s, expected in ((0.01, 60.0, 3), (20.0, 60.0, 1), (5.0, 60.0, 3), (8.0, 60.0, 2)):
        clock = Clock()
        model = Scripted([seconds], clock)
        budget = Budget(budget_s, clock)
        calls, first = warm_up(model, np.zeros((4, 4, 3), np.uint8), Settings(warmup=3), lambda *_: None, budget)
        assert (calls, first) == (expected, seconds), (seconds, budget_s)
        assert budget.left == pytest.approx(budget_s - seconds * (calls - 1)), "the first call: cold start"


def test_a_zero_precision_times_until_the_cap():
    record, model = timed([0.010, 0.0101, 0.0099, 0.01005], iters=30, speed_precision=0.0)
    assert record.timed_calls == 30 and not record.precise


def test_batches_take_what_the_budget_has_left_and_are_skipped_when_two_would_not_fit():
    record, model = timed([0.010, 0.0101, 0.0099, 0.01005], batch=4, batch_calls=3)
    assert record.batch_calls == 3 and record.batch_size == 4
    clock = Clock()
    settings = Settings(batch=8, speed_budget=20.0)
    record, skipped = time_speed(Scripted([1.0], clock), DATASET, settings, [], lambda *_: None, 1, Budget(20.0, clock))
    # 6 calls of 1 s, precise (no spread); 14 s left: an untimed and a timed batch (8 s each) would not fit
    assert record.timed_calls == 6 and record.precise
    assert (
        skipped == "skipped: an untimed and a timed batch of 8 would take about 16 s, more than the 14 s left of "
        "--speed-budget 20; one untimed call on 2 images checked its output"
    ), "a call on two images (2 s) fits: the batch rule is checked though no batch is timed"
    record, skipped = time_speed(Scripted([1.0], clock), DATASET, Settings(batch=4, batch_calls=3, speed_budget=20.0),
                                 [], lambda *_: None, 1, Budget(20.0, clock))  # fmt: skip
    # 14 s left: the untimed batch (4 s), then timed ones while the next fits: 4 + 4 (2 s left)
    assert skipped is None and record.batch_calls == 2 and record.stopped_by_budget
    assert record.budget_s["left"] == pytest.approx(2.0)


def with_speed(speed: dict) -> SimpleNamespace:
    """A report series whose result holds this speed record."""
    return SimpleNamespace(result=ModelResult.from_dict({"speed": speed}))


def test_the_report_flags_an_interval_that_stayed_wide_with_the_reason():
    wide = {"median_ci_ms": [9.0, 12.0], "ci_halfwidth": 0.12, "timed_calls": 41, "precise": False}
    note, flag = interval_note(with_speed({**wide, "latency_stop": "budget"}))
    assert flag and note.startswith("the 95% interval of the median stayed ±12%: the budget ran out after 41 calls")
    note, flag = interval_note(with_speed({**wide, "precise": True, "ci_halfwidth": 0.024}))
    assert not flag and note == "95% interval of the median: 9.00–12.0 ms, from 41 timed calls"
    assert interval_note(with_speed({})) == ("", False)
    assert (plus_minus(0.024), plus_minus(0.123)) == ("±2.4%", "±12%")


def test_a_run_records_the_interval_and_the_leaderboard_and_report_show_it(tmp_path):
    code, _, stderr = run_zoo(
        "run", "--models", "reference-blobs,centre-box", "--data", "shapes:count=4,size=96x80,seed=1",
        "--out", str(tmp_path), "--no-isolation", "--warmup", "1", "--iters", "40", "--batch", "2",
        "--batch-calls", "1",
    )  # fmt: skip
    assert code == 0, stderr
    results = read_results(tmp_path).to_dict()
    assert results["context"]["settings"]["speed_precision"] == 0.05
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    for model in results["models"]:
        speed = model["speed"]
        low, high = speed["median_ci_ms"]
        median = speed["latency_ms"]["total"]["median"]
        assert low <= median <= high and MIN_TIMED_CALLS <= speed["timed_calls"] <= 40
        assert speed["ci_halfwidth"] == pytest.approx(max(high - median, median - low) / median)
        assert speed["precise"] == (speed["ci_halfwidth"] <= 0.05) and speed["latency_stop"] in {"precision", "iters"}
        row = board.loc[model["id"]]
        assert row["latency_ms_ci_low"] == pytest.approx(low, rel=1e-5)
        assert row["latency_ms_ci_high"] == pytest.approx(high, rel=1e-5)
        assert bool(row["speed_precise"]) == speed["precise"]
        assert row["load_s"] == pytest.approx(model["load_s"], rel=1e-5), "cold start, part 1"
        assert row["first_call_ms"] == pytest.approx(model["first_call_s"] * 1000, rel=1e-5), "cold start, part 2"
        phases = model["phases_s"]
        assert list(phases) == ["load", "warm_up", "describe", "predict", "score", "speed"], "where the time went"
        timed = speed["timed_calls"] * speed["latency_ms"]["total"]["min"] / 1000
        assert timed <= model["in_model_s"] <= sum(phases.values()), "inside the models: a part of the phases"
    assert "timing (warm-up and speed)" in stderr and "on top of" in stderr and "accuracy passes (" in stderr
    page = (tmp_path / "index.html").read_text()
    assert "p50 ±" in page and "1st call ms" in page and "first call after loading" in page
    assert "(95% interval " in page, "the model's details give the interval and why timing stopped"
    assert "where the time went" in page and "inside the model&#39;s own calls" in page


def test_a_negative_precision_is_a_user_error(tmp_path):
    code, _, stderr = run_zoo("run", "--speed-precision", "-0.1", "--out", str(tmp_path / "o"))
    assert code == 2 and "--speed-precision -0.1: give 0 or more" in stderr


def test_the_first_call_at_a_new_image_size_warms_that_size_and_is_not_a_sample():
    """A model that is slow the first time it sees an input size (kernels picked, buffers grown): that call is a
    warm-up for the size, so the samples, and p95, describe the model."""
    clock = Clock()

    class SlowAtNewSizes:
        def __init__(self) -> None:
            self.seen: set[tuple[int, ...]] = set()

        def predict(self, images):
            seconds = 0.010 if images[0].shape in self.seen else 1.0
            self.seen.add(images[0].shape)
            clock.now += seconds
            return SimpleNamespace(times=StageTimes(0.0, seconds, 0.0))

    def image(height: int, width: int) -> SimpleNamespace:
        return SimpleNamespace(width=width, height=height, load=lambda: np.zeros((height, width, 3), np.uint8))

    dataset = SimpleNamespace(images=[image(4, 4), image(6, 8), image(4, 4), image(9, 5)])
    model = SlowAtNewSizes()
    model.predict([dataset.images[0].load()])  # the warm-up, at the first image's size
    settings = Settings(batch=1, iters=200, speed_budget=60.0, speed_precision=0.05)
    budget = Budget(settings.speed_budget, clock)
    record, _ = time_speed(model, dataset, settings, [], lambda *_: None, 1, budget, sizes={(4, 4)})
    assert record.latency_ms["total"]["max"] == pytest.approx(10.0), "no first call at a new size among them"
    assert record.timed_calls >= MIN_TIMED_CALLS
