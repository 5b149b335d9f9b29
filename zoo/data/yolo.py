"""Reading an Ultralytics YOLO dataset: ``data.yaml`` (root ``path``, splits, ``names``) and one label file per image.

Label files sit where Ultralytics looks for them: the image path with its last ``images`` folder replaced by
``labels`` and its suffix by ``.txt``. An image without a label file has no objects. Lines are parsed by
supervision, one at a time, so an error names its file and line.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

from zoo.data.dataset import Category, Dataset, DatasetIssues, Track, finish, make_record, read_image_file
from zoo.data.images import IMAGE_SUFFIXES
from zoo.errors import ZooError


def load(path: Path, *, split: str, limit: int | None, track: Track) -> Dataset:
    config = _read_yaml(path)
    names = _names(config, path)
    root = Path(config["path"]) if config.get("path") else path.parent
    if not root.is_absolute():
        root = path.parent / root
    if split not in config or not config[split]:
        present = [s for s in ("train", "val", "test") if config.get(s)]
        raise ZooError(f"{path}: no {split!r} split; it has {', '.join(present) or 'none'} (choose with --split)")
    image_paths = _split_images(config[split], root, path)
    if limit:
        image_paths = image_paths[:limit]

    from supervision.dataset.formats.yolo import yolo_annotations_to_detections

    categories = [Category(index, name) for index, name in enumerate(names)]
    issues = DatasetIssues()
    content = hashlib.sha256()
    records = []
    for image_id, image_path in enumerate(track(image_paths, f"Reading {path.name} ({split})", len(image_paths))):
        pixels = read_image_file(image_path, issues, content)
        if pixels is None:
            continue
        height, width = pixels.shape[:2]
        label_path = label_file(image_path)
        boxes, classes, lines = [], [], []
        if label_path.is_file():
            for number, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                where = f"{label_path}:{number}"
                try:
                    detections = yolo_annotations_to_detections([line], (width, height), with_masks=False)
                except ValueError as error:
                    raise ZooError(
                        f"{where}: not a YOLO label line ({error}); expected 'class cx cy w h' with"
                        " normalised coordinates"
                    ) from None
                class_id = int(detections.class_id[0])
                if not 0 <= class_id < len(names):
                    raise ZooError(f"{where}: class {class_id} is not in {path.name}'s names (0..{len(names) - 1})")
                boxes.append(tuple(detections.xyxy[0]))
                classes.append(class_id)
                lines.append(where)
        records.append(
            make_record(
                image_id,
                str(image_path.relative_to(root)) if image_path.is_relative_to(root) else str(image_path),
                (width, height),
                boxes,
                classes,
                image_path,
                issues=issues,
                where=lambda i, lines=lines: lines[i],
            )
        )
    return finish(f"{path.parent.name}/{split}", "yolo", str(path), categories, records, issues, content)


def label_file(image_path: Path) -> Path:
    """Ultralytics' rule: ``.../images/.../x.jpg`` -> ``.../labels/.../x.txt``."""
    text = str(image_path)
    images, labels = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if images in text:
        text = labels.join(text.rsplit(images, 1))
    return Path(text).with_suffix(".txt")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ZooError(f"{path}{line}: not valid YAML ({getattr(error, 'problem', error)}); fix the syntax") from None
    if not isinstance(config, dict):
        raise ZooError(f"{path}: expected a mapping with path, train/val/test and names")
    return config


def _names(config: dict[str, Any], path: Path) -> list[str]:
    names = config.get("names")
    if isinstance(names, dict) and names and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise ZooError(f"{path}: 'names' keys must be 0..{len(names) - 1} without gaps")
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names:
        raise ZooError(f"{path}: 'names' must list the class names, as a list or a mapping of 0.. -> name")
    return [str(name) for name in names]


def _split_images(value: Any, root: Path, path: Path) -> list[Path]:
    """Images of a split given as a folder, a text file of image paths, or a list of those."""
    found: list[Path] = []
    for item in value if isinstance(value, list) else [value]:
        target = Path(str(item))
        target = target if target.is_absolute() else root / target
        if target.is_dir():
            found += sorted(p for p in target.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif target.is_file() and target.suffix == ".txt":
            for line in target.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    listed = Path(line.strip())
                    found.append(listed if listed.is_absolute() else root / listed)
        else:
            raise ZooError(f"{path}: split folder or list {target} not found; check 'path' and the split entry")
    return found
