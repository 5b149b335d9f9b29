"""COCO detection metrics with faster-coco-eval: the same numbers as pycocotools' COCOeval, several times faster."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

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

    Returns the twelve summary numbers and ``per_class`` AP@[.5:.95] by category name. With ``class_agnostic``
    every box, ground truth and prediction (of a dataset category or not), is one class "object": how well boxes
    land, whatever their label (the same numbers as COCOeval's ``useCats = 0`` for predictions of known classes).
    ``categories`` (ids) restricts class-aware AP to those categories (COCOeval's ``params.catIds``): the ones a
    model's label space covers, so a person detector is not averaged with 79 classes it cannot see.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    if class_agnostic:
        ground_truth = {
            **ground_truth,
            "categories": [{"id": 1, "name": "object"}],
            "annotations": [{**a, "category_id": 1} for a in ground_truth["annotations"]],
        }
        results = [{**r, "category_id": 1} for r in results]
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        gt = COCO(ground_truth)
        known = {image["id"] for image in ground_truth["images"]}
        scored = [r for r in results if r["image_id"] in known]
        evaluator = COCOeval_faster(
            gt, gt.loadRes(scored) if scored else COCO(), iouType="bbox", print_function=lambda *args: None
        )
        if categories is not None and not class_agnostic:
            evaluator.params.catIds = sorted(categories)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics: dict[str, Any] = {name: _value(v) for name, v in zip(SUMMARY, evaluator.stats)}
    metrics["categories"] = len(evaluator.params.catIds)
    metrics["pr_curve"] = _pr_curve(evaluator)
    if not class_agnostic:
        metrics["per_class"] = _per_class_ap(evaluator, ground_truth)
    return metrics


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
        with np.errstate(all="ignore"):
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
