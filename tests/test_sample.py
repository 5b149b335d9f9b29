"""The built-in sample (the default dataset): photographs read from installed packages, boxes from sample.json."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_run import FAST, run_zoo
from zoo.data import load_dataset, sample
from zoo.errors import ZooError
from zoo.runfolder import read_results

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads(sample.ANNOTATIONS.read_text(encoding="utf-8"))


def test_the_sample_loads_offline_with_every_image_and_box():
    dataset = load_dataset("sample")
    assert (dataset.name, dataset.format, dataset.source) == ("sample", "coco", "sample")
    assert not dataset.issues.counts, dataset.issues.lines()
    assert [image.file_name for image in dataset.images] == [image["file_name"] for image in SAMPLE["images"]]
    assert dataset.num_boxes == len(SAMPLE["annotations"])
    for record, declared in zip(dataset.images, SAMPLE["images"]):
        pixels = record.load()
        assert pixels.dtype == np.uint8 and pixels.shape == (declared["height"], declared["width"], 3)
        assert record.source == sample.package_dir(declared["module"]) / declared["path"]
    assert len({c.name for c in dataset.categories}) >= 6, "several COCO classes"


def test_categories_are_coco_names_with_coco_ids():
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    coco = FasterRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]  # indexed by COCO category id
    for category in SAMPLE["categories"]:
        assert coco[category["id"]] == category["name"], category
    used = {a["category_id"] for a in SAMPLE["annotations"]}
    assert used == {c["id"] for c in SAMPLE["categories"]}, "every category has boxes, every box a category"


def test_every_box_lies_inside_its_image_with_positive_size():
    images = {image["id"]: image for image in SAMPLE["images"]}
    for annotation in SAMPLE["annotations"]:
        image = images[annotation["image_id"]]
        x, y, w, h = annotation["bbox"]
        assert w > 0 and h > 0, annotation
        assert 0 <= x and 0 <= y and x + w <= image["width"] and y + h <= image["height"], annotation
        assert annotation["area"] == w * h and annotation["iscrowd"] in (0, 1)


def test_the_annotation_file_is_coco_that_pycocotools_scores(capsys):
    """pycocotools reads the file, and scoring its boxes as detections against itself gives AP 1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ground_truth = COCO(str(sample.ANNOTATIONS))
    assert len(ground_truth.getImgIds()) == len(SAMPLE["images"])
    assert len(ground_truth.getAnnIds()) == len(SAMPLE["annotations"])
    detections = ground_truth.loadRes(
        [
            {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in SAMPLE["annotations"]
        ]
    )
    evaluation = COCOeval(ground_truth, detections, "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_limit_keeps_a_prefix_of_the_same_images():
    full, prefix = load_dataset("sample"), load_dataset("sample", limit=3)
    assert [i.file_name for i in prefix.images] == [i.file_name for i in full.images[:3]]
    for a, b in zip(full.images, prefix.images):
        assert np.array_equal(a.boxes, b.boxes)
    assert prefix.fingerprint != full.fingerprint


def _fake_skimage(tmp_path: Path, monkeypatch) -> Path:
    """Point the loader's "skimage" at a copy of its data folder, which the test then changes."""
    real = sample.package_dir("skimage")
    fake = tmp_path / "skimage"
    (fake / "data").mkdir(parents=True)
    for image in SAMPLE["images"]:
        if image["module"] == "skimage":
            shutil.copy(real / image["path"], fake / image["path"])
    original = sample.package_dir
    monkeypatch.setattr(sample, "package_dir", lambda module: fake if module == "skimage" else original(module))
    return fake


def test_a_changed_or_missing_file_is_skipped_and_counted(tmp_path, monkeypatch):
    fake = _fake_skimage(tmp_path, monkeypatch)
    changed = fake / "data" / "astronaut.png"
    pixels = np.asarray(Image.open(changed).convert("RGB")).copy()
    pixels[0, 0] ^= 1  # one pixel changed upstream: the boxes may no longer be right
    Image.fromarray(pixels).save(changed)
    (fake / "data" / "camera.png").unlink()

    dataset = load_dataset("sample")
    names = [image.file_name for image in dataset.images]
    assert "skimage/data/astronaut.png" not in names and "skimage/data/camera.png" not in names
    assert len(names) == len(SAMPLE["images"]) - 2
    assert dataset.issues.counts == {
        "sample images skipped: the file differs from the one annotated": 1,
        "sample images skipped: not found in the installed package": 1,
    }
    lines = "\n".join(dataset.issues.lines())
    assert f"{changed} (scikit-image" in lines and "annotated against scikit-image 0.26.0" in lines
    assert "camera.png" in lines


def test_a_missing_package_skips_its_images_and_nothing_left_is_an_error(monkeypatch):
    original = sample.package_dir
    monkeypatch.setattr(sample, "package_dir", lambda module: None if module == "ultralytics" else original(module))
    dataset = load_dataset("sample")
    shipped = [i for i in SAMPLE["images"] if i["module"] == "ultralytics"]
    assert len(dataset.images) == len(SAMPLE["images"]) - len(shipped)
    assert dataset.issues.counts == {
        "sample images skipped: the package that ships them is not installed": len(shipped)
    }
    assert "ultralytics" in dataset.issues.lines()[0]

    monkeypatch.setattr(sample, "package_dir", lambda module: None)
    with pytest.raises(ZooError, match="--data sample: no usable images found") as raised:
        load_dataset("sample")
    assert "\n" not in str(raised.value) and "pip install" in str(raised.value)


@pytest.mark.parametrize("data", [[], ["--data", "sample"]], ids=["default", "--data sample"])
def test_zoo_run_uses_the_sample_by_default_and_by_name(tmp_path, data):
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", "centre-box", *data, "--limit", "2", "--out", str(out), *FAST)
    assert code == 0, stderr
    dataset = read_results(out).to_dict()["context"]["dataset"]
    assert dataset["name"] == "sample" and dataset["images"] == 2 and not dataset["warnings"]
    ground_truth = json.loads((out / "ground_truth.json").read_text())
    assert [i["file_name"] for i in ground_truth["images"]] == [i["file_name"] for i in SAMPLE["images"][:2]]


def test_the_readme_table_lists_every_image_of_the_annotation_file():
    readme = (ROOT / "README.md").read_text()
    assert f"{len(SAMPLE['annotations'])} boxes of {len(SAMPLE['categories'])} COCO classes" in readme
    section = readme.split("### The sample dataset", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|") and not re.match(r"\|[-| ]+\|$", line)]
    body = rows[1:]  # after the header
    assert len(body) == len(SAMPLE["images"])
    names = {c["id"]: c["name"] for c in SAMPLE["categories"]}
    licences = {licence["id"]: licence["name"] for licence in SAMPLE["licenses"]}
    for image, row in zip(SAMPLE["images"], body):
        assert f"`{image['path']}`" in row and image["package"] in row, row
        assert licences[image["license"]].split(" (")[0] in row, row
        for category_id in {a["category_id"] for a in SAMPLE["annotations"] if a["image_id"] == image["id"]}:
            assert names[category_id] in row, (names[category_id], row)
