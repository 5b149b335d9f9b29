"""Latency at a deployment setting (``zoo run --speed-conf``): after the accuracy pass each model is asked to apply a
score threshold through its own library (`Model.set_score_threshold`); accuracy is untouched by it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import zoo
from tests.conftest import SMALL_SHAPES
from tests.test_report import rows_of
from tests.test_run import FAST, _save_untrained_checkpoint, run_zoo
from zoo.plugins import load_plugins
from zoo.runfolder import read_results
from zoo.timing import speed_setting

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SSD = "ssdlite320_mobilenet_v3_large"


def image(seed: int = 0, height: int = 96, width: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def scores(model: zoo.Model, picture: np.ndarray) -> np.ndarray:
    return model.predict([picture]).detections[0].scores


def test_the_default_model_has_no_threshold_and_the_record_says_why():
    model = zoo.Model()
    assert model.set_score_threshold(0.25) is False
    assert speed_setting(model, 0.25) == {
        "conf": 0.25,
        "applied": False,
        "why": "the model has no score threshold (timed as for accuracy)",
    }
    assert speed_setting(model, 0) == {"conf": 0, "applied": True}, "0: the accuracy setting, nothing to ask"


def test_speed_conf_out_of_range_is_refused():
    code, _, stderr = run_zoo("run", "--models", "centre-box", "--data", SMALL_SHAPES, "--speed-conf", "1.5")
    assert code != 0 and "--speed-conf 1.5: give a score between 0 and 1" in stderr


def _threshold_holds(model: zoo.Model, picture: np.ndarray) -> None:
    """At 0 the model returns low scores; at a threshold every score is at least it, and fewer boxes come back."""
    everything = scores(model, picture)
    assert len(everything) > 0
    middle = float(np.median(everything))
    assert model.set_score_threshold(middle) is True
    kept = scores(model, picture)
    assert len(kept) < len(everything) and (kept >= middle).all()
    assert model.set_score_threshold(0.6) is True
    assert (scores(model, picture) >= 0.6).all()


def test_a_torchvision_detector_applies_its_own_threshold():
    model = load_plugins().models[SSD].cls(weights=zoo.UNTRAINED)
    model.load("cpu")
    assert model.module.score_thresh == 0.0, "accuracy: every score kept"
    _threshold_holds(model, image())
    assert model.module.score_thresh == 0.6


def test_faster_rcnn_and_the_proposal_models_set_their_roi_heads_threshold():
    from zoo.torchvision_support import set_score_thresh

    faster = load_plugins().models["fasterrcnn_mobilenet_v3_large_320_fpn"].cls(weights=zoo.UNTRAINED)
    faster.module = type("M", (), {"roi_heads": type("H", (), {"score_thresh": 0.0})()})()  # no build needed
    assert faster.set_score_threshold(0.3) and faster.module.roi_heads.score_thresh == 0.3
    with pytest.raises(AttributeError, match="no score_thresh"):
        set_score_thresh(object(), 0.3)
    fast = load_plugins().models["fast-rcnn"].cls(weights=zoo.UNTRAINED)
    fast.module = type("M", (), {"roi_heads": type("H", (), {"score_thresh": 0.0})()})()
    assert fast.set_score_threshold(0.3) and fast.module.roi_heads.score_thresh == 0.3


def test_accuracy_is_bit_for_bit_that_of_speed_conf_0_and_the_speed_record_says_what_was_timed(tmp_path):
    checkpoint = tmp_path / "ssd.pth"
    _save_untrained_checkpoint(SSD, checkpoint)  # seeded random weights, loaded as a user's own file: scored
    runs = {}
    for conf in ("0", "0.6"):
        out = tmp_path / f"conf-{conf}"
        code, _, stderr = run_zoo(
            "run",
            "--models",
            f"{SSD},centre-box",
            "--weights",
            f"{SSD}={checkpoint}",
            "--data",
            SMALL_SHAPES,
            "--limit",
            "2",
            "--speed-conf",
            conf,
            "--no-isolation",
            "--out",
            str(out),
            *FAST,
        )
        assert code == 0, stderr
        runs[conf] = {row["id"]: row for row in read_results(out).to_dict()["models"]}
        runs[conf]["predictions"] = (out / "predictions" / f"{SSD}.json").read_bytes()
    at_0, at_06 = runs["0"], runs["0.6"]
    assert at_0["predictions"] == at_06["predictions"], "predictions are made at the accuracy setting"
    assert at_06[SSD]["status"] == "ok" and at_06[SSD]["accuracy"] == at_0[SSD]["accuracy"]
    assert at_06[SSD]["info"] == at_0[SSD]["info"]
    assert at_06[SSD]["speed"]["setting"] == {"conf": 0.6, "applied": True}
    assert at_0[SSD]["speed"]["setting"] == {"conf": 0, "applied": True}
    assert at_06["centre-box"]["speed"]["setting"] == {
        "conf": 0.6,
        "applied": False,
        "why": "the model has no score threshold (timed as for accuracy)",
    }
    assert at_06["centre-box"]["accuracy"] == at_0["centre-box"]["accuracy"]

    html = (tmp_path / "conf-0.6" / "index.html").read_text(encoding="utf-8")
    assert "At confidence 0.6 (--speed-conf), each library&#39;s own threshold" in html
    assert "rows marked * are timed at the accuracy setting" in html
    rows = rows_of(html, "speed")
    assert " *</td>" in rows["centre-box"] and " *</td>" not in rows[SSD]
    assert "not at --speed-conf 0.6: the model has no score threshold" in rows["centre-box"]
    assert "At the accuracy setting (--speed-conf 0" in (tmp_path / "conf-0" / "index.html").read_text()
    board = pd.read_csv(tmp_path / "conf-0.6" / "leaderboard.csv", index_col="model")
    assert board.loc[SSD, "speed_conf"] == 0.6 and board.loc["centre-box", "speed_conf"] == 0


def test_ultralytics_sets_its_predictors_conf(tmp_path, tmp_path_factory):
    from tests.test_ultralytics import checkpoint, model_class

    path = checkpoint("yolov8n", tmp_path / "best.pt", tmp_path_factory)
    model = model_class("yolov8n")(weights=str(path))
    model.load("cpu")
    assert model.predictor.args.conf == 0.001, "accuracy: ultralytics' lowest working confidence"
    _threshold_holds(model, image(height=128, width=160))
    assert model.predictor.args.conf == 0.6
    assert model.set_score_threshold(0.0001) and model.predictor.args.conf == 0.001, "never under the plugin's floor"


def test_transformers_post_processing_uses_the_threshold(tmp_path):
    import sys

    from tests.test_transformers import _tiny

    models = load_plugins().models
    module = sys.modules["zoo_plugin_transformers"]
    tiny, processor = _tiny("detr-resnet-50", module.coco_id2label)
    tiny.save_pretrained(tmp_path / "detr")
    processor.save_pretrained(tmp_path / "detr")
    model = models["detr-resnet-50"].cls(weights=str(tmp_path / "detr"))
    model.load("cpu")
    assert model.threshold == 0.0
    _threshold_holds(model, image())
    assert model.threshold == 0.6
