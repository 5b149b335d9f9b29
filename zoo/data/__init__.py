"""The shared dataset every model in a run is scored on: categories, images and their ground-truth boxes.

Readers for each format live beside this file (``coco``, ``yolo``, ``voc``, ``shapes``, ``sample``); they all return a
`Dataset`. Category names are the join key with each model's label space.
"""

from __future__ import annotations

from pathlib import Path

from zoo.data import benchmarks, coco, sample, shapes, voc, yolo
from zoo.data.dataset import (
    Category,
    Dataset,
    DatasetIssues,
    ImageRecord,
    Track,
    fingerprint,
    finish,
    make_record,
    no_progress,
    read_image_file,
)
from zoo.errors import ZooError

__all__ = [
    "Category",
    "Dataset",
    "DatasetIssues",
    "ImageRecord",
    "Track",
    "fingerprint",
    "finish",
    "make_record",
    "no_progress",
    "read_image_file",
    "load_dataset",
]


def load_dataset(
    spec: str,
    *,
    images_dir: str | None = None,
    split: str = "val",
    limit: int | None = None,
    track: Track = no_progress,
) -> Dataset:
    """Read the dataset ``--data`` names: ``sample``, ``shapes[:options]``, a named benchmark (``coco-val2017``,
    ``voc2007-test``; fetched beforehand by `zoo.data.benchmarks.fetch`), a COCO ``.json``, a YOLO ``data.yaml`` or a
    VOC folder.

    ``limit`` keeps the first N images before any image is decoded: the N smallest image ids of a COCO file, the first
    N names of a VOC split, the first N of a YOLO list — a fixed subset, whatever the order of the file.
    """
    if limit is not None and limit < 1:
        raise ZooError(f"--limit {limit}: give a positive number of images")
    if spec in benchmarks.BENCHMARKS:
        return benchmarks.load(spec, limit=limit, track=track)
    if spec == "sample":
        return sample.load(spec, limit=limit, track=track)
    if spec == "shapes" or spec.startswith("shapes:"):
        return shapes.load(spec, limit=limit, track=track)
    path = Path(spec).expanduser()
    if not path.exists():
        raise ZooError(
            f"--data {spec}: no such file or folder; give a COCO .json, a YOLO data.yaml, a VOC folder, 'sample',"
            f" 'shapes' or a benchmark ({', '.join(benchmarks.BENCHMARKS)})"
        )
    if path.is_file() and path.suffix.lower() == ".json":
        return coco.load(path, images_dir=images_dir, limit=limit, track=track)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        return yolo.load(path, split=split, limit=limit, track=track)
    if path.is_dir():
        if (path / "data.yaml").is_file():
            return yolo.load(path / "data.yaml", split=split, limit=limit, track=track)
        if (path / "Annotations").is_dir() or any(path.glob("*.xml")):
            return voc.load(path, images_dir=images_dir, split=split, limit=limit, track=track)
    raise ZooError(
        f"--data {spec}: format not recognised; give a COCO .json file, a YOLO data.yaml, a Pascal VOC folder"
        " (with Annotations/), 'sample' or 'shapes'"
    )
