"""Joining a model's label space to the dataset's categories by name — explicitly, and counting what is dropped.

Names are compared after normalising case, ``_`` and ``-``, and through an alias table of the names other
datasets use for COCO's classes ("motorbike" is "motorcycle"). A model class the dataset lacks maps to nothing:
its predictions still count for class-agnostic localization, not for class-aware metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from zoo.data import Category

ALIASES = {
    "aeroplane": "airplane",
    "motorbike": "motorcycle",
    "sofa": "couch",
    "tvmonitor": "tv",
    "tv monitor": "tv",
    "diningtable": "dining table",
    "pottedplant": "potted plant",
    "potted plant": "potted plant",
    "ball": "sports ball",
    "hand bag": "handbag",
    "hair dryer": "hair drier",
    "cellphone": "cell phone",
    "mobile phone": "cell phone",
    "laptop computer": "laptop",
    "doughnut": "donut",
    "ski": "skis",
    "people": "person",
    "pedestrian": "person",
}
NO_CLASS = -1
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
"""COCO's 80 detection categories, in the order of their ids."""


def normalise(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


@dataclass(frozen=True)
class LabelMap:
    """Model label index -> dataset category id (``NO_CLASS`` where the dataset has no such category)."""

    to_category: np.ndarray
    mapped: dict[str, str]  # model label -> dataset category name, for the record
    unmapped: list[str]  # model labels with no dataset category

    def covered(self) -> set[int]:
        """The dataset category ids some model label maps to."""
        return {int(c) for c in self.to_category if c != NO_CLASS}

    def apply(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels, dtype=np.int64)
        valid = (labels >= 0) & (labels < len(self.to_category))
        out = np.full(len(labels), NO_CLASS, dtype=np.int64)
        out[valid] = self.to_category[labels[valid]]
        return out


def build_label_map(
    model_labels: Sequence[str] | None, categories: Sequence[Category], extra_aliases: Mapping[str, str] = {}
) -> LabelMap:
    """Map each model label to the dataset category of the same (normalised or aliased) name."""
    if model_labels is None:  # a class-agnostic model
        return LabelMap(np.zeros(0, dtype=np.int64), {}, [])
    aliases = {**ALIASES, **{normalise(k): normalise(v) for k, v in extra_aliases.items()}}

    def canonical(name: str) -> str:
        name = normalise(name)
        return aliases.get(name, name)

    by_name = {canonical(category.name): category for category in categories}
    to_category = np.full(len(model_labels), NO_CLASS, dtype=np.int64)
    mapped, unmapped = {}, []
    for index, label in enumerate(model_labels):
        category = by_name.get(canonical(label))
        if category is None:
            unmapped.append(str(label))
        else:
            to_category[index] = category.id
            mapped[str(label)] = category.name
    return LabelMap(to_category, mapped, unmapped)
