"""Localization IoU as zoo defines it: each ground-truth box is matched one-to-one to a prediction, and scores the
IoU of its match (0 when it has none).

Matching maximises the summed IoU (the Hungarian algorithm) among predictions scoring at least ``conf``; in the
class-aware variant a ground truth can only match a prediction of its own category. Crowd / difficult regions are
left out. The confidence threshold matters here (unlike for AP): every setting is returned with the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from zoo.data import ImageRecord


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: area of intersection over area of union, ``(len(a), len(b))``."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


@dataclass(frozen=True)
class ImagePredictions:
    """A model's predictions for one image, labels already mapped to dataset category ids (-1: no category)."""

    image_id: int
    xyxy: np.ndarray
    scores: np.ndarray
    category_ids: np.ndarray


@dataclass(frozen=True)
class LocalizationResult:
    mean_iou: float  # mean over ground-truth boxes of the IoU of their match
    localized: dict[float, float]  # threshold -> share of ground-truth boxes matched at IoU >= threshold
    num_gt: int
    per_image: dict[int, float]  # image id -> mean IoU of its ground-truth boxes (images with boxes only)


def match_ious(gt: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """For each ground-truth box, the IoU of its one-to-one match maximising the total IoU (0 if unmatched)."""
    ious = np.zeros(len(gt))
    if len(gt) and len(predictions):
        matrix = box_iou(gt, predictions)
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        ious[rows] = matrix[rows, cols]
    return ious


def localization(
    images: Sequence[ImageRecord],
    predictions: dict[int, ImagePredictions],
    *,
    conf: float,
    class_aware: bool,
    thresholds: Sequence[float] = (0.5, 0.75),
) -> LocalizationResult | None:
    """Localization IoU over ``images``; None when they hold no (non-crowd) ground-truth box."""
    all_ious: list[np.ndarray] = []
    per_image: dict[int, float] = {}
    for image in images:
        keep = ~image.iscrowd
        gt_boxes, gt_categories = image.boxes[keep], image.category_ids[keep]
        if not len(gt_boxes):
            continue
        prediction = predictions.get(image.id)
        if prediction is None:
            ious = np.zeros(len(gt_boxes))
        else:
            confident = prediction.scores >= conf
            boxes, categories = prediction.xyxy[confident], prediction.category_ids[confident]
            if class_aware:
                ious = np.zeros(len(gt_boxes))
                for category in np.unique(gt_categories):
                    mine = gt_categories == category
                    ious[mine] = match_ious(gt_boxes[mine], boxes[categories == category])
            else:
                ious = match_ious(gt_boxes, boxes)
        all_ious.append(ious)
        per_image[image.id] = float(ious.mean())
    if not all_ious:
        return None
    ious = np.concatenate(all_ious)
    return LocalizationResult(
        mean_iou=float(ious.mean()),
        localized={t: float((ious >= t).mean()) for t in thresholds},
        num_gt=len(ious),
        per_image=per_image,
    )
