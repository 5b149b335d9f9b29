"""`Detections`: the boxes a model found in one image, in the one shape every plugin returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes found in one image.

    - ``xyxy``: float array ``(n, 4)``, absolute pixel corners ``x1, y1, x2, y2`` of the original image.
    - ``scores``: float array ``(n,)``, the model's confidence; no threshold applied.
    - ``labels``: int array ``(n,)``, indices into the model's label space (``Model.labels``); ignored for a
      class-agnostic model (``Model.labels is None``).
    """

    xyxy: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float64)
        scores = np.asarray(self.scores, dtype=np.float64)
        labels = np.asarray(self.labels)
        # An empty result may come as [], (0,) or (0, 4).
        xyxy = xyxy.reshape(0, 4) if xyxy.size == 0 else xyxy
        scores = scores.reshape(0) if scores.size == 0 else scores
        labels = labels.reshape(0) if labels.size == 0 else labels
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (n, 4), got {xyxy.shape}")
        n = len(xyxy)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},) to match {n} boxes, got {scores.shape}")
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) to match {n} boxes, got {labels.shape}")
        if labels.dtype.kind not in "iu" and (
            labels.dtype.kind != "f" or not np.all(np.isfinite(labels)) or np.any(labels % 1)
        ):
            raise ValueError(f"labels must be whole numbers, got {labels.dtype} values")
        if not np.all(np.isfinite(xyxy)):
            raise ValueError("xyxy holds NaN or infinite values")
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores hold NaN or infinite values")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels.astype(np.int64))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)


FAR_OUTSIDE = 0.5
"""How far past its image a box may reach, as a share of the image's size, before it counts as malformed."""
SCORE_SLACK = 1e-6
"""How far past [0, 1] a score may be (float32 rounding of a sigmoid) before it counts as malformed."""


def check_detections(detections: Detections, width: int, height: int, num_labels: int | None) -> tuple[Detections, int]:
    """Check one image's detections against the image and the model's label space.

    Raises ValueError for output that can only come from a bug — negative width or height (xywh passed as xyxy?),
    a box far outside the image (coordinates of another image size?), a score outside [0, 1] (logits?), a label
    outside the label space. Returns the detections unchanged, and how many boxes have zero width or height (a box
    clipped at the image edge): those are kept, and scored as COCOeval scores them (IoU 0 with everything).
    """
    x1, y1, x2, y2 = detections.xyxy.T
    negative = np.flatnonzero((x2 < x1) | (y2 < y1))
    if len(negative):
        box = detections.xyxy[negative[0]].round(2).tolist()
        raise ValueError(f"{len(negative)} box(es) with negative width or height, e.g. {box}; boxes must be xyxy")
    margin_x, margin_y = FAR_OUTSIDE * width, FAR_OUTSIDE * height
    outside = np.flatnonzero((x1 < -margin_x) | (y1 < -margin_y) | (x2 > width + margin_x) | (y2 > height + margin_y))
    if len(outside):
        box = detections.xyxy[outside[0]].round(2).tolist()
        raise ValueError(
            f"{len(outside)} box(es) far outside the {width}x{height} image, e.g. {box}; are they in the "
            "original image's pixels?"
        )
    scores = detections.scores
    wrong = np.flatnonzero(~np.isfinite(scores) | (scores < -SCORE_SLACK) | (scores > 1 + SCORE_SLACK))
    if len(wrong):
        raise ValueError(
            f"{len(wrong)} score(s) outside [0, 1], e.g. {float(scores[wrong[0]]):.4g}; scores must be probabilities "
            "(apply the model's sigmoid or softmax), or no confidence threshold means anything"
        )
    if num_labels is not None:
        bad = np.flatnonzero((detections.labels < 0) | (detections.labels >= num_labels))
        if len(bad):
            raise ValueError(
                f"label {int(detections.labels[bad[0]])} is outside the model's label space (0..{num_labels - 1})"
            )
    return detections, int(((x2 == x1) | (y2 == y1)).sum())
