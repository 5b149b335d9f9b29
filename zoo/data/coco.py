"""Reading a COCO detection JSON file (``instances_val2017.json`` and the like)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from zoo.data.dataset import Category, Dataset, DatasetIssues, ImageRecord, Track, finish, make_record, read_image_file
from zoo.errors import ZooError


def load(path: Path, *, images_dir: str | None, limit: int | None, track: Track) -> Dataset:
    data = _read_json(path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ZooError(
                f"{path}: missing the top-level list {key!r}; a COCO detection file has images, "
                "annotations and categories"
            )

    categories = []
    for index, item in enumerate(data["categories"]):
        where = f"{path}: categories[{index}]"
        _require(item, {"id": int, "name": str}, where)
        categories.append(Category(item["id"], item["name"]))
    category_ids = {c.id for c in categories}
    if len(category_ids) != len(categories):
        raise ZooError(f"{path}: two categories share an id; give each category its own id")

    images: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(data["images"]):
        _require(item, {"id": int, "file_name": str}, f"{path}: images[{index}]")
        images[item["id"]] = item

    annotations: dict[int, list[tuple[int, dict[str, Any]]]] = {image_id: [] for image_id in images}
    for index, item in enumerate(data["annotations"]):
        where = f"{path}: annotations[{index}]" + (
            f" (id {item['id']})" if isinstance(item, dict) and "id" in item else ""
        )
        _require(item, {"image_id": int, "category_id": int, "bbox": list}, where)
        bbox = item["bbox"]
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise ZooError(f"{where}: 'bbox' must be four numbers [x, y, width, height]; got {bbox!r}")
        if item["image_id"] not in images:
            raise ZooError(f"{where}: image_id {item['image_id']} is not in 'images'; fix the id or add the image")
        if item["category_id"] not in category_ids:
            raise ZooError(f"{where}: category_id {item['category_id']} is not in 'categories'")
        annotations[item["image_id"]].append((index, item))

    root = _images_root(path, images_dir, list(images.values()))
    chosen = sorted(images.values(), key=lambda image: image["id"])[:limit] if limit else list(images.values())
    issues = DatasetIssues()
    content = hashlib.sha256()
    records = []
    for image in track(chosen, f"Reading {path.name}", len(chosen)):
        file = root / image["file_name"]
        pixels = read_image_file(file, issues, content)
        if pixels is None:
            continue
        height, width = pixels.shape[:2]
        declared = (image.get("width"), image.get("height"))
        if None not in declared and declared != (width, height):
            issues.add("images whose declared size differs from the file (file size used)", str(file))
        records.append(coco_record(image, annotations[image["id"]], file, (width, height), issues, path.name))
    return finish(path.stem, "coco", str(path), categories, records, issues, content)


def coco_record(
    image: dict[str, Any],
    annotations: list[tuple[int, dict[str, Any]]],
    file: Path,
    size: tuple[int, int],
    issues: DatasetIssues,
    source: str,
) -> ImageRecord:
    """The record of one COCO image from its (index, annotation) pairs; ``source`` names the file in warnings."""
    return make_record(
        image["id"],
        image["file_name"],
        size,
        [(x, y, x + w, y + h) for _, a in annotations for x, y, w, h in [a["bbox"]]],
        [a["category_id"] for _, a in annotations],
        file,
        iscrowd=[bool(a.get("iscrowd", 0)) for _, a in annotations],
        areas=[a.get("area") for _, a in annotations],
        issues=issues,
        where=lambda i: f"{source}: annotations[{annotations[i][0]}]",
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as file:
            data = json.load(file)
    except json.JSONDecodeError as error:
        raise ZooError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); fix the file") from None
    except UnicodeDecodeError:
        raise ZooError(f"{path}: not UTF-8 text; is it really a COCO JSON file?") from None
    if not isinstance(data, dict):
        raise ZooError(f"{path}: expected a JSON object with images, annotations and categories")
    return data


def _require(item: Any, fields: dict[str, type], where: str) -> None:
    if not isinstance(item, dict):
        raise ZooError(f"{where}: expected an object, got {type(item).__name__}")
    for key, kind in fields.items():
        value = item.get(key)
        if value is None:
            raise ZooError(f"{where}: missing {key!r}")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ZooError(f"{where}: {key!r} must be {kind.__name__}, got {type(value).__name__} {value!r}")


def _images_root(path: Path, images_dir: str | None, images: list[dict[str, Any]]) -> Path:
    """Where ``file_name`` is relative to: ``--images``, else the first usual COCO layout that holds the images."""
    if images_dir is not None:
        root = Path(images_dir).expanduser()
        if not root.is_dir():
            raise ZooError(f"--images {images_dir}: no such folder")
        return root
    here = path.parent
    candidates = [here, here / "images", here.parent, here.parent / "images"]
    if "_" in path.stem:  # instances_val2017.json -> val2017/
        split = path.stem.split("_")[-1]
        candidates += [here / split, here.parent / split, here.parent / "images" / split]
    if not images:
        return here
    for candidate in candidates:
        if any((candidate / image["file_name"]).is_file() for image in images[:20]):
            return candidate
    raise ZooError(
        f"{path}: none of its images (e.g. {images[0]['file_name']!r}) were found beside it; "
        "pass --images DIR, the folder its file_name values are relative to"
    )
