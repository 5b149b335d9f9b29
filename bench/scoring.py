"""Scoring: the time zoo's runner spends scoring one model — COCO AP class-agnostic and class-aware
(`zoo.metrics.coco.coco_metrics`, faster-coco-eval) and IoU matching both ways (`zoo.metrics.localization`) — ÷
pycocotools' COCOeval (evaluate, accumulate, summarize) for the class-aware AP alone, on the same synthetic,
seeded data: 5,000 images × 7 ground truths × 100 predictions, 80 categories (COCO val2017's shape). The twelve
class-aware summary numbers of both are compared (their largest difference is printed).
"""

from __future__ import annotations

import contextlib
import functools
import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.table import Row, seconds
from zoo.data import Category, Dataset, ImageRecord
from zoo.metrics.coco import SUMMARY, coco_metrics
from zoo.metrics.localization import ImagePredictions, localization

TITLE = "scoring"
GOAL = None
HOW = (
    "seconds: zoo's scoring of one model (COCO AP agnostic + class-aware, IoU matching agnostic + class-aware) ÷ "
    "pycocotools COCOeval class-aware (evaluate + accumulate + summarize); synthetic, seeded"
)
IMAGES, QUICK_IMAGES = 5000, 300
GROUND_TRUTHS, PREDICTIONS, CATEGORIES = 7, 100, 80  # the shape of COCO val2017
WIDTH, HEIGHT = 640, 480
IOU_CONF = 0.5  # the runner's default --iou-conf


@dataclass(frozen=True)
class Synthetic:
    """Ground truth as a zoo dataset, and the predictions as the runner holds them: COCO result records (for AP)
    and per-image arrays (for IoU matching)."""

    dataset: Dataset
    records: list[dict[str, Any]]
    per_image: dict[int, ImagePredictions]


def synthetic(images: int, seed: int = 0) -> Synthetic:
    """Boxes of 8–200 px; half the predictions are jittered copies of a ground truth (70% with its category),
    half anywhere; scores uniform."""
    rng = np.random.default_rng(seed)
    categories = [Category(i + 1, f"class-{i + 1}") for i in range(CATEGORIES)]
    records: list[ImageRecord] = []
    results: list[dict[str, Any]] = []
    per_image: dict[int, ImagePredictions] = {}
    blank = functools.partial(np.zeros, (HEIGHT, WIDTH, 3), np.uint8)
    for image_id in range(1, images + 1):
        boxes = _boxes(rng, GROUND_TRUTHS)
        labels = rng.integers(1, CATEGORIES + 1, GROUND_TRUTHS)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        crowd = np.zeros(GROUND_TRUTHS, bool)
        records.append(ImageRecord(image_id, f"{image_id}.png", WIDTH, HEIGHT, boxes, labels, crowd, areas, blank))
        predicted, predicted_labels = _predictions(rng, boxes, labels)
        scores = rng.random(PREDICTIONS)
        per_image[image_id] = ImagePredictions(image_id, predicted, scores, predicted_labels)
        for (x1, y1, x2, y2), score, label in zip(predicted.tolist(), scores.tolist(), predicted_labels.tolist()):
            box = [x1, y1, x2 - x1, y2 - y1]
            results.append({"image_id": image_id, "category_id": label, "bbox": box, "score": score})
    dataset = Dataset("synthetic", "coco", "bench", categories, records)
    return Synthetic(dataset, results, per_image)


def _boxes(rng: np.random.Generator, count: int) -> np.ndarray:
    sizes = np.exp(rng.uniform(np.log(8), np.log(200), (count, 2)))
    x1 = rng.uniform(0, WIDTH - sizes[:, 0])
    y1 = rng.uniform(0, HEIGHT - sizes[:, 1])
    return np.stack([x1, y1, x1 + sizes[:, 0], y1 + sizes[:, 1]], axis=1)


def _predictions(rng: np.random.Generator, boxes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    near = PREDICTIONS // 2
    source = rng.integers(0, len(boxes), near)
    sides = np.repeat(boxes[source, 2:] - boxes[source, :2], 2, axis=0).reshape(near, 4)
    jittered = boxes[source] + rng.normal(0, 0.1, (near, 4)) * sides
    jittered = np.clip(jittered, 0, [WIDTH, HEIGHT, WIDTH, HEIGHT])
    jittered[:, 2:] = np.maximum(jittered[:, 2:], jittered[:, :2] + 1)
    kept = rng.random(near) < 0.7
    near_labels = np.where(kept, labels[source], rng.integers(1, CATEGORIES + 1, near))
    anywhere = _boxes(rng, PREDICTIONS - near)
    far_labels = rng.integers(1, CATEGORIES + 1, PREDICTIONS - near)
    return np.concatenate([jittered, anywhere]), np.concatenate([near_labels, far_labels])


def zoo_scoring(data: Synthetic) -> tuple[dict[str, float], dict[str, Any]]:
    """Seconds of each step of the runner's scoring, and the class-aware COCO metrics."""
    seconds: dict[str, float] = {}
    images, per_image = data.dataset.images, data.per_image
    with _clock(seconds, "IoU matching, agnostic"):
        localization(images, per_image, conf=IOU_CONF, class_aware=False)
    with _clock(seconds, "ground truth"):
        ground_truth = data.dataset.coco_ground_truth()
    with _clock(seconds, "COCO AP, agnostic"):
        coco_metrics(ground_truth, data.records, class_agnostic=True)
    with _clock(seconds, "IoU matching, class-aware"):
        localization(images, per_image, conf=IOU_CONF, class_aware=True)
    with _clock(seconds, "COCO AP, class-aware"):
        aware = coco_metrics(ground_truth, data.records, categories=[c.id for c in data.dataset.categories])
    return seconds, aware


def pycocotools_scoring(data: Synthetic) -> tuple[float, list[float]]:
    """Seconds of COCOeval's class-aware evaluation (from building its index to the summary), and its stats."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ground_truth = data.dataset.coco_ground_truth()
    records = [{**record, "bbox": list(record["bbox"])} for record in data.records]  # loadRes adds fields
    with contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(records), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        elapsed = time.perf_counter() - started
    return elapsed, [float(value) for value in evaluator.stats]


@contextlib.contextmanager
def _clock(seconds: dict[str, float], step: str):
    started = time.perf_counter()
    yield
    seconds[step] = time.perf_counter() - started


def measure(quick: bool = False, **_: Any) -> Row:
    images = QUICK_IMAGES if quick else IMAGES
    data = synthetic(images)
    steps, aware = zoo_scoring(data)
    reference, stats = pycocotools_scoring(data)
    zoo_total = sum(steps.values())
    difference = max(abs((aware[name] if aware[name] is not None else -1.0) - s) for name, s in zip(SUMMARY, stats))
    split = ", ".join(f"{step} {seconds(value)}" for step, value in steps.items())
    return Row(
        TITLE,
        seconds(zoo_total),
        f"{seconds(reference)} pycocotools",
        zoo_total / reference,
        GOAL,
        HOW,
        details=[
            f"{images} images × {GROUND_TRUTHS} ground truths × {PREDICTIONS} predictions, {CATEGORIES} categories",
            f"zoo: {split}; the class-aware AP alone ÷ COCOeval: {steps['COCO AP, class-aware'] / reference:.3f}",
            f"the twelve class-aware summary numbers agree with COCOeval's to {difference:.1e} at most",
        ],
    )
