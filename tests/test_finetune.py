"""`zoo train --models`: every trainable framework fine-tunes from scratch on `shapes` through its library's own
training, writes a checkpoint and a manifest, and `zoo run --trained` scores the checkpoint with the AP the training
reported on the same images; unsupported models get a row, a killed training leaves the folder usable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.test_run import FAST, run_zoo
from zoo.adapt.folder import FROM_SCRATCH, trained_models
from zoo.data import load_dataset
from zoo.runfolder import read_results

TRAIN = "shapes:count=8,size=96x96,seed=11"
VAL = "shapes:count=4,size=96x96,seed=12"
# model -> training images, validation images (the same, or the first four), options: ~200 steps from random weights
LEARNING = {
    "yolov8n": ("shapes:count=16,size=64x64,seed=11", "shapes:count=16,size=64x64,seed=11", "--epochs", "40",
                "--imgsz", "64"),
    "ssdlite320_mobilenet_v3_large": ("shapes:count=8,size=96x96,seed=11", "shapes:count=4,size=96x96,seed=11",
                                      "--epochs", "60", "--imgsz", "96", "--batch", "2"),
}  # fmt: skip
# one model per framework, each at a small input size: (id, imgsz)
FRAMEWORKS = {
    "torchvision": ("ssdlite320_mobilenet_v3_large", "96"),
    "ultralytics": ("yolov8n", "64"),
    "transformers": ("yolos-tiny", "64"),
}


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One training per framework (2 epochs, 8 images, validation on 4 others), each into its own folder."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folders = {}
    try:
        with pytest.MonkeyPatch.context() as patch:
            home = tmp_path_factory.mktemp("zoo-home")
            patch.setenv("ZOO_HOME", str(home))
            patch.setenv("TORCH_HOME", str(home / "torch"))
            for framework, (model, imgsz) in FRAMEWORKS.items():
                out = tmp_path_factory.mktemp(framework)
                code, stdout, stderr = run_zoo("train", "--models", model, "--data", TRAIN, "--val", VAL, "--epochs",
                                               "2", "--imgsz", imgsz, "--out", str(out))  # fmt: skip
                folders[framework] = (out, code, stdout, stderr)
    finally:
        torch.set_num_threads(threads)
    return folders


@pytest.fixture(scope="session")
def learned(tmp_path_factory):
    """yolov8n and SSDlite from scratch, long enough to learn a few small images on a CPU in a minute or two each
    (validated on those same images: what they learned, not how they generalise). DETR-style models from random
    weights need far more steps than a test can give: their training is shown to run, not to learn."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    manifests = {}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("ZOO_HOME", str(tmp_path_factory.mktemp("zoo-home")))
            for model, (data, val, *options) in LEARNING.items():
                out = tmp_path_factory.mktemp("learned")
                code, _, stderr = run_zoo("train", "--models", model, "--data", data, "--val", val, *options,
                                          "--out", str(out))  # fmt: skip
                assert code == 0, stderr
                manifests[model] = json.loads((out / model / "manifest.json").read_text())
    finally:
        torch.set_num_threads(threads)
    return manifests


@pytest.mark.parametrize("model", list(LEARNING))
def test_a_short_training_from_scratch_clearly_beats_the_untrained_copy(learned, model):
    before, after = learned[model]["before"], learned[model]["history"][-1]["val"]
    assert before["map50"] < 0.02 and before["map"] < 0.01, before  # the untrained copy finds next to nothing
    assert after["map50"] >= 0.2 and after["map"] >= 0.08, after


def test_ultralytics_steps_after_every_batch_like_the_other_recipes(learned):
    assert learned["yolov8n"]["library"]["arguments"]["nbs"] == 4  # not 64 images of accumulated gradients


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_each_framework_trains_from_scratch_and_writes_its_checkpoint_and_manifest(trained, framework):
    out, code, stdout, stderr = trained[framework]
    assert code == 0, stderr
    model = FRAMEWORKS[framework][0]
    assert stdout.strip() == str(out)
    assert "from scratch (untrained copy)" in stderr
    manifest = json.loads((out / model / "manifest.json").read_text())
    train = load_dataset(TRAIN)
    assert manifest["base_weights"] == FROM_SCRATCH and manifest["from_scratch"] is True
    assert manifest["dataset"]["fingerprint"] == train.fingerprint
    assert manifest["dataset"]["classes"] == ["circle", "square", "triangle"]
    assert manifest["settings"]["seed"] == 0 and manifest["settings"]["epochs"] == 2
    assert manifest["epochs_done"] == 2 and manifest["minutes"] > 0
    assert [row["epoch"] for row in manifest["history"]] == [1, 2]
    assert all(math.isfinite(row["loss"]) for row in manifest["history"])
    assert all(row["val"]["map"] is not None for row in manifest["history"])
    assert manifest["before"]["map"] is not None  # the model it started from, scored before its first step
    assert len(manifest["image_digests"]) == len(train.images)
    assert (out / model / manifest["checkpoint"]).exists()
    assert not list(out.glob(".*partial"))
    index = json.loads((out / "manifest.json").read_text())
    assert [(row["id"], row["status"]) for row in index["models"]] == [(model, "ok")]
    assert (out / "logs" / f"{model}.log").stat().st_size > 0


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_zoo_run_trained_measures_the_ap_the_training_reported_on_the_same_images(trained, framework, tmp_path):
    out = trained[framework][0]
    model = FRAMEWORKS[framework][0]
    manifest = json.loads((out / model / "manifest.json").read_text())
    run = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", "all", "--trained", str(out), "--data", VAL, "--out", str(run),
                              "--no-isolation", "--speed-budget", "0", *FAST)  # fmt: skip
    assert code == 0, stderr
    (result,) = read_results(run).to_dict()["models"]
    assert result["id"] == f"{model}-trained" and result["status"] == "ok"
    assert result["accuracy"]["coco"]["map"] == manifest["history"][-1]["val"]["map"]
    assert result["accuracy"]["coco"]["map50"] == manifest["history"][-1]["val"]["map50"]
    assert result["trained_on"]["fingerprint"] == manifest["dataset"]["fingerprint"]
    assert result["trained_on"]["from_scratch"] is True and result["trained_on"]["shots"] is None
    row = pd.read_csv(run / "leaderboard.csv").iloc[0]
    assert "from scratch" in row["trained_on"] and manifest["dataset"]["fingerprint"] in row["trained_on"]


def test_a_test_set_that_shares_images_with_the_training_set_is_refused(trained, tmp_path):
    out = trained["transformers"][0]
    code, _, stderr = run_zoo("run", "--models", "all", "--trained", str(out), "--data", "shapes:count=3,size=96x96,"
                              "seed=11", "--out", str(tmp_path / "run"), "--no-isolation")  # fmt: skip
    assert code == 2
    assert stderr.count("\n") == 1 and "were trained on (same file digest)" in stderr
    assert not (tmp_path / "run").exists()


def test_models_without_training_get_an_unsupported_row_with_the_reason(tmp_path):
    models = "hog-people,reference-blobs,regressor,rcnn,fast-rcnn"
    code, _, stderr = run_zoo("train", "--models", models, "--data", TRAIN, "--epochs", "1", "--out", str(tmp_path))
    assert code == 0, stderr
    index = json.loads((tmp_path / "manifest.json").read_text())
    rows = {row["id"]: row for row in index["models"]}
    assert {row["status"] for row in rows.values()} == {"unsupported"}
    assert "zoo train regressor" in rows["regressor"]["reason"]
    assert all(row["reason"] for row in rows.values())
    assert "Traceback" not in stderr and not [p for p in tmp_path.iterdir() if p.name not in ("logs", "manifest.json")]


def test_a_killed_training_leaves_the_folder_as_it_was(trained, tmp_path, monkeypatch):
    """Ctrl-C in the middle of a training: the earlier finished checkpoint stays, the half-written one is never
    read, and `zoo run --trained` still scores the folder."""
    import shutil

    import zoo.adapt.torchvision_training as training

    source = trained["torchvision"][0]
    folder = tmp_path / "trained"
    shutil.copytree(source, folder)
    model = FRAMEWORKS["torchvision"][0]
    before = (folder / model / "model.pth").read_bytes()

    def killed(detector, session, keep_all):
        (session.out / "model.pth").write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "finetune", killed)
    code, _, _ = run_zoo("train", "--models", model, "--data", TRAIN, "--epochs", "1", "--out", str(folder))
    assert code == 130
    assert (folder / model / "model.pth").read_bytes() == before
    assert list(trained_models(folder)) == [model]
    code, _, stderr = run_zoo("run", "--models", "all", "--trained", str(folder), "--data", VAL, "--out",
                              str(tmp_path / "run"), "--no-isolation", "--speed-budget", "0", *FAST)  # fmt: skip
    assert code == 0, stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "--epochs 0: give 1 or more"),
        (["--minutes", "0"], "--minutes 0.0: give a positive number"),
        (["--imgsz", "8"], "--imgsz 8: give 32 or more"),
    ],
)
def test_bad_training_options_are_one_line(args, message, tmp_path):
    code, _, stderr = run_zoo("train", "--models", "yolov8n", "--data", TRAIN, "--out", str(tmp_path), *args)
    assert code == 2 and message in stderr and stderr.count("\n") == 1


def test_trained_folder_without_models_is_one_line(tmp_path):
    code, _, stderr = run_zoo("run", "--trained", str(tmp_path), "--data", VAL, "--out", str(tmp_path / "r"))
    assert code == 2 and "no finished model in it" in stderr


def test_the_training_folder_defaults_under_zoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    code, stdout, _ = run_zoo("train", "--models", "hog-people", "--data", TRAIN)
    assert code == 0 and Path(stdout.strip()).parent == tmp_path / "home" / "trained"


def test_a_time_budget_stops_the_training_and_is_recorded(tmp_path):
    model = FRAMEWORKS["torchvision"][0]
    code, _, stderr = run_zoo("train", "--models", model, "--data", TRAIN, "--minutes", "0.01", "--imgsz", "96",
                              "--batch", "8", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, stderr
    manifest = json.loads((tmp_path / model / "manifest.json").read_text())
    assert manifest["settings"]["minutes"] == 0.01 and manifest["settings"]["epochs"] is None
    assert manifest["epochs_done"] >= 1 and manifest["library"]["steps"] == manifest["epochs_done"]  # 1 step each
    assert manifest["history"][-1]["seconds"] >= 0.6  # it stopped because the 0.6 s were spent, not before
    assert "val" not in manifest["history"][0] and manifest["val"] is None
