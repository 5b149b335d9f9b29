"""A dataset as zoo holds it: images (decoded on demand), categories, boxes, the issues met reading it, and its
fingerprint; and the helpers every format's reader shares."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from zoo.data.images import decode_image
from zoo.errors import ZooError

T = TypeVar("T")
Track = Callable[[Iterable[T], str, int], Iterable[T]]
"""A progress wrapper: ``track(items, description, total)`` yields the items (the CLI passes rich's)."""


def no_progress(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    return items


@dataclass(frozen=True)
class Category:
    id: int
    name: str


@dataclass(frozen=True)
class ImageRecord:
    """One image and its ground truth; ``boxes`` are absolute-pixel xyxy floats of the upright image."""

    id: int
    file_name: str
    width: int
    height: int
    boxes: np.ndarray  # (n, 4) float xyxy
    category_ids: np.ndarray  # (n,) int, ids of Dataset.categories
    iscrowd: np.ndarray  # (n,) bool: crowd (COCO) or difficult (VOC) regions, ignored when scoring
    areas: np.ndarray  # (n,) float: the COCO "area" (box area when the source gives none)
    source: Path | Callable[[], np.ndarray]  # an image file, or a function that draws the image

    def load(self) -> np.ndarray:
        """The image as ``(H, W, 3) uint8`` RGB."""
        if isinstance(self.source, Path):
            return decode_image(self.source.read_bytes())
        return self.source()


@dataclass
class DatasetIssues:
    """Counted warnings: what was skipped or changed while reading, with the first place each happened."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, what: str, where: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        self.first.setdefault(what, where)

    def lines(self) -> list[str]:
        return [f"{count} × {what} (first: {self.first[what]})" for what, count in self.counts.items()]


DECODED_AHEAD_BYTES = 64 * 2**20
"""The most decoded pixels a model's worker keeps for its timing calls (`Dataset.decoded_ahead`): sample's eight
photographs, or the first ~70 COCO images."""


class _Kept:
    """A decoded image, kept read-only; called, it gives a writable copy."""

    def __init__(self, pixels: np.ndarray) -> None:
        pixels.setflags(write=False)
        self.pixels = pixels

    def __call__(self) -> np.ndarray:
        return self.pixels.copy()


@dataclass(frozen=True)
class Dataset:
    name: str
    format: str  # coco, yolo, voc, shapes
    source: str  # what --data named
    categories: list[Category]
    images: list[ImageRecord]
    issues: DatasetIssues = field(default_factory=DatasetIssues)
    fingerprint: str = ""
    benchmark: dict[str, Any] | None = None  # a named benchmark's record (`zoo.data.benchmarks`): licence, subset...

    @property
    def num_boxes(self) -> int:
        return sum(len(image.boxes) for image in self.images)

    @property
    def skipped_images(self) -> int:
        """Images the source lists that could not be read (missing, undecodable), counted while reading."""
        return sum(n for what, n in self.issues.counts.items() if "images" in what and "skipped" in what)

    def decoded_ahead(self, limit_bytes: int = DECODED_AHEAD_BYTES) -> Dataset:
        """This dataset with its first images decoded now and kept, as many as fit in ``limit_bytes``: the timing
        calls cycle the same images many times, and decoding an image again right before each call is the harness's
        time, not the model's. A kept image's ``load()`` returns a fresh copy (a model may write into its input);
        the others are decoded on each ``load()`` as before."""
        images, room = list(self.images), limit_bytes
        for index, record in enumerate(images):
            try:
                pixels = record.load()
            except Exception:  # noqa: BLE001 - said where the image is used, as without keeping
                break
            if pixels.nbytes > room:
                break
            room -= pixels.nbytes
            images[index] = dataclasses.replace(record, source=_Kept(pixels))
        return dataclasses.replace(self, images=images)

    def category_names(self) -> dict[int, str]:
        return {category.id: category.name for category in self.categories}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "source": self.source,
            "images": len(self.images),
            "boxes": self.num_boxes,
            "categories": [category.name for category in self.categories],
            "fingerprint": self.fingerprint,
            "warnings": self.issues.lines(),
            "skipped_images": sum(
                n for what, n in self.issues.counts.items() if "images" in what and "skipped" in what
            ),
            "benchmark": self.benchmark,
        }

    def coco_ground_truth(self) -> dict[str, Any]:
        """The ground truth as a COCO dataset dict, for COCO evaluation and for other tools."""
        annotations = []
        for image in self.images:
            for box, category_id, crowd, area in zip(image.boxes, image.category_ids, image.iscrowd, image.areas):
                x1, y1, x2, y2 = (float(v) for v in box)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image.id,
                        "category_id": int(category_id),
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": float(area),
                        "iscrowd": int(crowd),
                    }
                )
        return {
            "images": [
                {"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height} for i in self.images
            ],
            "annotations": annotations,
            "categories": [{"id": c.id, "name": c.name} for c in self.categories],
        }


def make_record(
    image_id: int,
    file_name: str,
    size: tuple[int, int],
    boxes: Iterable[tuple[float, float, float, float]],
    category_ids: Iterable[int],
    source: Path | Callable[[], np.ndarray],
    *,
    iscrowd: Iterable[bool] | None = None,
    areas: Iterable[float | None] | None = None,
    issues: DatasetIssues,
    where: Callable[[int], str],
) -> ImageRecord:
    """Build an `ImageRecord`, skipping (and counting) boxes that are empty or outside the image.

    A box reaching up to one pixel past the image edge is clipped silently; further past, clipped and counted.
    ``where(i)`` names the place of box ``i`` in the source, for the warning.
    """
    width, height = size
    boxes = np.asarray(list(boxes), dtype=np.float64).reshape(-1, 4)
    category_ids = np.asarray(list(category_ids), dtype=np.int64).reshape(-1)
    crowd = np.zeros(len(boxes), bool) if iscrowd is None else np.asarray(list(iscrowd), bool).reshape(-1)
    given_areas = [None] * len(boxes) if areas is None else list(areas)
    keep, kept_areas = [], []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        if not (x2 > x1 and y2 > y1):
            issues.add("boxes with non-positive width or height skipped", where(i))
            continue
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            issues.add("boxes entirely outside their image skipped", where(i))
            continue
        if x1 < -1 or y1 < -1 or x2 > width + 1 or y2 > height + 1:
            issues.add("boxes extending past their image clipped to it", where(i))
        boxes[i] = np.clip(boxes[i], 0, [width, height, width, height])
        keep.append(i)
        box_area = float((boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1]))
        kept_areas.append(box_area if given_areas[i] is None else float(given_areas[i]))
    return ImageRecord(
        id=image_id,
        file_name=file_name,
        width=width,
        height=height,
        boxes=boxes[keep].reshape(-1, 4),
        category_ids=category_ids[keep],
        iscrowd=crowd[keep],
        areas=np.asarray(kept_areas, dtype=np.float64),
        source=source,
    )


def read_image_file(path: Path, issues: DatasetIssues, track_hash: Any) -> np.ndarray | None:
    """Decode ``path`` fully (so a truncated file is caught now, not mid-run); None, counted, if it cannot be."""
    try:
        data = path.read_bytes()
        pixels = decode_image(data)
    except FileNotFoundError:
        issues.add("images not found skipped", str(path))
        return None
    except Exception as error:  # PIL raises many types for a bad file
        issues.add("images that could not be decoded skipped", f"{path}: {type(error).__name__}")
        return None
    track_hash.update(hashlib.sha256(data).digest())
    return pixels


def fingerprint(dataset_parts: dict[str, Any], content: Any) -> str:
    """A short hash of the ground truth and the image bytes: two runs with the same one scored the same data."""
    digest = hashlib.sha256(json.dumps(dataset_parts, sort_keys=True, default=_jsonable).encode())
    digest.update(content.digest())
    return digest.hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.round(value.astype(np.float64), 4).tolist()
    raise TypeError(type(value).__name__)


def finish(
    name: str,
    format: str,
    source: str,
    categories: list[Category],
    images: list[ImageRecord],
    issues: DatasetIssues,
    content: Any,
) -> Dataset:
    """Check the dataset is usable and stamp its fingerprint."""
    if not images:
        raise ZooError(f"--data {source}: {_why_no_images(format, issues)}")
    if not categories:
        raise ZooError(f"--data {source}: the dataset declares no categories")
    parts = {
        "format": format,
        "categories": [(c.id, c.name) for c in categories],
        "images": [(i.file_name, i.width, i.height, i.boxes, i.category_ids, i.iscrowd) for i in images],
    }
    return Dataset(name, format, source, categories, images, issues, fingerprint(parts, content))


def _why_no_images(format: str, issues: DatasetIssues) -> str:
    """Why a dataset has no image left, from the images its reader skipped (and counted), with the fix."""
    skipped = [(what, n) for what, n in issues.counts.items() if "images" in what and "skipped" in what]
    if not skipped:
        return f"no usable images: the {'file' if format == 'coco' else 'split'} lists none"
    causes = []
    for what, n in skipped:
        images, first = f"{n} image{'s' if n != 1 else ''}", issues.first[what]
        if what == "images not found skipped":
            causes.append(f"{images} not found (first: {first})")
        elif what == "images that could not be decoded skipped":
            causes.append(f"{images} could not be decoded ({'first: ' if n > 1 else ''}{first})")
        else:
            causes.append(f"{n} × {what} (first: {first})")
    if "images not found skipped" not in issues.counts:
        return "; ".join(causes) + "; none left to score"
    images_option = " or pass --images DIR" if format in ("coco", "voc") else ""
    return "; ".join(causes) + f"; none left to score; check the paths{images_option}"
