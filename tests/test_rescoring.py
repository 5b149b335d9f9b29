"""A run folder re-scored with plain pycocotools gives the run's numbers, following the README's recipe; and the
ground-truth rules zoo applies before scoring (the README's "Checking the numbers yourself")."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import pytest

from tests.conftest import SMALL_SHAPES, save_formats
from tests.test_run import FAST, run_zoo
from zoo.data import load_dataset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """shapes saved as COCO with 'circle' renamed 'disc' (reference-blobs' circles become predictions of no dataset
    category, -1), one box reaching 0.5 px past the image's right edge and one box of zero width."""
    root = tmp_path_factory.mktemp("rescoring")
    coco = save_formats(load_dataset(SMALL_SHAPES), root / "data")["coco"]
    gt = json.loads(coco.read_text())
    for category in gt["categories"]:
        category["name"] = "disc" if category["name"] == "circle" else category["name"]
    image, past = gt["images"][0], gt["annotations"][0]
    assert past["image_id"] == image["id"]
    past["bbox"][2] = image["width"] - past["bbox"][0] + 0.5
    gt["annotations"].append({**past, "id": 10_000, "bbox": [10, 10, 0, 5], "area": 0})
    coco.write_text(json.dumps(gt))
    out = root / "run"
    code, _, stderr = run_zoo(
        "run", "--models", "reference-blobs,centre-box", "--data", str(coco), "--no-isolation", *FAST, "--out", str(out)
    )
    assert code == 0, stderr
    assert "1 × boxes with non-positive width or height skipped (first: instances.json: annotations[" in stderr
    assert "clipped" not in stderr, "up to 1 px past the edge is clipped without a warning"
    return out


def cocoeval(ground_truth: dict, predictions: list, *, use_cats: bool = True, cat_ids: list | None = None) -> float:
    """pycocotools' own COCOeval, AP@[.5:.95]."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(predictions)), "bbox")
        evaluator.params.useCats = int(use_cats)
        if cat_ids is not None:
            evaluator.params.catIds = cat_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


def test_the_ground_truth_is_clipped_and_skipped_as_the_readme_says(run_dir):
    gt = json.loads((run_dir / "ground_truth.json").read_text())
    image = gt["images"][0]
    first = gt["annotations"][0]
    assert first["bbox"][0] + first["bbox"][2] == image["width"], "0.5 px past the edge: clipped to it"
    assert all(a["bbox"][2] > 0 and a["bbox"][3] > 0 for a in gt["annotations"]), "the zero-width box is skipped"
    warnings = json.loads((run_dir / "results.json").read_text())["context"]["dataset"]["warnings"]
    assert len(warnings) == 1 and "non-positive width or height skipped" in warnings[0]


def test_pycocotools_re_scores_the_run_s_numbers_with_the_readme_s_recipe(run_dir):
    gt = json.loads((run_dir / "ground_truth.json").read_text())
    results = {m["id"]: m for m in json.loads((run_dir / "results.json").read_text())["models"]}
    blobs, centre = results["reference-blobs"], results["centre-box"]
    predictions = {i: json.loads((run_dir / m["predictions_file"]).read_text()) for i, m in results.items()}
    assert {p["category_id"] for p in predictions["reference-blobs"]} >= {-1}, "the circles have no dataset category"
    assert {p["category_id"] for p in predictions["centre-box"]} == {-1}, "a class-agnostic model: all -1"

    # map: over the categories the model's label space covers (labels.covered), as zoo averages it
    covered = sorted(c["id"] for c in gt["categories"] if c["name"] in blobs["labels"]["covered"])
    assert len(covered) == blobs["accuracy"]["coco"]["categories"] == 2
    assert cocoeval(gt, predictions["reference-blobs"], cat_ids=covered) == pytest.approx(
        blobs["accuracy"]["coco"]["map"], abs=1e-9
    )
    assert cocoeval(gt, predictions["reference-blobs"]) < blobs["accuracy"]["coco"]["map"], "all 3: disc counts 0"

    # map_agnostic: useCats = 0, with category -1 added to the ground truth's categories
    with_none = {**gt, "categories": [*gt["categories"], {"id": -1, "name": "no dataset category"}]}
    for model_id, result in results.items():
        expected = result["accuracy"]["coco_agnostic"]["map"]
        assert cocoeval(with_none, predictions[model_id], use_cats=False) == pytest.approx(expected, abs=1e-9)
    agnostic = blobs["accuracy"]["coco_agnostic"]["map"]
    assert cocoeval(gt, predictions["reference-blobs"], use_cats=False) < agnostic - 0.1, "without -1: fewer found"
    assert centre["accuracy"].get("coco") is None, "a class-agnostic model has no class-aware AP"
