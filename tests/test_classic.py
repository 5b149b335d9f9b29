"""The classic detectors OpenCV ships trained (plugins/classic.py): real weights, real accuracy, no network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

import zoo
from tests.test_run import FAST, run_zoo
from zoo.data import load_dataset
from zoo.plugins import load_plugins
from zoo.runfolder import read_results

CLASSIC = ["hog-people", "haar-fullbody", "haar-upperbody"]


@pytest.fixture(scope="module")
def models():
    plugins = load_plugins()
    loaded = {}
    for model_id in CLASSIC:
        model = plugins.models[model_id].cls()
        model.load("cpu")
        loaded[model_id] = model
    return loaded


def test_hog_finds_the_pedestrian_in_bus_jpg(models):
    """Dalal–Triggs' detector finds the man walking into the picture (its 64x128 window, margins included), with a
    positive SVM decision (score over 0.5), and gives the same answer twice."""
    dataset = load_dataset("sample")
    image = next(i for i in dataset.images if i.file_name.endswith("bus.jpg"))
    names = dataset.category_names()
    people = torch.tensor(
        np.array([box for box, c in zip(image.boxes, image.category_ids) if names[int(c)] == "person"]),
        dtype=torch.float32,
    )
    (found,) = models["hog-people"].predict([image.load()]).detections
    iou = torchvision.ops.box_iou(people, torch.from_numpy(found.xyxy)).numpy()
    best = iou.max(axis=0).argmax()
    assert iou.max() > 0.45 and found.scores[best] > 0.5
    assert set(found.labels.tolist()) == {0} and models["hog-people"].labels == ["person"]
    (again,) = models["hog-people"].predict([image.load()]).detections
    np.testing.assert_array_equal(again.xyxy, found.xyxy)


def test_hog_on_an_image_smaller_than_its_window_finds_nothing_instead_of_crashing(models):
    """OpenCV 4's HOG crashes the process (SIGSEGV) on an image smaller than its 64x128 window: zoo returns no box."""
    (found,) = models["hog-people"].predict([np.zeros((80, 96, 3), np.uint8)]).detections
    assert len(found) == 0


@pytest.mark.parametrize("model_id", CLASSIC)
def test_a_picture_without_people_gives_no_boxes(models, model_id):
    blank = np.full((240, 320, 3), 127, np.uint8)
    (found,) = models[model_id].predict([blank]).detections
    assert len(found) == 0


def test_zoo_run_scores_them_on_sample_with_no_network(tmp_path):
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run", "--offline", "--models", "family:classic", "--data", "sample", "--out", str(out), "--no-isolation", *FAST
    )
    assert code == 0, stderr
    rows = {row["id"]: row for row in read_results(out).to_dict()["models"]}
    assert set(rows) == {*CLASSIC, "reference-blobs"}
    for model_id in CLASSIC:
        row = rows[model_id]
        assert row["status"] == "ok" and row["labels"]["mapped"] == {"person": "person"}, row["reason"]
        assert row["accuracy"]["coco"]["map"] is not None and row["licence"]
        assert row["info"]["settings"]["opencv"].startswith("4.")
    assert rows["hog-people"]["accuracy"]["coco"]["per_class"]["person"] > 0


def test_an_opencv_without_them_says_why(monkeypatch, models):
    import cv2

    monkeypatch.delattr(cv2, "HOGDescriptor")
    model = load_plugins().models["hog-people"].cls()
    with pytest.raises(zoo.WeightsUnavailable, match=r"install opencv-python<5"):
        model.load("cpu")
    assert model.check_weights().state == "missing"
