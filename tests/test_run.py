"""`zoo run` end to end: the run folder, honest rows for every outcome, weights through the real loading path."""

from __future__ import annotations

import contextlib
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

import zoo
from tests.conftest import FAST, SMALL_SHAPES, run_zoo  # noqa: F401 - FAST and run_zoo: other test modules import them here
from zoo.plugins import load_plugins
from zoo.runfolder import read_results

REQUIRED = ["model", "family", "status", "mean_iou", "map", "map50", "latency_ms_p50", "latency_ms_p95", "images_per_s"]

FAULTY_PLUGINS = '''
import json
from pathlib import Path
import zoo

class RaisesAtPredict(zoo.Model):
    name = "raises-at-predict"
    family = "test"
    def load(self, device):
        self.labels = ["circle"]
    def forward(self, batch):
        raise RuntimeError("the model exploded [/] :x:")  # printed as it is: not rich markup, not an emoji

class SeesEarlierResults(zoo.Model):
    """Loads after the others: records which models results.json already holds at that moment."""
    name = "sees-earlier-results"
    family = "test"
    def __init__(self, *, weights=None, out=""):
        super().__init__(weights=weights)
        self.out = out
    def load(self, device):
        seen = [m["id"] for m in json.loads((Path(self.out) / "results.json").read_text())["models"]]
        raise zoo.WeightsUnavailable("seen: " + ",".join(seen))

@zoo.hookimpl
def register_models(register):
    register(RaisesAtPredict)
    register(SeesEarlierResults)
'''


def test_run_folder_has_every_file(shapes_run):
    names = {p.name for p in shapes_run.iterdir()}
    assert {"results.json", "leaderboard.csv", "index.html", "ground_truth.json", "predictions"} <= names
    assert {p.name for p in (shapes_run / "predictions").iterdir()} == {"reference-blobs.json", "centre-box.json"}


def test_leaderboard_rows_are_honest(shapes_run):
    board = pd.read_csv(shapes_run / "leaderboard.csv").set_index("model")
    assert list(board.reset_index().columns[: len(REQUIRED)]) == REQUIRED
    blobs, centre, ssd = (board.loc[m] for m in ("reference-blobs", "centre-box", "ssdlite320_mobilenet_v3_large"))
    assert blobs["status"] == "ok" and blobs["mean_iou"] > 0.9 and blobs["map"] > 0.5
    assert centre["status"] == "ok" and 0 <= centre["mean_iou"] < blobs["mean_iou"]
    assert pd.isna(centre["map"]) and "class-agnostic" in centre["reason"]
    assert ssd["status"] == "no-weights"
    assert pd.isna(ssd["mean_iou"]) and pd.isna(ssd["map"]), "no accuracy without weights, and never a 0"
    assert ssd["latency_ms_p50"] > 0 and ssd["images_per_s"] > 0, "speed is still measured, on an untrained copy"
    assert "ssdlite320_mobilenet_v3_large_coco-a79551df.pth is not in" in ssd["reason"]
    assert ssd["weights"] == "untrained (random initialisation)"
    assert ssd["params_m"] > 1 and ssd["gflops"] > 0.1
    assert board.index[0] == "reference-blobs", "sorted best first"


def test_results_record_the_context_and_the_protocol(shapes_run):
    results = read_results(shapes_run).to_dict()
    context = results["context"]
    assert context["dataset"]["fingerprint"] and context["dataset"]["images"] == 6
    assert context["versions"]["torch"] and context["versions"]["python"]
    assert context["hardware"]["device"] == "cpu" and context["hardware"]["torch_threads"] >= 1
    settings = context["settings"]
    assert (
        settings["iou_conf"] == 0.5
        and "none applied by zoo" in settings["score_threshold_for_ap"]
        and settings["predict_batch"] == 1
    )
    assert settings["warmup"] == 1 and settings["iters"] == 3 and settings["batch"] == 2
    blobs = next(m for m in results["models"] if m["id"] == "reference-blobs")
    speed = blobs["speed"]
    assert speed["timed_calls"] == 6, "every image is timed at batch 1 (6 > --iters 3)"
    assert set(speed["latency_ms"]) == {"preprocess", "inference", "postprocess", "total"}
    assert {"median", "p90", "p95", "mean", "std"} <= set(speed["latency_ms"]["total"])
    assert speed["batch_size"] == 2 and speed["images_per_s_batch"] > 0
    assert blobs["labels"]["mapped"] == {"circle": "circle", "square": "square", "triangle": "triangle"}


def test_predictions_rescored_by_pycocotools_equal_the_reported_ap(shapes_run):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(shapes_run / "ground_truth.json"))
        evaluator = COCOeval(gt, gt.loadRes(str(shapes_run / "predictions" / "reference-blobs.json")), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    blobs = next(m for m in read_results(shapes_run).to_dict()["models"] if m["id"] == "reference-blobs")
    assert blobs["accuracy"]["coco"]["map"] == pytest.approx(evaluator.stats[0], abs=1e-9)
    fields = {
        name: {key for r in json.loads((shapes_run / "predictions" / f"{name}.json").read_text()) for key in r}
        for name in ("reference-blobs", "centre-box")
    }
    assert fields["reference-blobs"] == {"image_id", "category_id", "bbox", "score", "zoo_label"}
    assert fields["centre-box"] == {"image_id", "category_id", "bbox", "score"}, "class-agnostic: no label of its own"
    assert blobs["labels"]["zero_size_boxes"] == 0


def test_report_is_rebuilt_from_the_run_folder_without_running_a_model(shapes_run, tmp_path):
    (shapes_run / "index.html").unlink()
    (shapes_run / "leaderboard.csv").unlink()
    code, stdout, _ = run_zoo("report", str(shapes_run))
    assert code == 0 and stdout.strip().endswith("index.html")
    html = (shapes_run / "index.html").read_text()
    assert "reference-blobs" in html and "ssdlite320_mobilenet_v3_large" in html and "no-weights" in html
    assert (shapes_run / "leaderboard.csv").is_file()


def test_a_failing_model_gets_a_failed_row_and_finished_results_are_already_on_disk(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "faulty.py").write_text(FAULTY_PLUGINS)
    registry = tmp_path / "registry.yaml"
    out = tmp_path / "run"
    registry.write_text(
        "models:\n  reference-blobs: {}\n  raises-at-predict: {}\n"
        f"  sees-earlier-results:\n    options: {{out: '{out}'}}\n"
    )
    code, _, stderr = run_zoo(
        "run",
        "--plugins-dir",
        str(plugins),
        "--registry",
        str(registry),
        "--data",
        SMALL_SHAPES,
        "--out",
        str(out),
        "--no-untrained-speed",
        *FAST,
    )
    assert code == 1, "a failed model makes the run's exit status 1 (a CI job notices)"
    assert "zoo: 1 of 3 model(s) failed: raises-at-predict; their reasons are above" in stderr
    assert re.search(r"\n  reference-blobs: predicting \(6\) at \d+ s\n", stderr), "a line per phase in a log"
    rows = {m["id"]: m for m in read_results(out).to_dict()["models"]}
    assert rows["raises-at-predict"]["status"] == "failed"
    assert rows["raises-at-predict"]["reason"] == "predict failed: RuntimeError: the model exploded [/] :x:"
    assert "raises-at-predict — predict failed: RuntimeError: the model exploded [/] :x:" in stderr
    log = (out / "logs" / "raises-at-predict.log").read_text()
    assert "zoo: raises-at-predict: loading" in log, "a line per phase"
    assert "Traceback (most recent call last)" in log and 'raise RuntimeError("the model exploded' in log
    assert rows["reference-blobs"]["status"] == "ok"
    assert rows["sees-earlier-results"]["reason"] == "seen: reference-blobs,raises-at-predict"


def _save_untrained_checkpoint(builder: str, path):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(builder, weights=None, weights_backbone=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def test_torchvision_weights_load_from_the_torch_cache_and_a_stand_in_is_refused(tmp_path):
    """torchvision's own weights path loads the checkpoint where torchvision caches it; but a run checks the file
    first against the sha256 prefix in its name, and a stand-in (which cannot match it) is refused, never loaded."""
    from torchvision.models import get_model_weights

    builder = "ssdlite320_mobilenet_v3_large"
    url = get_model_weights(builder).DEFAULT.url
    checkpoint = tmp_path / "torch-home" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    _save_untrained_checkpoint(builder, checkpoint)
    model = load_plugins().models[builder].cls()
    model.load("cpu")
    assert model.identity == f"torchvision SSDLite320_MobileNet_V3_Large_Weights.COCO_V1 ({checkpoint.name})"

    code, stdout, _ = run_zoo("weights")
    assert code == 0
    assert f"{builder}: corrupt: {checkpoint} is not the official file: sha256 " in stdout
    assert "does not match the hash in its name (a79551df…)" in stdout
    assert "ssd300_vgg16: missing: `zoo pull` fetches https://download.pytorch.org/models/ssd300_vgg16_coco" in stdout
    assert "reference-blobs: no weights needed" in stdout
    code, stdout, _ = run_zoo("models")
    (line,) = [line for line in stdout.splitlines() if line.split()[:1] == [builder]]
    assert line.split()[3:6] == ["corrupt", "21.3", "(coco-val2017)"], "state, published AP"
    assert line.rstrip().endswith("not stated by the publisher"), "the licence: torchvision states none for weights"
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", builder, "--data", SMALL_SHAPES, "--out", str(out), *FAST)
    assert code == 0, stderr
    (row,) = read_results(out).to_dict()["models"]
    assert row["status"] == "no-weights" and row["untrained"], "timed on an untrained copy instead"
    assert f"{checkpoint} is not the official file" in row["reason"] and "it was not loaded" in row["reason"]
    assert row["licence"] == "not stated by the publisher"


def test_weights_option_loads_a_local_state_dict(tmp_path):
    builder = "fasterrcnn_mobilenet_v3_large_320_fpn"
    checkpoint = tmp_path / "mine.pth"
    _save_untrained_checkpoint(builder, checkpoint)
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run",
        "--models",
        builder,
        "--weights",
        f"{builder}={checkpoint}",
        "--data",
        SMALL_SHAPES,
        "--limit",
        "2",
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, stderr
    (row,) = read_results(out).to_dict()["models"]
    assert row["status"] == "ok" and row["weights"].startswith(f"{checkpoint} (sha256 ")
    assert row["info"]["input_size"] == "shorter side 320, longer ≤ 640"


def test_two_runs_give_identical_accuracy(tmp_path):
    for name in ("a", "b"):
        code, _, _ = run_zoo(
            "run",
            "--models",
            "reference-blobs,centre-box",
            "--data",
            SMALL_SHAPES,
            "--out",
            str(tmp_path / name),
            *FAST,
        )
        assert code == 0
    a, b = (read_results(tmp_path / name).to_dict() for name in ("a", "b"))
    for left, right in zip(a["models"], b["models"]):
        assert left["accuracy"] == right["accuracy"]
    assert (tmp_path / "a" / "predictions" / "reference-blobs.json").read_bytes() == (
        tmp_path / "b" / "predictions" / "reference-blobs.json"
    ).read_bytes()


def test_stage_times_are_attributed_to_the_right_step(monkeypatch):
    """Each step's time is measured around that step alone (a fake clock that each step advances)."""
    now = [0.0]
    monkeypatch.setattr("zoo.model.time.perf_counter", lambda: now[0])

    class Stepper(zoo.Model):
        def preprocess(self, images):
            now[0] += 1.0
            return images

        def forward(self, batch):
            now[0] += 10.0
            return batch

        def postprocess(self, outputs, images):
            now[0] += 100.0
            return [zoo.Detections.empty() for _ in images]

    prediction = Stepper().predict([np.zeros((4, 4, 3), np.uint8)] * 2)
    assert (prediction.times.preprocess, prediction.times.inference, prediction.times.postprocess) == (1, 10, 100)
    assert len(prediction.detections) == 2


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ([], "postprocess returned 0 results for a batch of 1 images"),
        (["boxes"], "postprocess must return zoo.Detections, got str"),
    ],
)
def test_predict_rejects_malformed_postprocess_output(outputs, message):
    class Bad(zoo.Model):
        def forward(self, batch):
            return batch

        def postprocess(self, out, images):
            return outputs

    with pytest.raises(ValueError, match=message):
        Bad().predict([np.zeros((4, 4, 3), np.uint8)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": [[0, 0, 1]], "scores": [1], "labels": [0]}, r"xyxy must have shape \(n, 4\)"),
        ({"xyxy": [[0, 0, 1, 1]], "scores": [1, 2], "labels": [0]}, r"scores must have shape \(1,\)"),
        ({"xyxy": [[0, 0, 1, 1]], "scores": [1], "labels": []}, r"labels must have shape \(1,\)"),
        ({"xyxy": [[0, 0, np.nan, 1]], "scores": [1], "labels": [0]}, "NaN or infinite"),
        ({"xyxy": [[0, 0, 1, 1]], "scores": [np.inf], "labels": [0]}, "NaN or infinite"),
        ({"xyxy": [[0, 0, 1, 1]], "scores": [1], "labels": [0.5]}, "whole numbers"),
        ({"xyxy": [[0, 0, 1, 1]], "scores": [1], "labels": ["person"]}, r"indices into self.labels, .* 'person'"),
    ],
)
def test_detections_validate_their_arrays(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.Detections(**kwargs)


def test_results_json_never_holds_nan(tmp_path):
    from zoo.runfolder import to_json

    assert json.loads(to_json({"a": float("nan"), "b": [float("inf"), 1.0]})) == {"a": None, "b": [None, 1.0]}


def test_speed_budget_stops_extra_timing_calls_and_says_so(tmp_path):
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "reference-blobs",
        "--data",
        SMALL_SHAPES,
        "--out",
        str(tmp_path),
        "--iters",
        "50",
        "--speed-budget",
        "0",
        "--speed-precision",
        "0",
        "--batch",
        "2",
        "--batch-calls",
        "4",
    )
    assert code == 0, stderr
    (row,) = read_results(tmp_path).to_dict()["models"]
    assert row["speed"]["timed_calls"] == 6, "the dataset pass is always timed; no top-up past the budget"
    assert row["speed"]["stopped_by_budget"] is True
    assert read_results(tmp_path).to_dict()["context"]["settings"]["speed_budget"] == 0


def test_imgsz_reaches_the_models_that_take_it_and_is_noted_for_the_others(tmp_path):
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "ssdlite320_mobilenet_v3_large,centre-box",
        "--imgsz",
        "256",
        "--data",
        SMALL_SHAPES,
        "--limit",
        "2",
        "--out",
        str(tmp_path),
        *FAST,
    )
    assert code == 0, stderr
    rows = {row["id"]: row for row in read_results(tmp_path).to_dict()["models"]}
    assert rows["ssdlite320_mobilenet_v3_large"]["info"]["input_size"] == "256x256"
    assert rows["centre-box"]["notes"] == "--imgsz 256 ignored: the model runs only at its native size"


def test_a_slow_model_warms_up_once_and_skips_batches_it_cannot_finish_within_the_budget(tmp_path):
    code, _, stderr = run_zoo(
        "run", "--models", "reference-blobs", "--data", SMALL_SHAPES, "--out", str(tmp_path),
        "--warmup", "5", "--iters", "3", "--batch", "4", "--speed-budget", "0",
    )  # fmt: skip
    assert code == 0, stderr
    (row,) = read_results(tmp_path).to_dict()["models"]
    assert row["speed"]["warmup_calls"] == 1
    assert "batch_size" not in row["speed"]
    assert row["missing"]["throughput_batch"].startswith("skipped: an untimed and a timed batch of 4 would take about")
    assert row["missing"]["throughput_batch"].endswith(
        "more than the 0 s left of --speed-budget 0; so no call with more than one image checked the model's output"
    ), "no budget left for the untimed call on two images either, and the row says so"
    assert row["accuracy"]["coco"]["map"] > 0.5, "accuracy is untouched by the speed budget"


def test_a_run_folders_ground_truth_and_predictions_load_into_supervision_with_the_same_boxes(shapes, tmp_path):
    """The run folder's COCO files are an interchange format: supervision reads them as they are (the predictions
    as a COCO dataset's annotations, the usual way to load a results file), box for box."""
    import supervision as sv

    from tests.conftest import save_formats

    data = save_formats(shapes, tmp_path / "data")["coco"]
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", "reference-blobs", "--data", str(data), "--out", str(out),
                              "--no-isolation", *FAST)  # fmt: skip
    assert code == 0, stderr
    truth = json.loads((out / "ground_truth.json").read_text())
    predictions = json.loads((out / "predictions" / "reference-blobs.json").read_text())
    as_dataset = {**truth, "annotations": [{**p, "id": i + 1, "iscrowd": 0} for i, p in enumerate(predictions)]}
    (tmp_path / "predictions-as-coco.json").write_text(json.dumps(as_dataset))
    files = {out / "ground_truth.json": truth["annotations"], tmp_path / "predictions-as-coco.json": predictions}
    for path, records in files.items():
        loaded = sv.DetectionDataset.from_coco(str(data.parent / "images"), str(path))
        boxes = np.concatenate([detections.xyxy for _, _, detections in loaded]) if len(loaded) else np.zeros((0, 4))
        expected = np.array([[x, y, x + w, y + h] for x, y, w, h in (r["bbox"] for r in records)])
        assert len(boxes) == len(expected) > 0
        assert np.allclose(np.sort(boxes, axis=0), np.sort(expected, axis=0), atol=1e-6)
