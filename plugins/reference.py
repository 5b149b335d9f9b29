"""The reference plugin: two models with no deep-learning dependency, and the template to copy for your own.

A plugin is a module (a file in ``plugins/``, a folder given with ``--plugins-dir``, or an installed package with
an entry point in the group ``zoo``) that implements ``register_models``. Each model is a `zoo.Model` subclass:

- class attributes: ``name`` (the id), ``family``, ``framework``, ``description``;
- ``__init__`` takes ``weights`` and, as keyword arguments, the ``options`` of its ``registry.yaml`` entry;
- ``load(device)`` loads weights and sets ``self.labels`` (the label space; ``None`` for a class-agnostic model);
- ``preprocess`` / ``forward`` / ``postprocess``: zoo times each step, so put the work where it belongs;
- ``postprocess`` returns one `zoo.Detections` per image: absolute-pixel xyxy boxes, scores, label indices.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

import zoo


class Blobs(zoo.Model):
    """Finds saturated-colour regions, boxes each connected region and names its shape by how much of the box it
    fills (circle π/4, square 1, triangle 1/2). Made for ``--data shapes``: a floor every learned model should beat."""

    name = "reference-blobs"
    family = "classic"
    framework = "numpy"
    finetune_unsupported = "a fixed rule with nothing to learn"
    description = "colour threshold + connected components; shape from fill ratio (no learning)"
    FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}

    def __init__(self, *, weights: str | None = None, min_saturation: float = 0.5, min_area: int = 12) -> None:
        super().__init__(weights=weights)
        self.min_saturation = min_saturation
        self.min_area = min_area

    def load(self, device: str) -> None:
        self.labels = list(self.FILL)

    def preprocess(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Saturation of each pixel: (max - min) / max over R, G, B."""
        saturations = []
        for image in images:
            pixels = image.astype(np.float32)
            high, low = pixels.max(axis=2), pixels.min(axis=2)
            saturations.append(np.divide(high - low, high, out=np.zeros_like(high), where=high > 0))
        return saturations

    def forward(self, batch: list[np.ndarray]) -> list[list[tuple[tuple[slice, slice], float]]]:
        """Connected regions of saturated pixels: each region's bounding slices and fill ratio."""
        found = []
        for saturation in batch:
            regions, _ = ndimage.label(saturation >= self.min_saturation)
            blobs = []
            for index, slices in enumerate(ndimage.find_objects(regions), start=1):
                area = int((regions[slices] == index).sum())
                if area >= self.min_area:
                    box_area = (slices[0].stop - slices[0].start) * (slices[1].stop - slices[1].start)
                    blobs.append((slices, area / box_area))
            found.append(blobs)
        return found

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        prototypes = np.array(list(self.FILL.values()))
        results = []
        for blobs in outputs:
            boxes, scores, labels = [], [], []
            for (rows, cols), fill in blobs:
                distance = np.abs(prototypes - fill)
                boxes.append([cols.start, rows.start, cols.stop, rows.stop])
                labels.append(int(distance.argmin()))
                scores.append(float(np.clip(1.0 - distance.min() / 0.25, 0.05, 1.0)))
            results.append(zoo.Detections(np.array(boxes, dtype=float).reshape(-1, 4), scores, labels))
        return results


class CentreBox(zoo.Model):
    """Predicts one box in the middle of every image, covering ``fraction`` of its width and height: the
    class-agnostic baseline a localization model must beat."""

    name = "centre-box"
    family = "baseline"
    framework = "numpy"
    finetune_unsupported = "a fixed rule with nothing to learn"
    description = "one fixed centred box per image (class-agnostic baseline)"

    def __init__(self, *, weights: str | None = None, fraction: float = 0.5) -> None:
        super().__init__(weights=weights)
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction

    def load(self, device: str) -> None:
        self.labels = None  # class-agnostic: boxes only

    def forward(self, batch: list[np.ndarray]) -> list[tuple[int, int]]:
        return [image.shape[:2] for image in batch]

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        results = []
        for height, width in outputs:
            margin_x, margin_y = width * (1 - self.fraction) / 2, height * (1 - self.fraction) / 2
            box = [[margin_x, margin_y, width - margin_x, height - margin_y]]
            results.append(zoo.Detections(box, [1.0], [0]))
        return results


@zoo.hookimpl
def register_models(register):
    register(Blobs)
    register(CentreBox)
