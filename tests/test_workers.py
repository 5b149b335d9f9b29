"""Workers forked from a preloaded fork server (`zoo.workers`) time a model exactly as the direct path does, die
with zoo, and keep their log; peak memory is read without a thread beside the model; FLOPs are counted on an
untimed call (`zoo.flops`). Speed is measured on a fake clock, never asserted against a real one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.conftest import SMALL_SHAPES
from zoo.data import load_dataset
from zoo.device import PeakMemory, count_flops
from zoo.flops import FlopCall
from zoo.isolation import Limits, WorkerSetup, run_in_process, run_isolated
from zoo.model import Model
from zoo.plugins import load_plugins
from zoo.registry import Entry, load_registry
from zoo.settings import Settings, no_report

ROOT = Path(__file__).resolve().parent.parent
CLOCK_PLUGINS = Path(__file__).parent / "clock_plugins"
FAULT_PLUGINS = Path(__file__).parent / "fault_plugins"
SCRIPTED = Entry(id="scripted", model="scripted", family="test")
SETTINGS = Settings(warmup=3, iters=8, speed_precision=0.0, speed_budget=3600.0, batch=2, batch_calls=2)
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's /proc and parent-death signal")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(SMALL_SHAPES)


def speed_without_wall_clock(run) -> dict:
    """The speed record, less what the real clock decides (the budget's seconds left)."""
    assert run.result.status == "ok", run.result.reason
    speed = run.result.speed.to_dict()
    speed.pop("budget_s")
    return speed


@pytest.mark.parametrize("start", ["forkserver", "spawn"])
def test_a_worker_times_a_model_exactly_as_the_direct_path_does(start, dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_WORKER_START", start)
    monkeypatch.setattr(time, "perf_counter", time.perf_counter)  # the scripted model replaces it: put it back after
    setup = WorkerSetup(plugin_dirs=(str(CLOCK_PLUGINS),))
    isolated = run_isolated(SCRIPTED, dataset, SETTINGS, setup, Limits(), tmp_path, tmp_path / "log", no_report)
    direct = run_in_process(SCRIPTED, dataset, SETTINGS, load_plugins([CLOCK_PLUGINS]), no_report)
    assert speed_without_wall_clock(isolated) == speed_without_wall_clock(direct)
    samples = isolated.result.speed.latency_samples_ms["inference"]
    assert len(samples) == 8 and set(np.round(samples, 6)) <= {40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0}
    assert isolated.result.speed.median_ci_ms is not None, "the order-statistic interval is still recorded"


@linux
def test_a_forked_worker_dies_with_zoo_and_writes_its_log(tmp_path):
    log = tmp_path / "hang.log"
    script = textwrap.dedent(f"""
        from pathlib import Path
        from zoo.data import load_dataset
        from zoo.isolation import Limits, WorkerSetup, run_isolated
        from zoo.registry import Entry
        from zoo.settings import Settings, no_report
        entry = Entry(id="hang", model="faulty", options={{"fault": "hang"}})
        run_isolated(entry, load_dataset({SMALL_SHAPES!r}), Settings(), WorkerSetup(({str(FAULT_PLUGINS)!r},)),
                     Limits(stall_timeout=None), Path({str(tmp_path)!r}), Path({str(log)!r}), no_report)
    """)
    env = {**os.environ, "ZOO_WORKER_START": "forkserver"}
    zoo = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 240
        while "zoo: hang: loading" not in (log.read_text() if log.exists() else ""):
            assert zoo.poll() is None and time.monotonic() < deadline, "the worker never started"
            time.sleep(0.2)
        family = psutil.Process(zoo.pid).children(recursive=True)
        assert len(family) >= 2, "a fork server and its worker"
    finally:
        zoo.send_signal(signal.SIGKILL)
        zoo.wait()
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"left running after zoo was killed: {alive}"


@linux
def test_peak_memory_is_the_high_water_mark_read_without_a_thread():
    threads = threading.active_count()
    with PeakMemory("cpu") as memory:
        assert threading.active_count() == threads, "nothing runs beside the model"
        block = np.ones(256 * 2**20 // 8)
        del block
    assert memory.record()["rss_increase_mb"] > 200, "an allocation freed before the end still counts"


class Tiny(Model):
    framework = "torch"

    def load(self, device):
        import torch

        self.labels = None
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def preprocess(self, images):
        import torch

        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()

    def forward(self, batch):
        return self.conv(batch)

    def postprocess(self, outputs, images):
        from zoo import Detections

        return [Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)) for _ in images]


def test_flops_are_counted_on_the_first_call_after_the_cold_start_and_it_is_no_sample():
    model = Tiny()
    model.load("cpu")
    image = np.zeros((24, 32, 3), np.uint8)
    flops = FlopCall(model)
    model.predict([image])  # the cold start: timed, never counted
    assert not flops.counted
    counted = model.predict([image])
    assert flops.flops == count_flops(lambda: model.forward(model.preprocess([image]))) > 0
    assert flops.image == (24, 32)
    later = model.predict([image])
    latency = [counted.times, later.times]
    flops.drop_sample(latency)
    assert latency == [later.times]


def test_without_an_untimed_call_the_flops_are_counted_on_a_pass_of_their_own():
    model = Tiny()
    model.load("cpu")
    image = np.zeros((24, 32, 3), np.uint8)
    flops = FlopCall(model)
    model.predict([image])
    flops.disarm()  # the next calls are timed
    model.predict([image])
    assert not flops.counted
    flops.count_apart(image)
    info, missing = {}, {}
    flops.record(info, missing)
    assert info["gflops"] > 0 and info["gflops_image"] == "32x24" and not missing


@pytest.mark.parametrize("left", [0.5, 0.01])
def test_a_pass_of_its_own_is_made_only_when_it_fits_in_what_timing_left_of_the_budget(left):
    from zoo.runner import _count_apart, blank_result
    from zoo.timing import Budget

    model = Tiny()
    model.load("cpu")
    image = np.zeros((24, 32, 3), np.uint8)
    flops = FlopCall(model)
    flops.disarm()
    result = blank_result(next(entry for entry in load_registry() if entry.id == "centre-box"))
    result.first_call_s = 0.2  # no latency samples: the first call's time is what a pass is expected to take
    budget = Budget(20.0)
    budget.left = left
    _count_apart(flops, image, budget, result)
    info, missing = {}, {}
    flops.record(info, missing)
    if left > 0.2:
        assert info["gflops"] > 0 and not missing and budget.left < left  # the pass is charged to the budget
    else:
        assert info["gflops"] is None and budget.left == left
        assert "did not fit in the 0.01 s left of --speed-budget 20" in missing["gflops"]


def test_a_model_not_counted_shows_the_catalogues_count_said_as_such():
    from zoo.flops import CATALOGUE
    from zoo.results import Info
    from zoo.runner import _record_flops, blank_result

    entry = Entry(id="heavy", model="heavy", family="test", meta={"gflops": 123.4})
    result = blank_result(entry)
    result.info = Info()
    flops = FlopCall(Tiny())
    flops.not_counted("not counted: no untimed call of the protocol carried the counter")
    _record_flops(flops, None, entry, result)
    assert (result.info.gflops, result.info.gflops_image, result.info.gflops_source) == (
        123.4,
        "640x480",
        CATALOGUE,
    )
    assert "gflops" not in result.missing
    assert "catalogue's count for a 640x480 image; in this run they were not counted: no untimed call" in result.notes
    trained = Entry(id="heavy-trained", model="heavy", family="test", meta={"gflops": 123.4, "trained_on": {}})
    result = blank_result(trained)
    result.info = Info()
    _record_flops(flops, None, trained, result)  # a fine-tuned head: the catalogue's count is not its count
    assert result.info.gflops is None and result.missing["gflops"].startswith("not counted")
