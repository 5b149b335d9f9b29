"""On a CUDA device (skipped where there is none): models run on the GPU, the timers wait for it, its memory is
measured, and the numbers a model scores do not depend on where it ran."""

from __future__ import annotations

import pytest
import torch

from tests.test_regressor import TINY, train
from tests.test_run import FAST, run_zoo
from zoo.runfolder import read_results

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

MODELS = "regressor,fasterrcnn_mobilenet_v3_large_320_fpn,yolov8n,detr-resnet-50,reference-blobs"


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))


def run_on(device: str, checkpoint, out) -> dict:
    code, _, stderr = run_zoo(
        "run", "--models", MODELS, "--data", TINY, "--weights", f"regressor={checkpoint}",
        "--device", device, "--out", str(out), *FAST,
    )  # fmt: skip
    assert code == 0, stderr
    return read_results(out).to_dict()


def test_a_run_on_cuda_measures_the_gpu_and_scores_as_on_the_cpu(tmp_path):
    checkpoint = tmp_path / "regressor.pt"
    assert train(checkpoint, "--epochs", "2")[0] == 0
    cuda, cpu = run_on("cuda", checkpoint, tmp_path / "cuda"), run_on("cpu", checkpoint, tmp_path / "cpu")

    hardware = cuda["context"]["hardware"]
    assert hardware["device"] == "cuda" and hardware["gpu"] == torch.cuda.get_device_name(0) and hardware["cuda"]
    rows = {row["id"]: row for row in cuda["models"]}
    assert rows["regressor"]["status"] == "ok"
    for model_id in ("fasterrcnn_mobilenet_v3_large_320_fpn", "yolov8n", "detr-resnet-50"):
        assert rows[model_id]["status"] == "no-weights", "timed on an untrained copy, on the GPU"
    for model_id in ("regressor", "fasterrcnn_mobilenet_v3_large_320_fpn", "yolov8n", "detr-resnet-50"):
        row = rows[model_id]
        assert row["memory"]["device_peak_mb"] > 0, f"{model_id}: its weights and activations live on the GPU"
        latency = row["speed"]["latency_ms"]
        assert latency["inference"]["median"] > 0 and row["speed"]["images_per_s_batch"] > 0
    assert rows["reference-blobs"]["memory"]["device_peak_mb"] == 0, "a numpy model allocates nothing on the GPU"

    on_cpu = {row["id"]: row for row in cpu["models"]}
    for model_id in ("regressor", "reference-blobs"):
        got, expected = rows[model_id]["accuracy"]["localization"], on_cpu[model_id]["accuracy"]["localization"]
        assert got["mean_iou"] == pytest.approx(expected["mean_iou"], abs=1e-3), model_id


def test_the_regressor_trains_on_cuda_and_its_checkpoint_loads_on_the_cpu(tmp_path):
    checkpoint = tmp_path / "regressor.pt"
    code, _, stderr = train(checkpoint, "--epochs", "3", "--device", "cuda")
    assert code == 0, stderr
    saved = torch.load(checkpoint, weights_only=True, map_location="cpu")
    assert saved["meta"]["device"] == "cuda"
    assert all(tensor.device.type == "cpu" for tensor in saved["model"].values())
    code, _, stderr = run_zoo(
        "run", "--models", "regressor", "--data", TINY, "--weights", f"regressor={checkpoint}",
        "--out", str(tmp_path / "run"), *FAST,
    )  # fmt: skip
    assert code == 0, stderr
    assert read_results(tmp_path / "run").to_dict()["models"][0]["status"] == "ok"
