"""The gallery: what the run folder keeps so ``zoo report`` can show images without the dataset, and which ones.

A run folder keeps JPEG thumbnails of at most ``GALLERY_CAP`` images in ``gallery/<image id>.jpg`` (longer side
``THUMB_SIDE`` pixels): the worst-localized images by mean IoU over the models finished so far (the first images
of the dataset until a model has finished). Boxes are not drawn into the pictures: the page draws them over the
thumbnail from ``ground_truth.json`` and ``predictions/<id>.json``, in the image's own pixel coordinates.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

GALLERY_DIR = "gallery"
GALLERY_CAP = 24
THUMB_SIDE = 360
JPEG_QUALITY = 78


def thumbnail_path(run_dir: Path, image_id: int) -> Path:
    return run_dir / GALLERY_DIR / f"{int(image_id)}.jpg"


def worst_first(image_ids: Sequence[int], per_image: Iterable[dict[str, Any]]) -> list[int]:
    """``image_ids`` ordered by the mean, over the given per-image IoU tables, of each image's IoU, lowest first;
    images no table scores (no ground-truth box, or no model finished) keep their order after the scored ones."""
    sums: dict[int, list[float]] = {}
    for table in per_image:
        for key, value in (table or {}).items():
            if value is not None:
                sums.setdefault(int(key), []).append(float(value))
    position = {image_id: n for n, image_id in enumerate(image_ids)}

    def key(image_id: int) -> tuple[bool, float, int]:
        values = sums.get(image_id)
        return (values is None, sum(values) / len(values) if values else 0.0, position[image_id])

    return sorted(image_ids, key=key)


def sync_thumbnails(run_dir: Path, dataset: Any, results: dict[str, Any], cap: int = GALLERY_CAP) -> list[int]:
    """Make ``run_dir/gallery`` hold thumbnails of exactly the ``cap`` worst images; return their ids.

    Thumbnails already there are kept (they are not redrawn); those no longer among the worst are removed, so the
    folder stays small. An image that cannot be read is left out.
    """
    records = {image.id: image for image in dataset.images}
    tables = [m.get("accuracy", {}).get("per_image_iou") for m in results.get("models", [])]
    wanted = worst_first(list(records), tables)[:cap]
    folder = run_dir / GALLERY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for image_id in wanted:
        path = thumbnail_path(run_dir, image_id)
        if not path.exists():
            try:
                path.write_bytes(thumbnail_bytes(records[image_id].load()))
            except Exception:  # an unreadable image: the gallery shows the others
                continue
        kept.append(image_id)
    wanted_names = {f"{image_id}.jpg" for image_id in wanted}
    for path in folder.glob("*.jpg"):
        if path.name not in wanted_names and path.stem.isdigit():
            path.unlink(missing_ok=True)
    return kept


def thumbnail_bytes(pixels: Any, side: int = THUMB_SIDE) -> bytes:
    image = Image.fromarray(pixels)
    scale = side / max(image.size)
    if scale < 1:
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS
        )
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------- reading back


_PREDICTIONS_CACHE: dict[tuple[str, int, int, float], dict[int, list[dict[str, Any]]]] = {}


def confident_predictions(path: Path, conf: float, per_image: int = 60) -> dict[int, list[dict[str, Any]]]:
    """A predictions file's boxes scoring at least ``conf``, by image id, best first (at most ``per_image``).

    Cached by the file's size and modification time: the run folder rewrites the page after every model.
    """
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, conf)
    if key not in _PREDICTIONS_CACHE:
        by_image: dict[int, list[dict[str, Any]]] = {}
        for record in json.loads(path.read_text(encoding="utf-8")):
            score = record.get("score")
            if isinstance(score, (int, float)) and math.isfinite(score) and score >= conf:
                by_image.setdefault(int(record["image_id"]), []).append(record)
        for records in by_image.values():
            records.sort(key=lambda r: -r["score"])
            del records[per_image:]
        if len(_PREDICTIONS_CACHE) > 64:
            _PREDICTIONS_CACHE.clear()
        _PREDICTIONS_CACHE[key] = by_image
    return _PREDICTIONS_CACHE[key]


def inside(run_dir: Path, relative: str | None) -> Path | None:
    """``run_dir / relative`` when that is a file inside ``run_dir`` (results.json is data, not a path to trust)."""
    if not relative or not isinstance(relative, str):
        return None
    path = (run_dir / relative).resolve()
    try:
        path.relative_to(run_dir.resolve())
    except ValueError:
        return None
    return path if path.is_file() else None
