"""The output contract: what every `Model.predict` call's results must be, checked in one place.

`Model.predict` applies `check_outputs` to every call it makes — the accuracy pass, the warm-up, latency top-ups and
batches alike — and a broken rule fails the model's run with the rule's message. ``zoo plugin check`` and
`zoo.testing` report the same rules, with the same words, item by item (`ContractError.rule` says which): a model
that passes the check cannot fail a run on its output, nor the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from zoo.detections import Detections


class Predicts(Protocol):
    """What `check_batch_call` calls: a `zoo.Model` (which applies this module's rules to its every call)."""

    def predict(self, images: list[np.ndarray]) -> Any: ...


ONE_EACH, BOXES, SCORES, LABELS = "one-each", "boxes", "scores", "labels"
"""The rules, as `ContractError.rule` names them."""

FAR_OUTSIDE = 0.5
"""How far past its image a box may reach, as a share of the image's size, before it counts as malformed."""
SCORE_SLACK = 1e-6
"""How far past [0, 1] a score may be (float32 rounding of a sigmoid) before it counts as malformed."""
NORMALISED_MIN_SIDE = 16
"""On images whose sides are all longer than this (pixels), boxes that all lie within 0..1 are normalised
coordinates, not pixels."""


class ContractError(ValueError):
    """A model's output breaks a rule of the contract; ``rule`` is one of ONE_EACH, BOXES, SCORES, LABELS."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class Checked:
    """A batch's results that keep the contract, and what is allowed but worth saying about them."""

    detections: list[Detections]
    zero_size: int  # boxes of zero width or height (a box clipped at the edge): kept, scored as COCOeval does
    past_edge: str = ""  # the first box reaching past its image (by less than FAR_OUTSIDE), described; "" if none


def check_outputs(results: Sequence[Any], images: Sequence[np.ndarray], num_labels: int | None) -> Checked:
    """Check what ``postprocess`` returned for ``images`` against every rule; raises `ContractError` (naming the
    image of the batch) at the first rule broken."""
    detections = check_count(results, len(images))
    zero_size, past_edge = 0, ""
    for index, (found, image) in enumerate(zip(detections, images)):
        height, width = image.shape[:2]
        try:
            zero, past = check_boxes(found, width, height)
            check_scores(found)
            check_labels(found, num_labels)
        except ContractError as error:
            raise ContractError(error.rule, f"image {index} of the batch: {error}") from None
        zero_size += zero
        past_edge = past_edge or (f"image {index} of the batch: {past}" if past else "")
    return Checked(detections, zero_size, past_edge)


def check_batch_call(model: Predicts, images: Sequence[np.ndarray]) -> None:
    """One untimed `Model.predict` call on the first two of ``images`` together, its output checked as every call's
    is; raises `ContractError` when it breaks a rule. Every call of a run's accuracy pass and warm-up is at batch 1,
    where a ``postprocess`` that returns one result for the whole batch looks right: a run that times no batch (the
    speed budget skipped them) makes this call instead, so such a model fails the run as it fails ``zoo plugin
    check``. Nothing it predicts is scored or timed."""
    if len(images) >= 2:
        model.predict([images[0], images[1]])


def check_count(results: Sequence[Any], count: int) -> list[Detections]:
    """One `Detections` per image, in order."""
    if len(results) != count:
        raise ContractError(
            ONE_EACH,
            f"postprocess returned {len(results)} results for a batch of {count} images: return one zoo.Detections "
            "per image, in order",
        )
    wrong = next((item for item in results if not isinstance(item, Detections)), None)
    if wrong is not None:
        raise ContractError(
            ONE_EACH,
            f"postprocess must return zoo.Detections, got {type(wrong).__name__}: return a list of "
            "zoo.Detections(xyxy, scores, labels), one per image",
        )
    return list(results)


def check_boxes(detections: Detections, width: int, height: int) -> tuple[int, str]:
    """Boxes are ``x1, y1, x2, y2`` in the pixels of the original ``width`` x ``height`` image. Raises for what can
    only come from a bug: negative width or height (xywh passed as xyxy?), a box far outside the image (coordinates
    of another image size?), every box within 0..1 on an image larger than that (normalised coordinates). Returns
    how many boxes have zero width or height, and the first box that reaches past the image by less than
    `FAR_OUTSIDE` (scored as given), described ("" when none)."""
    boxes = detections.xyxy
    x1, y1, x2, y2 = boxes.T
    negative = np.flatnonzero((x2 < x1) | (y2 < y1))
    if len(negative):
        box = boxes[negative[0]].round(2).tolist()
        raise ContractError(
            BOXES,
            f"{len(negative)} box(es) with negative width or height, e.g. {box}; boxes must be xyxy: give x1, y1, x2, "
            "y2 (not x, y, w, h)",
        )
    margin_x, margin_y = FAR_OUTSIDE * width, FAR_OUTSIDE * height
    outside = np.flatnonzero((x1 < -margin_x) | (y1 < -margin_y) | (x2 > width + margin_x) | (y2 > height + margin_y))
    if len(outside):
        box = boxes[outside[0]].round(2).tolist()
        raise ContractError(
            BOXES,
            f"{len(outside)} box(es) far outside the {width}x{height} image, e.g. {box}; are they in the original "
            "image's pixels? (scale them back from the network's input size)",
        )
    # fractions of the image: within 0..1, with area and some fraction (a 1-pixel box at the corner is pixels)
    fractional = bool(((x2 > x1) & (y2 > y1)).any() and np.any(boxes % 1)) and float(boxes.max()) <= 1.0
    if fractional and min(width, height) > NORMALISED_MIN_SIDE:
        raise ContractError(
            BOXES,
            f"every box lies within 0..1: give pixels of the original image (multiply by its width and height, "
            f"{width}x{height} here)",
        )
    past = np.flatnonzero((x1 < -1) | (y1 < -1) | (x2 > width + 1) | (y2 > height + 1))
    reaches = ""
    if len(past):
        reaches = (
            f"box {boxes[past[0]].round(1).tolist()} reaches past the {width}x{height} image; scored as given, but "
            "clip boxes to 0..width, 0..height if the model's own evaluation does (ground truth never leaves the image)"
        )
    return int(((x2 == x1) | (y2 == y1)).sum()), reaches


def check_scores(detections: Detections) -> None:
    """Scores are confidences in [0, 1] (within float rounding)."""
    scores = detections.scores
    wrong = np.flatnonzero((scores < -SCORE_SLACK) | (scores > 1 + SCORE_SLACK))
    if len(wrong):
        low, high = float(scores.min()), float(scores.max())
        raise ContractError(
            SCORES,
            f"scores run from {low:.3g} to {high:.3g}: give confidences in [0, 1] (apply the model's sigmoid or "
            "softmax), or no confidence threshold means anything",
        )


def check_labels(detections: Detections, num_labels: int | None) -> None:
    """Labels index the model's label space ``self.labels`` from 0 (ignored for a class-agnostic model: None)."""
    if num_labels is None:
        return
    labels = detections.labels
    bad = np.flatnonzero((labels < 0) | (labels >= num_labels))
    if len(bad):
        raise ContractError(
            LABELS,
            f"label {int(labels[bad[0]])} is outside the model's label space (0..{num_labels - 1}): labels index "
            "self.labels from 0 (torchvision's count from 1: keep its '__background__' at 0, or subtract 1)",
        )


def check_detections(detections: Detections, width: int, height: int, num_labels: int | None) -> tuple[Detections, int]:
    """One image's detections against the image and the label space (every rule but the count); returns them
    unchanged, and how many boxes have zero width or height."""
    zero_size, _ = check_boxes(detections, width, height)
    check_scores(detections)
    check_labels(detections, num_labels)
    return detections, zero_size
