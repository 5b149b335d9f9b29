"""Efficiency against the hardware's peak: each run measures the device's float32 peak once, and every model's
achieved GFLOP/s and its share of that peak follow from its GFLOPs and its median inference time."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest
import torch

from tests.test_run import FAST, run_zoo
from zoo.device import measure_peak_gflops
from zoo.leaderboard import rows
from zoo.report import leaderboards
from zoo.report.details import run_context
from zoo.report.runs import RunSource, read_runs, read_series
from zoo.runfolder import read_results

NUMPY_MODELS = ("reference-blobs", "centre-box")  # no torch: the flop counter sees nothing


def test_the_peak_is_a_positive_rate_measured_in_moments():
    started = time.perf_counter()
    gflops, method = measure_peak_gflops("cpu", seconds=0.1)
    assert time.perf_counter() - started < 10  # a bound on the test, not a timing assertion on the device
    assert gflops > 0 and math.isfinite(gflops)
    assert method.startswith("float32 matmul 2048², ") and " reps in " in method and " thread" in method


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("efficiency")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(out / "empty-torch-home"))
        code, _, stderr = run_zoo(
            "run", "--no-isolation", "--models", f"{','.join(NUMPY_MODELS)},ssdlite320_mobilenet_v3_large",
            "--data", "shapes:count=3,size=96x80,seed=1", "--out", str(out), *FAST,
        )  # fmt: skip
    assert code == 0, stderr
    return out


def test_a_run_records_the_peak_and_each_model_its_share_of_it(run):
    results = read_results(run)
    hardware = results.context["hardware"]
    peak = hardware["peak_gflops"]
    assert peak > 0 and hardware["peak_method"].startswith("float32 matmul 2048²")
    assert f"torch {hardware['torch_threads']} thread" in hardware["peak_method"]

    board = {r["model"]: r for r in rows(results)}
    csv = pd.read_csv(run / "leaderboard.csv").set_index("model")
    ssd = next(m for m in results.to_dict()["models"] if m["id"] == "ssdlite320_mobilenet_v3_large")
    rate = ssd["info"]["gflops"] / (ssd["speed"]["latency_ms"]["inference"]["median"] / 1000)
    assert ssd["info"]["gflops"] > 0
    assert board[ssd["id"]]["gflops_per_s"] == pytest.approx(rate, rel=1e-12)
    assert board[ssd["id"]]["peak_share"] == pytest.approx(rate / peak, rel=1e-12)
    assert csv.loc[ssd["id"], "gflops_per_s"] == pytest.approx(rate, rel=1e-5)  # the CSV keeps six digits
    assert csv.loc[ssd["id"], "peak_share"] == pytest.approx(rate / peak, rel=1e-5)
    for model in NUMPY_MODELS:  # timed, but no GFLOPs: blank, not 0
        assert board[model]["inference_ms_p50"] is not None
        assert board[model]["gflops_per_s"] is None and board[model]["peak_share"] is None
        assert pd.isna(csv.loc[model, "gflops_per_s"]) and pd.isna(csv.loc[model, "peak_share"])


def test_the_report_shows_the_rate_the_share_and_the_peak(run):
    sources = [RunSource(read_results(run), run)]
    runs = read_runs(sources, run)
    series = read_series(runs, sources)
    speed = next(t for t in leaderboards.tables(series) if t.key == "speed")
    labels = [c.label for c in speed.columns]
    rate, share = labels.index("GFLOP/s"), labels.index("% of peak")
    assert "bound by memory, Python or postprocessing" in speed.columns[share].help
    assert "an estimate when image sizes vary" in speed.columns[rate].help
    cells = {r.series.model: r.cells for r in speed.rows}
    peak = sources[0].results.context["hardware"]["peak_gflops"]
    ssd = cells["ssdlite320_mobilenet_v3_large"]
    assert float(ssd[share].sort) == pytest.approx(float(ssd[rate].sort) / peak) and ssd[share].text.endswith("%")
    for model in NUMPY_MODELS:
        for cell in (cells[model][rate], cells[model][share]):
            assert cell.text == "—" and cell.why == "torch's flop counter saw no operation (not a torch model)"

    machine = next(g for g in run_context(runs) if g.title == "Machine")
    shown = {r.key: r.values[0] for r in machine.rows}
    assert shown["peak_gflops"].endswith(f"GFLOP/s ({sources[0].results.context['hardware']['peak_method']})")
    assert "peak_method" not in shown
    html = (run / "index.html").read_text()
    assert "GFLOP/s" in html and "% of peak" in html


def test_a_resumed_run_keeps_the_peak_its_models_were_compared_with(run):
    """The peak varies a little from one measurement to the next; a new one would make the folder's earlier
    results look like another machine's, and the resumed run would be refused."""
    before = read_results(run).to_dict()["context"]["hardware"]
    code, _, stderr = run_zoo(
        "run", "--no-isolation", "--models", ",".join(NUMPY_MODELS),
        "--data", "shapes:count=3,size=96x80,seed=1", "--out", str(run), *FAST,
    )  # fmt: skip
    assert code == 0, stderr
    after = read_results(run).to_dict()["context"]["hardware"]
    assert (after["peak_gflops"], after["peak_method"]) == (before["peak_gflops"], before["peak_method"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_peak_of_a_cuda_device_is_measured_on_it():
    gflops, method = measure_peak_gflops("cuda", seconds=0.2)
    assert gflops > 0 and "cuda, TF32 " in method
