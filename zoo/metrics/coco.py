"""COCO detection metrics with faster-coco-eval: the same numbers as pycocotools' COCOeval, several times faster."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo.detections import Detections

SUMMARY = (
    "map",
    "map50",
    "map75",
    "map_small",
    "map_medium",
    "map_large",
    "ar1",
    "ar10",
    "ar100",
    "ar_small",
    "ar_medium",
    "ar_large",
)
"""Names of COCOeval's twelve summary numbers, in its order. -1 there (no ground truth of that kind) is None here."""


def coco_metrics(
    ground_truth: dict[str, Any],
    results: list[dict[str, Any]],
    *,
    class_agnostic: bool = False,
    categories: list[int] | None = None,
) -> dict[str, Any]:
    """Evaluate COCO-format ``results`` (``image_id, category_id, bbox [x,y,w,h], score``) against ``ground_truth``.

    Returns the twelve summary numbers and ``per_class`` AP@[.5:.95] by category name, exactly as pycocotools'
    COCOeval computes them from these records (no rounding; ties in score broken as COCOeval breaks them).
    ``class_agnostic`` is COCOeval's ``params.useCats = 0``: every box one class, whatever its label — predictions
    of no dataset category (category_id -1) included, as if -1 were one more category of the ground truth (plain
    ``useCats = 0`` reads only the ground truth's categories, and would skip them).
    ``categories`` (ids) restricts class-aware AP to those categories (COCOeval's ``params.catIds``): the ones a
    model's label space covers, so a person detector is not averaged with 79 classes it cannot see.
    Neither ``ground_truth`` nor ``results`` is changed (loadRes would add fields to the records it is given).
    """
    from faster_coco_eval import COCO, COCOeval_faster

    known = {image["id"] for image in ground_truth["images"]}
    scored = [{**r, "bbox": list(r["bbox"])} for r in results if r["image_id"] in known]
    ground_truth = {**ground_truth, "annotations": [dict(a) for a in ground_truth["annotations"]]}
    if class_agnostic:
        ground_truth["categories"] = _with_result_categories(ground_truth["categories"], scored)
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        gt = COCO(ground_truth)
        evaluator = COCOeval_faster(
            gt, gt.loadRes(scored) if scored else COCO(), iouType="bbox", print_function=lambda *args: None
        )
        if class_agnostic:
            evaluator.params.useCats = 0
        elif categories is not None:
            evaluator.params.catIds = sorted(categories)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics: dict[str, Any] = {name: _value(v) for name, v in zip(SUMMARY, evaluator.stats)}
    metrics["categories"] = 1 if class_agnostic else len(evaluator.params.catIds)
    metrics["pr_curve"] = _pr_curve(evaluator)
    if not class_agnostic:
        metrics["per_class"] = _per_class_ap(evaluator, ground_truth)
    return metrics


def _with_result_categories(categories: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ground truth's categories and every other category id the results use (-1: no dataset category), so
    that ``useCats = 0`` counts every prediction (COCOeval reads an image's predictions category by category, in
    id order, before its stable sort by score: -1 comes first among equal scores)."""
    known = {category["id"] for category in categories}
    others = sorted({r["category_id"] for r in results} - known)
    return [*categories, *({"id": i, "name": f"(category {i}, not in the ground truth)"} for i in others)]


def _per_class_ap(evaluator: Any, ground_truth: dict[str, Any]) -> dict[str, float | None]:
    """AP@[.5:.95] for each category, area 'all', 100 detections: the precision table averaged where defined."""
    precision = np.asarray(evaluator.eval["precision"])  # [iou thresholds, recall, category, area, max dets]
    names = {category["id"]: category["name"] for category in ground_truth["categories"]}
    per_class: dict[str, float | None] = {}
    for index, category_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, index, 0, -1]
        values = values[values > -1]
        per_class[names[category_id]] = float(values.mean()) if values.size else None
    return per_class


def _pr_curve(evaluator: Any) -> dict[str, list[float | None]]:
    """Precision at COCO's 101 recall points (area all, 100 detections), averaged over categories: at IoU 0.5,
    at 0.75, and averaged over 0.5:0.95. None where no category defines it."""
    precision = np.asarray(evaluator.eval["precision"])[:, :, :, 0, -1]  # [iou thresholds, recall, category]
    thresholds = np.asarray(evaluator.params.iouThrs)

    def mean_over_categories(values: np.ndarray) -> list[float | None]:
        masked = np.where(values > -1, values, np.nan)
        with warnings.catch_warnings():  # a recall point no category defines: nan, said as None below
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(masked, axis=-1) if masked.shape[-1] else np.full(masked.shape[0], np.nan)
        return [None if np.isnan(v) else round(float(v), 6) for v in means]

    at = {f"{t:.2f}": index for index, t in enumerate(thresholds)}
    return {
        "recall": [round(float(r), 2) for r in evaluator.params.recThrs],
        "precision_50": mean_over_categories(precision[at["0.50"]]),
        "precision_75": mean_over_categories(precision[at["0.75"]]),
        "precision": mean_over_categories(precision.transpose(1, 0, 2).reshape(precision.shape[1], -1)),
    }


def _value(value: float) -> float | None:
    return None if value < 0 else float(value)


def results_records(
    image_id: int, detections: Detections, categories: np.ndarray, labels: Sequence[str] | None
) -> list[dict[str, Any]]:
    """One image's predictions in COCO results format, at full precision (the float64 of what the model returned,
    never rounded): ``image_id``, ``category_id`` (-1: no dataset category), ``bbox`` [x, y, w, h], ``score``;
    and, for a model with a label space (``labels``), zoo's one addition ``zoo_label``, the model's own label name
    (so named to collide with no reader's own field: FiftyOne's ``label``, for one)."""
    records = []
    rows = zip(detections.xyxy.tolist(), detections.scores.tolist(), categories.tolist(), detections.labels.tolist())
    for (x1, y1, x2, y2), score, category, label in rows:
        box = [x1, y1, x2 - x1, y2 - y1]
        record: dict[str, Any] = {"image_id": image_id, "category_id": int(category), "bbox": box, "score": score}
        if labels is not None:
            record["zoo_label"] = label_name(labels, label)
        records.append(record)
    return records


def label_name(labels: Sequence[str] | None, label: int) -> str:
    if labels is None:
        return ""
    return str(labels[label]) if 0 <= label < len(labels) else f"<label {label} outside label space>"
