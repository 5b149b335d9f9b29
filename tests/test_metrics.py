"""Accuracy and speed statistics: localization IoU as zoo defines it, COCO AP equal to pycocotools'."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from zoo.data import load_dataset
from zoo.metrics.coco import SUMMARY, coco_metrics
from zoo.metrics.localization import ImagePredictions, box_iou, localization, match_ious
from zoo.metrics.speed import latency_summary, throughput
from zoo.model import StageTimes


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 10, 20, 20], 0.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
        ([0, 0, 4, 4], [1, 1, 3, 5], 6 / 18),
    ],
)
def test_box_iou_is_intersection_over_union(a, b, iou):
    assert box_iou([a], [b])[0, 0] == pytest.approx(iou)
    assert box_iou([b], [a])[0, 0] == pytest.approx(iou)


def test_matching_is_one_to_one_and_maximises_total_iou():
    gt = np.array([[0, 0, 10, 10], [8, 0, 18, 10]], float)
    # one prediction overlaps both ground truths; greedy matching would give it to the first and leave the second
    predictions = np.array([[6, 0, 16, 10], [0, 0, 9, 10]], float)
    ious = match_ious(gt, predictions)
    assert ious[0] == pytest.approx(0.9)
    assert ious[1] == pytest.approx(box_iou(gt[1:], predictions[:1])[0, 0])
    assert match_ious(gt, predictions[:1]).tolist().count(0.0) == 1, "one prediction matches one ground truth"
    assert match_ious(gt, np.zeros((0, 4))).tolist() == [0.0, 0.0]


def _images(dataset):
    return dataset.images


def test_localization_counts_unmatched_ground_truth_as_zero_and_respects_conf_and_classes():
    dataset = load_dataset("shapes:count=3,size=96,seed=2")
    predictions = {}
    expected = []
    for n, image in enumerate(dataset.images):
        boxes = image.boxes.copy()
        boxes[:, 2] += 1.0  # each box one pixel too wide
        categories = image.category_ids.copy()
        scores = np.full(len(boxes), 0.9)
        if n == 0:
            scores[0] = 0.1  # below --iou-conf: that ground truth is unmatched
        if n == 1:
            categories[0] = -1  # no dataset category: found only class-agnostically
        predictions[image.id] = ImagePredictions(image.id, boxes, scores, categories)
        width = image.boxes[:, 2] - image.boxes[:, 0]
        expected.append(width / (width + 1))
    agnostic = localization(dataset.images, predictions, conf=0.5, class_aware=False)
    aware = localization(dataset.images, predictions, conf=0.5, class_aware=True)
    flat_agnostic = np.concatenate(expected)
    flat_agnostic[0] = 0.0
    assert agnostic.num_gt == len(flat_agnostic)
    assert agnostic.mean_iou == pytest.approx(flat_agnostic.mean())
    flat_aware = flat_agnostic.copy()
    flat_aware[len(expected[0])] = 0.0
    assert aware.mean_iou == pytest.approx(flat_aware.mean())
    assert agnostic.localized[0.5] == pytest.approx(np.mean(flat_agnostic >= 0.5))
    assert set(agnostic.per_image) == {image.id for image in dataset.images}
    everything = localization(dataset.images, predictions, conf=0.0, class_aware=False)
    assert everything.mean_iou > agnostic.mean_iou


def test_crowd_regions_are_left_out_of_localization():
    dataset = load_dataset("shapes:count=1,size=96,seed=2")
    image = dataset.images[0]
    object.__setattr__(image, "iscrowd", np.array([True] + [False] * (len(image.boxes) - 1)))
    result = localization(dataset.images, {}, conf=0.5, class_aware=False)
    assert result.num_gt == len(image.boxes) - 1


def _perturbed_results(dataset, seed=0):
    """Plausible detections: jittered true boxes, wrong classes, misses and false positives, varied scores."""
    rng = np.random.default_rng(seed)
    results = []
    for image in dataset.images:
        for box, category in zip(image.boxes, image.category_ids):
            if rng.random() < 0.15:
                continue
            x1, y1, x2, y2 = box + rng.normal(0, 2.0, 4)
            wrong = rng.random() < 0.1
            results.append(
                {
                    "image_id": image.id,
                    "category_id": int(category % 3 + 1 if wrong else category),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(rng.random()),
                }
            )
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, image.width - 20), rng.uniform(0, image.height - 20)
            results.append(
                {
                    "image_id": image.id,
                    "category_id": int(rng.integers(1, 4)),
                    "bbox": [x, y, rng.uniform(5, 20), rng.uniform(5, 20)],
                    "score": float(rng.random()),
                }
            )
    return results


def _pycocotools(ground_truth, results, use_cats=True):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), "bbox")
        evaluator.params.useCats = int(use_cats)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_metrics_equal_pycocotools(seed):
    dataset = load_dataset(f"shapes:count=24,size=160,seed={seed}")
    ground_truth = dataset.coco_ground_truth()
    ground_truth["annotations"][0]["iscrowd"] = 1
    results = _perturbed_results(dataset, seed)
    ours = coco_metrics(ground_truth, results)
    reference = _pycocotools(ground_truth, results)
    for name, value in zip(SUMMARY, reference.stats):
        assert (ours[name] if ours[name] is not None else -1.0) == pytest.approx(value, abs=1e-9), name
    precision = reference.eval["precision"]
    for index, category in enumerate(ground_truth["categories"]):
        values = precision[:, :, index, 0, -1]
        assert ours["per_class"][category["name"]] == pytest.approx(values[values > -1].mean(), abs=1e-9)
    agnostic = coco_metrics(ground_truth, results, class_agnostic=True)
    reference_agnostic = _pycocotools(ground_truth, results, use_cats=False)
    for name, value in zip(SUMMARY, reference_agnostic.stats):
        assert (agnostic[name] if agnostic[name] is not None else -1.0) == pytest.approx(value, abs=1e-9), name
    assert 0.1 < ours["map"] < 0.95, "the perturbed detections should score in between"


def test_map_agnostic_breaks_ties_across_classes_as_cocoeval_use_cats_0():
    """Two predictions tied at 0.9: an exact box of class 2 listed first, a half box of class 1. COCOeval's useCats = 0
    takes class 1's first (class by class, then by score, stably): the half box claims the ground truth at IoU 0.5,
    and beyond 0.5 the exact box comes second (AP 0.5 there). Taken in the order given, the exact box would always
    come first (AP 1.0)."""
    truth = {
        "images": [{"id": 1, "width": 32, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    results = [
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 5], "score": 0.9},
    ]
    written = copy.deepcopy(results)
    agnostic = coco_metrics(truth, results, class_agnostic=True)
    assert agnostic["map"] == pytest.approx(_pycocotools(truth, results, use_cats=False).stats[0], abs=1e-12)
    assert agnostic["map"] == pytest.approx((1.0 + 9 * 0.5) / 10) and agnostic["categories"] == 1
    assert results == written, "faster-coco-eval's loadRes adds fields to the records it gets: zoo gives it copies"


def test_coco_metrics_of_no_detections_are_zero_and_missing_sizes_are_none():
    dataset = load_dataset("shapes:count=2,size=64,seed=4")
    ground_truth = dataset.coco_ground_truth()
    metrics = coco_metrics(ground_truth, [])
    assert metrics["map"] == 0.0
    assert metrics["map_large"] is None, "a 64x64 image holds no large (> 96²) object"
    perfect = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in ground_truth["annotations"]
    ]
    scored = coco_metrics(ground_truth, perfect)
    assert scored["map"] == pytest.approx(1.0)
    assert len(scored["pr_curve"]["recall"]) == 101 and scored["pr_curve"]["precision_50"] == [1.0] * 101
    assert metrics["pr_curve"]["precision"] == [0.0] * 101


def test_predictions_without_a_dataset_category_do_not_count_for_class_aware_ap():
    dataset = load_dataset("shapes:count=2,size=64,seed=4")
    ground_truth = dataset.coco_ground_truth()
    perfect = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in ground_truth["annotations"]
    ]
    unmapped = [{**record, "category_id": -1} for record in perfect]
    assert coco_metrics(ground_truth, unmapped)["map"] == 0.0
    assert coco_metrics(ground_truth, unmapped, class_agnostic=True)["map"] == pytest.approx(1.0)


def test_latency_summary_statistics():
    samples = [
        StageTimes(
            0.001 * k,
            0.010 * k,
            0.002,
        )
        for k in range(1, 11)
    ]
    summary = latency_summary(samples)
    total = np.array([0.001 * k + 0.010 * k + 0.002 for k in range(1, 11)]) * 1000
    assert summary["total"]["median"] == pytest.approx(np.median(total))
    assert summary["total"]["p90"] == pytest.approx(np.percentile(total, 90))
    assert summary["total"]["p95"] == pytest.approx(np.percentile(total, 95))
    assert summary["total"]["mean"] == pytest.approx(total.mean())
    assert summary["total"]["std"] == pytest.approx(total.std(ddof=1))
    assert summary["inference"]["median"] == pytest.approx(55.0)
    assert summary["postprocess"]["std"] == pytest.approx(0.0)
    per_image = latency_summary(samples, images_per_call=4)
    assert per_image["total"]["median"] == pytest.approx(np.median(total) / 4)
    assert throughput(samples, 4) == pytest.approx(40 / (total.sum() / 1000))
    with pytest.raises(ValueError):
        latency_summary([])
