"""The CNN box regressor: `zoo train regressor` learns, saves a safe checkpoint, and `zoo run` scores it."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import zoo
from tests.conftest import SMALL_SHAPES, save_formats
from tests.test_run import FAST, run_zoo
from zoo.data import ImageRecord, load_dataset
from zoo.plugins import load_plugins
from zoo.runfolder import read_results

TINY = "shapes:count=10,size=64x64,seed=3"  # 8 training images, 2 held out
TRAIN = ["--imgsz", "64"]


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch):
    """The default checkpoint folder is an empty temporary one: a user's own checkpoints never leak in."""
    home = tmp_path / "zoo-home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def plugin():
    """The regressor plugin's modules, imported the way zoo imports them (as the package ``zoo_plugin_regressor``)."""
    load_plugins()
    return importlib.import_module("zoo_plugin_regressor"), importlib.import_module("zoo_plugin_regressor.training")


def train(out: Path, *args: str, data: str = TINY) -> tuple[int, str, str]:
    return run_zoo("train", "regressor", "--data", data, *TRAIN, "--out", str(out), *args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Six epochs (one step each) on ten 64x64 shapes images, and the checkpoint they wrote."""
    out = tmp_path_factory.mktemp("trained") / "regressor.pt"
    code, stdout, stderr = train(out, "--epochs", "6", "--seed", "5")
    assert code == 0, stderr
    return out, stdout, stderr


def test_training_lowers_the_loss_and_writes_a_checkpoint_that_loads_with_weights_only(trained):
    path, stdout, stderr = trained
    assert stdout.strip() == str(path), "the checkpoint's path is the command's output"
    assert stderr.count("val mean IoU") == 7, "a validation line after each of the 6 epochs, and the summary"
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) == {"model", "meta"}
    assert all(isinstance(value, torch.Tensor) for value in checkpoint["model"].values())
    meta = checkpoint["meta"]
    json.dumps(meta)  # the metadata is plain data
    losses = [epoch["train_loss"] for epoch in meta["history"]]
    assert len(losses) == 6 and losses[-1] < losses[0], losses
    assert meta["train_loss"] == losses[-1] and 0 <= meta["val_mean_iou"] <= 1
    assert meta["architecture"]["name"] == "convstack" and meta["input_size"] == 64
    assert meta["target"] == "largest box" and meta["class"] is None
    assert meta["epochs"] == 6 and meta["seed"] == 5
    assert meta["dataset"]["fingerprint"] == load_dataset(TINY).fingerprint
    assert (meta["dataset"]["train_images"], meta["dataset"]["val_images"]) == (8, 2)


def test_training_is_deterministic_from_the_seed(trained, tmp_path):
    first = torch.load(trained[0], weights_only=True)
    code, _, stderr = train(tmp_path / "again.pt", "--epochs", "6", "--seed", "5")
    assert code == 0, stderr
    again = torch.load(tmp_path / "again.pt", weights_only=True)
    assert first["meta"]["history"] == again["meta"]["history"], "the same losses and validation IoU, epoch by epoch"
    assert all(torch.equal(first["model"][k], again["model"][k]) for k in first["model"])
    code, _, stderr = train(tmp_path / "other.pt", "--epochs", "1", "--seed", "6")
    other = torch.load(tmp_path / "other.pt", weights_only=True)
    assert not torch.equal(other["model"]["0.weight"], first["model"]["0.weight"]), "another seed, another start"


def test_a_trained_checkpoint_runs_in_zoo_through_the_weights_flag(trained, tmp_path):
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "regressor,centre-box",
        "--data",
        SMALL_SHAPES,
        "--weights",
        f"regressor={trained[0]}",
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, stderr
    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    row = board.loc["regressor"]
    assert row["status"] == "ok" and 0 <= row["mean_iou"] <= 1 and row["family"] == "regressor"
    result = next(m for m in read_results(out).to_dict()["models"] if m["id"] == "regressor")
    assert result["weights"].startswith(f"{trained[0]} (sha256 ")
    assert result["info"]["input_size"] == "64x64" and result["info"]["num_params"] > 10_000
    checkpoint = result["info"]["settings"]["checkpoint"]
    assert checkpoint["target"] == "largest box" and checkpoint["dataset"]["source"] == TINY
    predictions = json.loads((out / "predictions" / "regressor.json").read_text())
    assert len(predictions) == 6 and {p["score"] for p in predictions} == {1.0}, "one box per image"


def test_the_target_is_the_largest_box_or_the_largest_of_the_chosen_class(plugin):
    _, training = plugin
    boxes = [[0, 0, 10, 10], [20, 20, 60, 40], [5, 50, 35, 80], [60, 0, 70, 30]]  # areas 100, 800, 900, 300
    record = ImageRecord(
        id=1,
        file_name="x.png",
        width=100,
        height=100,
        boxes=np.array(boxes, float),
        category_ids=np.array([1, 2, 3, 1]),
        iscrowd=np.array([False, False, True, False]),
        areas=np.zeros(4),
        source=Path("x.png"),
    )
    assert training.pick_target(record).tolist() == [20, 20, 60, 40], "largest box; the crowd region is left out"
    assert training.pick_target(record, category_id=1).tolist() == [60, 0, 70, 30], "largest circle"
    assert training.pick_target(record, category_id=3) is None, "only a crowd region of that class"
    dataset = load_dataset("shapes:count=20,size=64x64,seed=3")
    for image in dataset.images:
        areas = (image.boxes[:, 2] - image.boxes[:, 0]) * (image.boxes[:, 3] - image.boxes[:, 1])
        assert training.pick_target(image).tolist() == image.boxes[areas.argmax()].tolist()


def test_training_on_one_class_learns_its_largest_box_and_labels_it(plugin, tmp_path):
    module, _ = plugin
    dataset = load_dataset(TINY)
    without = sum(1 not in image.category_ids for image in dataset.images)
    assert without, "the tiny set has images without a circle"
    code, _, stderr = train(tmp_path / "circle.pt", "--class", "Circle", "--epochs", "1")
    assert code == 0, stderr
    assert f"{without} without a target skipped" in stderr
    meta = torch.load(tmp_path / "circle.pt", weights_only=True)["meta"]
    assert meta["class"] == "circle" and meta["target"] == "largest 'circle' box"
    assert meta["dataset"]["skipped_without_target"] == without
    model = module.Regressor(weights=str(tmp_path / "circle.pt"))
    model.load("cpu")
    assert model.labels == ["circle"]
    prediction = model.predict([image.load() for image in dataset.images[:2]])
    assert [d.labels.tolist() for d in prediction.detections] == [[0], [0]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--data", TINY, "--class", "hexagon"],
            "--class hexagon: shapes:count=10,size=64x64,seed=3 has no such "
            "category; its categories: circle, square, triangle",
        ),
        (["--data", "shapes:count=3,size=64x64"], "only 3 image(s) have a box; training needs at least 5"),
        (["--data", TINY, "--imgsz", "50"], "--imgsz 50: give a multiple of 32"),
        (["--data", TINY, "--epochs", "0"], "--epochs 0: give 1 or more"),
        (["--data", TINY, "--minutes", "0"], "--minutes 0.0: give a positive number of minutes"),
        (["--data", "/no/such.json"], "--data /no/such.json: no such file or folder"),
    ],
)
def test_bad_training_input_is_one_line(args, message, tmp_path):
    code, stdout, stderr = run_zoo("train", "regressor", *args, "--out", str(tmp_path / "x.pt"))
    assert code == 2 and stderr.startswith("zoo: error: ") and message in stderr, stderr
    assert stderr.count("\n") == 1, stderr
    assert not (tmp_path / "x.pt").exists()


def test_a_dataset_without_boxes_and_a_model_zoo_cannot_train_are_one_line_errors(tmp_path):
    Image.new("RGB", (40, 30), (90, 120, 200)).save(tmp_path / "empty.png")
    coco = {
        "images": [{"id": 1, "file_name": "empty.png", "width": 40, "height": 30}],
        "annotations": [],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (tmp_path / "empty.json").write_text(json.dumps(coco))
    code, _, stderr = run_zoo("train", "regressor", "--data", str(tmp_path / "empty.json"))
    assert code == 2 and "none of its 1 images has a box to train on" in stderr and stderr.count("\n") == 1, stderr
    code, _, stderr = run_zoo("train", "centre-box", "--data", TINY)
    assert (
        code == 2
        and stderr == "zoo: error: zoo train centre-box: is not a model zoo can train; zoo can train: regressor\n"
    )


def test_a_missing_default_checkpoint_is_a_no_weights_row_naming_the_command_that_makes_it(zoo_home, tmp_path):
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "regressor",
        "--data",
        SMALL_SHAPES,
        "--out",
        str(tmp_path / "before"),
        "--no-isolation",
        *FAST,
    )
    assert code == 0, stderr
    row = pd.read_csv(tmp_path / "before" / "leaderboard.csv").set_index("model").loc["regressor"]
    assert row["status"] == "no-weights" and pd.isna(row["mean_iou"])
    assert f"no checkpoint at {zoo_home / 'regressor-shapes.pt'}" in row["reason"]
    assert "create it with `zoo train regressor --data shapes:count=3000`" in row["reason"]
    assert row["latency_ms_p50"] > 0, "timed on an untrained copy"
    code, stdout, _ = run_zoo("weights")
    assert "regressor: missing: no checkpoint at" in stdout

    # the command the message names writes the default checkpoint, and the next run finds it
    code, stdout, stderr = run_zoo("train", "regressor", "--data", "shapes:count=6,size=64x64", *TRAIN, "--epochs", "1")
    assert code == 0 and stdout.strip() == str(zoo_home / "regressor-shapes.pt"), stderr
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "regressor",
        "--data",
        SMALL_SHAPES,
        "--out",
        str(tmp_path / "after"),
        "--no-isolation",
        *FAST,
    )
    row = pd.read_csv(tmp_path / "after" / "leaderboard.csv").set_index("model").loc["regressor"]
    assert row["status"] == "ok" and row["mean_iou"] >= 0


def test_it_trains_on_a_dataset_read_from_files(shapes, zoo_home, tmp_path):
    """A YOLO dataset (the same reader path as COCO and VOC): images decoded from disk, default checkpoint name."""
    data = save_formats(shapes, tmp_path)["yolo"]
    code, stdout, stderr = run_zoo("train", "regressor", "--data", str(data), "--split", "val", *TRAIN, "--epochs", "1")
    assert code == 0, stderr
    assert stdout.strip() == str(zoo_home / "regressor-yolo-val.pt")
    meta = torch.load(zoo_home / "regressor-yolo-val.pt", weights_only=True)["meta"]
    assert meta["dataset"]["format"] == "yolo" and meta["dataset"]["train_images"] + meta["dataset"]["val_images"] == 6


def test_the_readme_gives_the_command_that_makes_the_default_checkpoint(plugin):
    module, _ = plugin
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert module.TRAIN_COMMAND in readme and "regressor-shapes.pt" in readme


def test_minutes_bounds_the_training_time_instead_of_epochs(tmp_path):
    code, _, stderr = train(tmp_path / "timed.pt", "--minutes", "0.02")
    assert code == 0, stderr
    meta = torch.load(tmp_path / "timed.pt", weights_only=True)["meta"]
    assert meta["minutes_budget"] == 0.02 and meta["epochs"] >= 1 and meta["steps"] >= 1


@pytest.mark.parametrize("size", [(1, 1), (5, 300), (300, 5), (480, 640)])
def test_the_predicted_box_is_inside_the_image_with_positive_size(plugin, size):
    module, _ = plugin
    model = module.Regressor(weights=zoo.UNTRAINED)
    model.load("cpu")
    assert model.labels is None and model.info().weights == zoo.UNTRAINED
    head = model.net[-1]
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    height, width = size
    extremes = [(cx, cy, w, h) for cx in (-60, 0, 60) for cy in (-60, 60) for w in (-60, 60) for h in (-60, 0)]
    for bias in [None, *extremes]:
        if bias is not None:  # drive the sigmoid to its limits: centre at an edge, size 0 or the whole image
            with torch.no_grad():
                head.weight.zero_()
                head.bias.copy_(torch.tensor(bias, dtype=torch.float32))
        prediction = model.predict([image])
        (detections,) = prediction.detections
        assert prediction.zero_size == 0 and len(detections.xyxy) == 1
        x1, y1, x2, y2 = detections.xyxy[0]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, (bias, detections.xyxy[0])
