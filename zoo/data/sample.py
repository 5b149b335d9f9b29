"""``--data sample`` (the default): real photographs that installed packages ship, with boxes zoo drew for them.

The photographs are not copied into zoo. Each one is read at run time from the package that ships it
(scikit-image, matplotlib, ultralytics), found through the import system without importing the package.
``sample.json`` beside this file is a COCO detection file: its categories are COCO's names and ids, and each of its
images also names the package, the path inside it, the package version it was annotated against and the sha256 of
the file. A missing package or file is skipped and counted; so is a file whose bytes differ from the annotated
one, so that a changed upstream image is reported instead of silently mis-scored. ``--limit N`` keeps the first N
images of the file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any

from zoo.data.coco import coco_record
from zoo.data.dataset import Category, Dataset, DatasetIssues, ImageRecord, Track, finish, read_image_file
from zoo.errors import ZooError

ANNOTATIONS = Path(__file__).with_name("sample.json")


def load(spec: str, *, limit: int | None, track: Track) -> Dataset:
    data = json.loads(ANNOTATIONS.read_text(encoding="utf-8"))
    categories = [Category(item["id"], item["name"]) for item in data["categories"]]
    annotations: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for index, item in enumerate(data["annotations"]):
        annotations.setdefault(item["image_id"], []).append((index, item))
    chosen = data["images"][:limit] if limit else data["images"]
    issues = DatasetIssues()
    content = hashlib.sha256()
    records = []
    for image in track(chosen, "Reading the sample", len(chosen)):
        record = _read(image, annotations.get(image["id"], []), issues, content)
        if record is not None:
            records.append(record)
    if not records:
        raise ZooError(
            f"--data {spec}: no usable images found ({'; '.join(issues.lines())}); "
            f"{_fix(issues)} or give --data another dataset"
        )
    return finish("sample", "coco", spec, categories, records, issues, content)


def _fix(issues: DatasetIssues) -> str:
    """What would bring the sample's images back, for the causes counted."""
    if any("not installed" in what for what in issues.counts):
        return "install the packages that ship them (pip install scikit-image matplotlib ultralytics)"
    if any("differs" in what for what in issues.counts):
        return "install the package versions the sample was annotated against"
    return "reinstall the packages that ship them"


def _read(
    image: dict[str, Any], anns: list[tuple[int, dict[str, Any]]], issues: DatasetIssues, content: Any
) -> ImageRecord | None:
    """The image's record, or None (counted in ``issues``) when its file is missing, changed or unreadable."""
    package, path = image["package"], image["path"]
    root = package_dir(image["module"])
    if root is None:
        issues.add("sample images skipped: the package that ships them is not installed", f"{package} ({path})")
        return None
    file = root / path
    try:
        data = file.read_bytes()
    except OSError:
        issues.add("sample images skipped: not found in the installed package", f"{file} ({_version(package)})")
        return None
    if hashlib.sha256(data).hexdigest() != image["sha256"]:
        issues.add(
            "sample images skipped: the file differs from the one annotated",
            f"{file} ({_version(package)}; annotated against {package} {image['package_version']})",
        )
        return None
    pixels = read_image_file(file, issues, content)
    if pixels is None:
        return None
    height, width = pixels.shape[:2]
    return coco_record(image, anns, file, (width, height), issues, ANNOTATIONS.name)


def package_dir(module: str) -> Path | None:
    """The folder of the installed package ``module``, found without importing it; None if it is not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _version(package: str) -> str:
    try:
        return f"{package} {importlib.metadata.version(package)} installed"
    except importlib.metadata.PackageNotFoundError:
        return f"{package}, version unknown"
