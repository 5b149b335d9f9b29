"""A YOLO-format view of any dataset zoo reads, for ultralytics' own trainer: ``images/<split>/`` holds symlinks to
the dataset's image files (a drawn image, ``shapes``, is written once as a PNG), ``labels/<split>/`` one
``class cx cy w h`` line per non-crowd box, normalised; ``data.yaml`` names the classes in the dataset's order."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from zoo.data import Dataset


def write_view(folder: Path, train: Dataset, val: Dataset | None = None) -> Path:
    """Write the view of ``train`` (and ``val``; without one, validation reads the training images) into
    ``folder``; return its ``data.yaml``."""
    folder = Path(folder).absolute()
    index = {category.name: i for i, category in enumerate(train.categories)}
    _split(folder, "train", train, index)
    if val is not None:
        _split(folder, "val", val, index)
    config = {
        "path": str(folder),
        "train": "images/train",
        "val": "images/val" if val is not None else "images/train",
        "names": {i: category.name for i, category in enumerate(train.categories)},
    }
    path = folder / "data.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _split(folder: Path, split: str, dataset: Dataset, index: dict[str, int]) -> None:
    """One split's image links and label files; classes numbered by name as in the training set (a class the
    training set lacks is left out)."""
    from PIL import Image

    images, labels = folder / "images" / split, folder / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    names = {c.id: c.name for c in dataset.categories}
    for record in dataset.images:
        stem = f"{record.id:08d}"
        if isinstance(record.source, Path):
            link = images / f"{stem}{record.source.suffix.lower()}"
            if not link.exists():
                os.symlink(record.source.absolute(), link)
        else:
            Image.fromarray(record.load()).save(images / f"{stem}.png")
        lines = []
        for box, category, crowd in zip(record.boxes, record.category_ids, record.iscrowd):
            name = names.get(int(category))
            if crowd or name not in index:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            cx, cy = (x1 + x2) / 2 / record.width, (y1 + y2) / 2 / record.height
            w, h = (x2 - x1) / record.width, (y2 - y1) / record.height
            lines.append(f"{index[name]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        (labels / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
