"""How far a runtime row is from its torch row, on the same images: of the boxes COCO AP reads from the torch row
(its 100 best per image), the share the runtime row also predicts — IoU ≥ 0.9, same label, matched one to one —
the largest deviation of a matched box in pixels and of its score, and the AP and mean IoU differences. Like
MMDeploy's regression test, a row is ``within_tolerance`` when its AP is within 0.5 point of the torch row's and
its boxes agree (at least 99% matched)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from zoo.results import ModelResult, RunResults, Status
from zoo.runtimes.rows import torch_row

MATCH_IOU = 0.9
TOP = 100  # the boxes per image COCO AP reads (maxDets)
AP_TOLERANCE = 0.005  # 0.5 AP point
MATCHED_TOLERANCE = 0.99
TIE = 1e-5  # scores this close are a tie: which of them a model keeps first is arbitrary
SCORE_TOLERANCE = 1e-4  # the sorted scores agree to this: tied boxes left unmatched are excused


def compare(reference: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement of ``other``'s predictions with ``reference``'s (both COCO results lists: image_id, bbox xywh,
    score, category_id and, where the model has classes, zoo_label).

    Which of boxes tied on score (within ``TIE``) a model keeps — its sort, its NMS, its 100 best — is arbitrary,
    and an untrained copy on flat images scores many boxes alike: the unmatched reference boxes that tie another's
    score are counted apart (``unmatched_tied``), and the sorted scores are compared whatever the ties
    (``max_sorted_score_deviation``)."""
    ours, theirs = _by_image(reference), _by_image(other)
    compared = matched = tied = 0
    box_dev = score_dev = sorted_dev = 0.0
    for image_id, everything in ours.items():
        everything = sorted(everything, key=lambda p: -p["score"])
        candidates = theirs.get(image_id, [])
        scores = np.array([p["score"] for p in everything], dtype=np.float64)
        gaps = np.abs(np.diff(scores)) <= TIE
        is_tied = np.zeros(len(scores), bool)
        is_tied[:-1] |= gaps
        is_tied[1:] |= gaps
        boxes, ties = everything[:TOP], is_tied[:TOP]
        compared += len(boxes)
        theirs_sorted = np.sort(np.array([p["score"] for p in candidates], dtype=np.float64))[::-1][:TOP]
        count = min(len(theirs_sorted), len(scores), TOP)
        if count:
            sorted_dev = max(sorted_dev, float(np.max(np.abs(scores[:count] - theirs_sorted[:count]))))
        if not candidates:
            tied += int(ties.sum())
            continue
        a, b = _xyxy(boxes), _xyxy(candidates)
        overlap = _iou_matrix(a, b)
        same = (
            np.array([_label(p) for p in boxes], dtype=object)[:, None]
            == np.array([_label(p) for p in candidates], dtype=object)[None, :]
        )
        overlap = np.where(same, overlap, -1.0)
        for row in range(len(boxes)):  # in the torch row's score order, each to its best free match
            column = int(np.argmax(overlap[row]))
            if overlap[row, column] < MATCH_IOU:
                tied += int(ties[row])
                continue
            overlap[:, column] = -1.0
            matched += 1
            box_dev = max(box_dev, float(np.max(np.abs(a[row] - b[column]))))
            score_dev = max(score_dev, abs(float(boxes[row]["score"]) - float(candidates[column]["score"])))
    return {
        "boxes_compared": compared,
        "matched_share": matched / compared if compared else None,
        "max_box_deviation_px": box_dev if matched else None,
        "max_score_deviation": score_dev if matched else None,
        "unmatched_tied": tied,
        "max_sorted_score_deviation": sorted_dev if ours else None,
        "match": f"IoU ≥ {MATCH_IOU}, same label, one to one, the torch row's {TOP} best boxes per image (scores "
        f"within {TIE:g}: tied)",
    }


def for_rows(
    torch_result: ModelResult, torch_predictions: list[dict], result: ModelResult, predictions: list[dict]
) -> dict:
    """The agreement of a runtime row with its torch row: `compare`, the AP / mean IoU differences (runtime minus
    torch) and ``within_tolerance``."""
    agreement = compare(torch_predictions, predictions)
    for key, (a, b) in {"map": _maps(torch_result, result), "mean_iou": _mean_ious(torch_result, result)}.items():
        agreement[f"{key}_diff"] = b - a if a is not None and b is not None else None
    ap_diff, compared = agreement["map_diff"], agreement["boxes_compared"]
    # boxes lost only to an arbitrary choice among tied scores do not count against the export, provided the scores
    # themselves agree (sorted); else (an int8 model) they count
    excused = agreement["unmatched_tied"] if (agreement["max_sorted_score_deviation"] or 0) <= SCORE_TOLERANCE else 0
    share = (agreement["matched_share"] * compared + excused) / compared if compared else None
    agreement["within_tolerance"] = (
        None
        if share is None
        else bool(share >= MATCHED_TOLERANCE and (ap_diff is None or abs(ap_diff) <= AP_TOLERANCE))
    )
    if share is None:
        agreement["missing"] = "the torch row has no box to compare"
    agreement["tolerance"] = (
        f"AP within {AP_TOLERANCE * 100:g} point, ≥ {MATCHED_TOLERANCE:.0%} of boxes matched (or unmatched only "
        f"among tied scores, the sorted scores agreeing within {SCORE_TOLERANCE:g})"
    )
    return agreement


def _maps(*results: ModelResult) -> tuple[float | None, ...]:
    return tuple(r.accuracy.coco.map if r.accuracy.coco else None for r in results)


def _mean_ious(*results: ModelResult) -> tuple[float | None, ...]:
    return tuple(r.accuracy.localization.mean_iou if r.accuracy.localization else None for r in results)


def add_to(result: ModelResult, predictions: list[dict], results: RunResults, run_dir: Path) -> None:
    """Put the agreement with the torch row into a runtime row's ``result.runtime`` (a missing one with its reason),
    reading the torch row's predictions from the run folder."""
    record = result.runtime
    if not isinstance(record, dict) or result.status == Status.UNSUPPORTED:
        return
    torch_id = torch_row(result.id)
    torch_result = next((r for r in results.models if r.id == torch_id), None)
    reason = None
    if torch_result is None:
        reason = f"the torch row {torch_id} is not in this run folder (add torch to --runtimes)"
    elif not torch_result.predictions_file:
        reason = f"the torch row {torch_id} has no predictions ({torch_result.status})"
    elif not predictions and (result.missing.get("accuracy") or result.status != Status.OK):
        # no accuracy pass (an untrained copy timed only, a failure); a pass that found nothing agrees on nothing
        reason = "this row has no accuracy pass: " + (result.missing.get("accuracy") or result.reason)
    if reason is not None:
        record["agreement"] = None
        record["agreement_missing"] = reason
        return
    path = run_dir / torch_result.predictions_file
    torch_predictions = json.loads(path.read_text(encoding="utf-8"))
    record["agreement"] = for_rows(torch_result, torch_predictions, result, predictions)


def detections_to_results(detections: list[Any], labels: Any) -> list[dict[str, Any]]:
    """`Detections` of a few images as COCO results (image ids 0, 1, ...), for `compare` in-process."""
    out = []
    for image_id, item in enumerate(detections):
        classes = item.labels if labels is not None else [None] * len(item.xyxy)
        for box, score, label in zip(item.xyxy, item.scores, classes):
            x1, y1, x2, y2 = (float(v) for v in box)
            prediction = {"image_id": image_id, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
            if label is not None:
                prediction["category_id"] = int(label)
                prediction["zoo_label"] = str(labels[int(label)])
            out.append(prediction)
    return out


def _by_image(predictions: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for prediction in predictions:
        grouped[prediction["image_id"]].append(prediction)
    return grouped


def _label(prediction: dict[str, Any]) -> Any:
    return prediction.get("zoo_label", prediction.get("category_id"))


def _xyxy(predictions: list[dict[str, Any]]) -> np.ndarray:
    xywh = np.array([p["bbox"] for p in predictions], dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` with every box of ``b`` (xyxy); two identical zero-size boxes count as 1."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    identical = np.all(a[:, None, :] == b[None, :, :], axis=2)
    return np.where(identical, 1.0, iou)
