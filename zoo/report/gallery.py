"""The gallery: what the run folder keeps so ``zoo report`` can show images without the dataset, and which ones.

A run folder keeps JPEG thumbnails of at most ``GALLERY_CAP`` images in ``gallery/<image id>.jpg`` (longer side
``THUMB_SIDE`` pixels): the worst-localized images by mean IoU over the models finished so far (the first images
of the dataset until a model has finished). Boxes are not drawn into the pictures: the page draws them over the
thumbnail from ``ground_truth.json`` and ``predictions/<id>.json``, in the image's own pixel coordinates.

The page's gallery section is built here too (`galleries`), from what the run folders keep.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from zoo.report import fmt
from zoo.report.runs import OK, Run, Series
from zoo.results import RunResults

GALLERY_DIR = "gallery"
GALLERY_CAP = 24
THUMB_SIDE = 360
JPEG_QUALITY = 78
ASSETS_DIR = "report-assets"  # a page's copies of the thumbnails of runs kept elsewhere


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


def sync_thumbnails(run_dir: Path, dataset: Any, results: RunResults, cap: int = GALLERY_CAP) -> list[int]:
    """Make ``run_dir/gallery`` hold thumbnails of exactly the ``cap`` worst images; return their ids.

    Thumbnails already there are kept (they are not redrawn); those no longer among the worst are removed, so the
    folder stays small. An image that cannot be read is left out.
    """
    records = {image.id: image for image in dataset.images}
    tables = [m.accuracy.per_image_iou for m in results.models]
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


def ground_truth(directory: Path | None) -> dict[str, Any] | None:
    """The run folder's ``ground_truth.json``; None when there is none or it cannot be read."""
    if directory is None:
        return None
    path = inside(directory, "ground_truth.json")
    if path is None:
        return None
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return truth if isinstance(truth, dict) else None


# ---------------------------------------------------------------------------------------------------- for the page


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float
    title: str


@dataclass
class Tile:
    series: Series
    iou: str
    level: str  # good, fair, poor, none
    boxes: list[Box]


@dataclass
class GalleryImage:
    image_id: int
    file_name: str
    src: str | None
    width: float
    height: float
    truth: list[Box]
    tiles: list[Tile]
    mean_iou: str
    sort: dict[str, str]


@dataclass
class Gallery:
    title: str
    note: str
    conf: str
    images: list[GalleryImage]
    series: list[Series]
    without: list[tuple[Series, str]]
    tile_px: int  # tiles are larger when there are few models
    first: int = 6  # images shown before "show all"


def galleries(runs: list[Run], series: list[Series], out_dir: Path | None) -> list[Gallery]:
    """A gallery per dataset the runs scored (by fingerprint); none for runs whose folder holds no ground truth."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        fingerprint = str((run.context.get("dataset") or {}).get("fingerprint") or f"run-{run.index}")
        groups.setdefault(fingerprint, []).append(run)
    built = []
    for group in groups.values():
        gallery = _gallery(group, [s for s in series if s.run in group], out_dir, len(groups) > 1)
        if gallery is not None:
            built.append(gallery)
    return built


def _gallery(runs: list[Run], series: list[Series], out_dir: Path | None, several: bool) -> Gallery | None:
    truth, truth_run = None, None
    for run in runs:
        truth = ground_truth(run.directory)
        if truth:
            truth_run = run
            break
    if truth is None or truth_run is None:
        return None
    images = {int(i["id"]): i for i in truth.get("images", []) if "id" in i}
    names = {c["id"]: str(c["name"]) for c in truth.get("categories", [])}
    boxes = _truth_boxes(truth, names)
    thumbs = _thumbnails(runs, images)
    candidates = [i for i in images if i in thumbs] or list(images)
    with_iou = [s for s in series if s.result.accuracy.per_image_iou]
    ordered = worst_first(candidates, [s.result.accuracy.per_image_iou for s in with_iou])[:GALLERY_CAP]
    shown = [s for s in series if s.status == OK and s.result.predictions_file is not None]
    without = [(s, s.reason or "no predictions") for s in series if s not in shown]
    predictions: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for s in shown:
        path = inside(s.run.directory, s.result.predictions_file) if s.run.directory else None
        predictions[s.key] = confident_predictions(path, _conf(s.run)) if path else {}
    gallery_images = [
        _image(
            image_id,
            images[image_id],
            _asset(thumbs.get(image_id), truth_run, runs, out_dir),
            boxes.get(image_id, []),
            [(s, predictions[s.key].get(image_id, [])) for s in shown],
            names,
        )
        for image_id in ordered
    ]
    dataset = truth_run.context.get("dataset") or {}
    total = len(images)
    note = (
        f"The {len(gallery_images)} worst-localized of {total} images, by mean IoU over the models: ground truth "
        "first, then each model's confident boxes over the ground truth (dashed)."
    )
    if not thumbs:
        note += " This run folder holds no pictures (written without the dataset), so boxes are drawn on a blank."
    title = "Gallery" + (f" — {dataset.get('name', '')} ({dataset.get('fingerprint', '')})" if several else "")
    conf = ", ".join(sorted({fmt.plain(_conf(r)) for r in runs}))
    tile_px = max(160, min(280, 1150 // (len(shown) + 1) - 10))
    return Gallery(title, note, conf, gallery_images, shown, without, tile_px)


def _truth_boxes(truth: dict[str, Any], names: dict[Any, str]) -> dict[int, list[Box]]:
    boxes: dict[int, list[Box]] = {}
    for a in truth.get("annotations", []):
        x, y, w, h = (float(v) for v in a["bbox"])
        crowd = " (crowd / difficult: ignored)" if a.get("iscrowd") else ""
        boxes.setdefault(int(a["image_id"]), []).append(Box(x, y, w, h, f"{names.get(a['category_id'], '?')}{crowd}"))
    return boxes


def _thumbnails(runs: list[Run], images: dict[int, Any]) -> dict[int, Path]:
    """The thumbnail of each image the runs' folders keep (the first run's where several do)."""
    thumbs: dict[int, Path] = {}
    for run in runs:
        if run.directory is None:
            continue
        for path in sorted((run.directory / GALLERY_DIR).glob("*.jpg")):
            if path.stem.isdigit() and int(path.stem) in images:
                thumbs.setdefault(int(path.stem), path)
    return thumbs


def _image(
    image_id: int,
    record: dict[str, Any],
    src: str | None,
    truth: list[Box],
    drawn: list[tuple[Series, list[dict[str, Any]]]],
    names: dict[Any, str],
) -> GalleryImage:
    """One image of the gallery: its ground truth, then a tile per series with the boxes it predicted there."""
    tiles = []
    sort = {}
    values = []
    for s, records in drawn:
        iou = (s.result.accuracy.per_image_iou or {}).get(str(image_id))
        tiles.append(
            Tile(
                s,
                fmt.score(iou),
                _level(iou),
                [Box(*(float(v) for v in r["bbox"]), _prediction_title(r, names)) for r in records],
            )
        )
        if iou is not None:
            sort[s.key] = repr(float(iou))
            values.append(float(iou))
    mean = sum(values) / len(values) if values else None
    sort["all"] = repr(mean) if mean is not None else ""
    return GalleryImage(
        image_id=image_id,
        file_name=str(record.get("file_name") or image_id),
        src=src,
        width=float(record.get("width") or 1),
        height=float(record.get("height") or 1),
        truth=truth,
        tiles=tiles,
        mean_iou=fmt.score(mean),
        sort=sort,
    )


def _conf(run: Run) -> float:
    value = (run.context.get("settings") or {}).get("iou_conf")
    return float(value) if isinstance(value, (int, float)) else 0.5


def _level(iou: Any) -> str:
    if fmt.is_missing(iou):
        return "none"
    return "good" if iou >= 0.75 else "fair" if iou >= 0.5 else "poor"


def _prediction_title(record: dict[str, Any], names: dict[Any, str]) -> str:
    own = record.get("zoo_label") or record.get("label")  # the model's own label; "label" in older run folders
    label = str(own or names.get(record.get("category_id"), "object"))
    if record.get("category_id") == -1 and own:
        label += " (no dataset class)"
    return f"{label} {float(record.get('score', 0)):.2f}"


def _asset(path: Path | None, truth_run: Run, runs: list[Run], out_dir: Path | None) -> str | None:
    """The page's relative link to a thumbnail: in place when its run folder is the page's, else a copy."""
    if path is None or out_dir is None:
        return None
    out_dir = Path(out_dir)
    try:
        return path.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        pass
    owner = next(
        (r for r in runs if r.directory is not None and path.resolve().is_relative_to(r.directory.resolve())),
        truth_run,
    )
    target = out_dir / ASSETS_DIR / f"run{owner.index + 1}" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return target.relative_to(out_dir).as_posix()
