"""Reading Pascal VOC XML annotations: a VOC folder (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/``) or a
folder of XML files. XML is parsed safely (defusedxml) and boxes are read by supervision, which converts VOC's
1-based inclusive pixel indices. ``difficult`` objects are kept but ignored when scoring, as in the VOC protocol.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zoo.data.dataset import Category, Dataset, DatasetIssues, Track, finish, make_record, read_image_file
from zoo.errors import ZooError


def load(path: Path, *, images_dir: str | None, split: str, limit: int | None, track: Track) -> Dataset:
    from defusedxml import ElementTree
    from supervision.dataset.formats.pascal_voc import detections_from_xml_obj

    xml_dir = path / "Annotations" if (path / "Annotations").is_dir() else path
    image_root = (
        Path(images_dir)
        if images_dir
        else next((d for d in (path / "JPEGImages", path / "images", path) if d.is_dir()), path)
    )
    xml_files = _split_files(path, xml_dir, split)
    if limit:
        xml_files = sorted(xml_files, key=lambda file: file.stem)[:limit]

    names: list[str] = []
    issues = DatasetIssues()
    content = hashlib.sha256()
    parsed = []
    for image_id, xml_file in enumerate(track(xml_files, f"Reading {path.name}", len(xml_files))):
        try:
            root = ElementTree.parse(xml_file).getroot()
        except ElementTree.ParseError as error:
            line = error.position[0] if getattr(error, "position", None) else 1
            raise ZooError(f"{xml_file}:{line}: not valid XML ({error}); fix the file") from None
        except FileNotFoundError:
            raise ZooError(f"{xml_file}: listed in ImageSets but missing; restore it or fix the split file") from None
        if root.tag != "annotation":
            raise ZooError(f"{xml_file}: root element is <{root.tag}>, expected <annotation>")
        file_name = root.findtext("filename") or f"{xml_file.stem}.jpg"
        image_path = image_root / file_name
        pixels = read_image_file(image_path, issues, content)
        if pixels is None:
            continue
        height, width = pixels.shape[:2]
        try:
            detections, names = detections_from_xml_obj(root, names, (width, height))
        except ValueError as error:
            raise ZooError(f"{xml_file}: {error} Each <object> needs <name> and <bndbox> with numbers") from None
        difficult = [obj.findtext("difficult", "0").strip() == "1" for obj in root.findall("object")]
        parsed.append((image_id, file_name, (width, height), detections, difficult, image_path, xml_file))

    by_name = {name: index + 1 for index, name in enumerate(sorted(names))}
    categories = [Category(by_name[name], name) for name in sorted(names)]
    records = [
        make_record(
            image_id,
            file_name,
            size,
            detections.xyxy,
            [by_name[names[c]] for c in detections.class_id],
            image_path,
            iscrowd=difficult,
            issues=issues,
            where=lambda i, f=xml_file: f"{f} object {i + 1}",
        )
        for image_id, file_name, size, detections, difficult, image_path, xml_file in parsed
    ]
    return finish(path.name, "voc", str(path), categories, records, issues, content)


def _split_files(path: Path, xml_dir: Path, split: str) -> list[Path]:
    split_dir = path / "ImageSets" / "Main"
    if split_dir.is_dir():
        split_file = split_dir / f"{split}.txt"
        if not split_file.is_file():
            present = sorted(p.stem for p in split_dir.glob("*.txt") if "_" not in p.stem)
            raise ZooError(f"{split_file}: no such split; it has {', '.join(present) or 'none'} (choose with --split)")
        ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
        return [xml_dir / f"{image_id}.xml" for image_id in ids]
    files = sorted(xml_dir.glob("*.xml"))
    if not files:
        raise ZooError(f"{xml_dir}: no .xml annotation files found")
    return files
