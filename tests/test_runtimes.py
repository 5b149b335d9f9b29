"""``zoo run --runtimes``: runtime rows ``MODEL@RUNTIME`` beside the torch rows, their agreement, the export cache,
and ``unsupported`` rows. Tiny untrained models (torchvision at a small input, YOLO from its yaml, a tiny DETR)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import SMALL_SHAPES
from tests.test_run import FAST, run_zoo
from zoo.errors import ZooError
from zoo.runfolder import read_results
from zoo.runtimes import agreement, expand, parse
from zoo.runtimes.cache import root

pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_ort = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
SSD = "ssdlite320_mobilenet_v3_large"


def _run(out, models: str, runtimes: str, *extra: str) -> dict:
    code, _, stderr = run_zoo(
        "run", "--models", models, "--runtimes", runtimes, "--data", SMALL_SHAPES, "--limit", "2",
        "--out", str(out), "--no-isolation", "--speed-budget", "2", *FAST, *extra,
    )  # fmt: skip
    assert code == 0, stderr
    return {row["id"]: row for row in read_results(out).to_dict()["models"]}


def _agrees(row: dict) -> None:
    """An fp32 export agrees with its torch row to within float tolerance, on the run's images and in-process."""
    record = row["runtime"]
    assert row["status"] == "ok", row["reason"]
    for found in (record["graph_check"], record["agreement"]):
        assert found["boxes_compared"] > 0, found
        matched = found["matched_share"] + found["unmatched_tied"] / found["boxes_compared"]
        assert matched >= 0.98 and found["max_box_deviation_px"] < 0.05, found
        assert found["max_score_deviation"] < 1e-3 and found["max_sorted_score_deviation"] < 1e-3, found
    assert record["agreement"]["within_tolerance"] is True


def test_the_runtimes_option_expands_entries_and_refuses_unknown_names():
    from zoo.registry import Entry

    entries, weights = expand([Entry("a", "a")], "torch,onnxruntime,openvino-int8", {"a": "untrained"})
    assert [(e.id, e.runtime) for e in entries] == [("a", ""), ("a@onnxruntime", "onnxruntime"),
                                                    ("a@openvino-int8", "openvino-int8")]  # fmt: skip
    assert weights == {"a": "untrained", "a@onnxruntime": "untrained", "a@openvino-int8": "untrained"}
    with pytest.raises(ZooError, match="unknown runtime 'tensorrt'"):
        parse("torch,tensorrt")


def test_agreement_matches_boxes_one_to_one_by_label_at_iou_09():
    torch_row = [{"image_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9, "zoo_label": "cat"},
                 {"image_id": 1, "bbox": [20, 20, 10, 10], "score": 0.8, "zoo_label": "dog"}]  # fmt: skip
    same = agreement.compare(torch_row, torch_row)
    assert same["matched_share"] == 1.0 and same["max_box_deviation_px"] == 0.0
    moved = [dict(torch_row[0], bbox=[0.2, 0, 10, 10]), dict(torch_row[1], zoo_label="cat")]
    found = agreement.compare(torch_row, moved)
    assert found["matched_share"] == 0.5 and found["max_box_deviation_px"] == pytest.approx(0.2)
    shifted = [dict(torch_row[0], bbox=[3, 0, 10, 10])]  # IoU 0.54: not the same box
    assert agreement.compare(torch_row, shifted)["matched_share"] == 0.0


@pytest.fixture(scope="module")
def ssd_weights(tmp_path_factory):
    """An untrained SSDlite whose norms and class head are perturbed: as built, its features barely vary across
    the image and most boxes tie on score, which leaves little for the agreement to compare."""
    import torch
    import torchvision

    torch.manual_seed(0)
    module = torchvision.models.get_model(SSD, weights=None, weights_backbone=None)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if parameter.dim() == 1:
                parameter.add_(torch.randn_like(parameter) * 0.5)
            if "classification" in name:
                parameter.normal_(0, 0.3)
    path = tmp_path_factory.mktemp("ssd") / "ssd.pth"
    torch.save(module.state_dict(), path)
    return ["--weights", f"{SSD}={path}", "--imgsz", "96"]


@needs_ort
def test_onnxruntime_rows_of_a_torchvision_detector_agree_and_reuse_the_cache(tmp_path, ssd_weights):
    weights = ssd_weights
    openvino = importlib.util.find_spec("openvino") is not None
    rows = _run(tmp_path / "a", SSD, "torch,onnxruntime" + (",openvino" if openvino else ""), *weights)
    assert set(rows) == {SSD, f"{SSD}@onnxruntime"} | ({f"{SSD}@openvino"} if openvino else set())
    row = rows[f"{SSD}@onnxruntime"]
    assert row["family"] == rows[SSD]["family"] and row["framework"] == "onnxruntime"
    record = row["runtime"]
    assert record["torch_row"] == SSD and record["runtime"] == "onnxruntime" and record["precision"] == "fp32"
    assert record["provider"] == "CPUExecutionProvider" and record["version"]
    assert record["accuracy"]["file_mb"] > 0 and record["accuracy"]["cached"] is False
    assert record["inputs_fed"][0][0]["image"][0][0] == 3, "fed the plugin's own (3, H, W) image tensor"
    _agrees(row)
    assert "speed" in record, "the score threshold is in torchvision's graph: the speed setting is its own export"
    if openvino:
        row = rows[f"{SSD}@openvino"]
        assert row["runtime"]["provider"].startswith("CPU") and row["runtime"]["accuracy"]["file"].endswith(".xml")
        _agrees(row)
    exports = len(list(root().iterdir()))
    assert exports == (4 if openvino else 2), "one export for accuracy, one at the speed setting, per runtime"
    again = _run(tmp_path / "b", SSD, "onnxruntime", *weights)[f"{SSD}@onnxruntime"]
    assert again["runtime"]["accuracy"]["cached"] is True and again["runtime"]["accuracy"]["export_s"] is None
    assert again["runtime"]["agreement"] is None and "torch row" in again["runtime"]["agreement_missing"]
    assert len(list(root().iterdir())) == exports


@needs_ort
def test_a_model_that_cannot_export_and_a_missing_runtime_are_unsupported_rows(tmp_path, monkeypatch):
    import zoo.runtimes.engines as engines

    real = engines.require

    def no_openvino(module: str, purpose: str):
        if module.startswith("openvino"):
            raise engines.Unsupported(
                f"{purpose} needs {module}, which is not usable here; pip install 'zoo[openvino]'"
            )
        return real(module, purpose)

    monkeypatch.setattr(engines, "require", no_openvino)
    rows = _run(tmp_path, "reference-blobs", "torch,onnxruntime,openvino")
    assert set(rows) == {"reference-blobs", "reference-blobs@onnxruntime", "reference-blobs@openvino"}
    cannot = rows["reference-blobs@onnxruntime"]
    assert cannot["status"] == "unsupported" and "no exporter to ONNX" in cannot["reason"]
    assert cannot["runtime"]["torch_row"] == "reference-blobs"
    missing = rows["reference-blobs@openvino"]
    assert missing["status"] == "unsupported" and "zoo[openvino]" in missing["reason"]


@needs_ort
def test_onnxruntime_rows_of_yolo_from_its_yaml_agree(tmp_path, yolo_weights):
    rows = _run(tmp_path, "yolov8n", "torch,onnxruntime", *yolo_weights)
    row = rows["yolov8n@onnxruntime"]
    assert "ultralytics' own exporter" in row["runtime"]["exporter"]
    _agrees(row)


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory):
    """An untrained yolov8n from its yaml, its class scores near 0.12 and differing (a fresh head's all tie)."""
    import torch

    from tests.test_ultralytics import plugin

    module = plugin()
    module.import_ultralytics()
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml")
    model.model.names = dict(enumerate(module.coco_names()))
    for branch in model.model.model[-1].cv3:
        torch.nn.init.normal_(branch[-1].weight, 0, 0.2)
        torch.nn.init.constant_(branch[-1].bias, -2.0)
    path = tmp_path_factory.mktemp("yolo") / "yolov8n.pt"
    model.save(path)
    return ["--weights", f"yolov8n={path}", "--imgsz", "64"]


@needs_ort
def test_int8_rows_calibrate_on_images_that_are_not_scored(tmp_path, yolo_weights):
    nncf = importlib.util.find_spec("nncf") is not None and importlib.util.find_spec("openvino") is not None
    runtimes = "torch,onnxruntime-int8" + (",openvino-int8" if nncf else "")
    rows = _run(tmp_path / "a", "yolov8n", runtimes, *yolo_weights)
    for runtime in runtimes.split(",")[1:]:
        row = rows[f"yolov8n@{runtime}"]
        assert row["status"] == "ok", row["reason"]
        record = row["runtime"]
        assert record["precision"] == "int8" and record["calibration"], record
        assert not {c.split(":")[0] for c in record["calibration"]} & {"1", "2"}, "images 1 and 2 are scored"
        assert record["agreement"]["boxes_compared"] > 0, "int8 agreement is measured, whatever it is"
    everything = _run(tmp_path / "b", "yolov8n", "onnxruntime-int8", *yolo_weights, "--limit", "6")
    row = everything["yolov8n@onnxruntime-int8"]
    assert row["status"] == "unsupported" and "--calibration" in row["reason"]


@needs_ort
def test_onnxruntime_rows_of_a_tiny_detr_agree(tmp_path):
    import torch
    import transformers as hf

    torch.manual_seed(0)
    backbone = hf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                               out_features=["stage2"])  # fmt: skip
    config = hf.DetrConfig(backbone_config=backbone, d_model=16, encoder_layers=1, decoder_layers=1,
                           encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
                           decoder_attention_heads=2, num_queries=10, use_timm_backbone=False)  # fmt: skip
    folder = tmp_path / "tiny-detr"
    hf.DetrForObjectDetection(config).save_pretrained(folder)
    hf.DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(folder)
    rows = _run(tmp_path / "run", "detr-resnet-50", "torch,onnxruntime", "--weights", f"detr-resnet-50={folder}")
    _agrees(rows["detr-resnet-50@onnxruntime"])


def test_the_report_view_puts_a_models_runtime_rows_beside_its_torch_row():
    from types import SimpleNamespace

    from zoo.results import ModelResult
    from zoo.runtimes import view

    run = SimpleNamespace(label="run")

    def series(row_id: str, p50: float | None, status: str = "ok", runtime: dict | None = None):
        result = ModelResult(id=row_id, framework="torchvision", runtime=runtime)
        return SimpleNamespace(run=run, result=result, row={"latency_ms_p50": p50, "map": None}, status=status,
                               reason="" if status == "ok" else "no exporter")  # fmt: skip

    agreement = {"matched_share": 0.995, "max_box_deviation_px": 0.01, "map_diff": None, "within_tolerance": True}
    rows = [
        series("m", 40.0),
        series("m@onnxruntime", 10.0, runtime={"runtime": "onnxruntime", "torch_row": "m", "agreement": agreement,
                                               "accuracy": {"file_mb": 14.0}, "provider": "CPUExecutionProvider"}),
        series("m@openvino", None, "unsupported", {"runtime": "openvino", "torch_row": "m"}),
        series("other", 5.0),
    ]  # fmt: skip
    groups = view.build(rows)
    assert [g.model for g in groups] == ["m"]
    torch_row, onnx, openvino = groups[0].rows
    assert torch_row.runtime == "torch" and onnx.cells[3] == "4.00×" and onnx.cells[6] == "99.5%" and onnx.within
    assert openvino.cells[1] == "unsupported" and openvino.notes == "no exporter" and openvino.cells[3] == "—"
