"""COCO's labels as transformers' COCO checkpoints number them, and a label list from a checkpoint's ``id2label``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.labels import COCO_CLASSES

# The category ids COCO gives its 80 classes (zoo.labels.COCO_CLASSES, in that order) (1..90 with 10 unused ids): DETR,
# Conditional/Deformable DETR and YOLOS predict label ids in that 91-id space ("N/A" at 0 and at the gaps), RT-DETR
# predicts the 80 classes as 0..79.
COCO_UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO_IDS = tuple(i for i in range(1, 91) if i not in COCO_UNUSED_IDS)
GAP = "N/A"  # the name transformers' COCO checkpoints give an unused label id


def coco_id2label(space: str) -> dict[int, str]:
    """COCO's labels as a checkpoint's ``id2label``: "coco91" (ids 0..90, "N/A" where unused) or "coco80" (0..79)."""
    if space == "coco80":
        return dict(enumerate(COCO_CLASSES))
    names = dict(zip(COCO_IDS, COCO_CLASSES))
    return {i: names.get(i, GAP) for i in range(91)}


def labels_from_id2label(id2label: Mapping[Any, str]) -> list[str]:
    """A label list indexed by label id: ``labels[i] == id2label[i]``, gaps filled with "N/A"."""
    by_id = {int(k): str(v) for k, v in id2label.items()}
    size = max(by_id, default=-1) + 1
    return [by_id.get(i, GAP) for i in range(size)]
