"""`Detections`: the boxes a model found in one image, in the one shape every plugin returns (`zoo.contract` checks
them against their image and the model's label space)."""

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
        if labels.dtype.kind in "USO" and len(labels) and isinstance(labels.flat[0], (str, bytes)):
            raise ValueError(
                f"labels are indices into self.labels, got names such as {str(labels.flat[0])!r}: give each box's "
                "index (self.labels.index(name)), not its name"
            )
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
