"""Miniature COCO val2017 and VOC2007 test archives, made from zoo's ``sample`` photographs, with the official
archives' names and layout (``val2017/000000000001.jpg``, ``annotations/instances_val2017.json``,
``VOCdevkit/VOC2007/{Annotations,JPEGImages,ImageSets/Main/test.txt}``), for the loopback server to serve in place of
cocodataset.org and host.robots.ox.ac.uk."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
import zipfile

from PIL import Image
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

from zoo.data import Dataset, load_dataset
from zoo.data.benchmarks import BENCHMARKS
from zoo.labels import ALIASES

COCO_91 = FasterRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]  # indexed by COCO id, the gaps named N/A
VOC_NAMES = {  # COCO's name -> VOC's, the reverse of zoo's alias table for VOC's six renamed classes
    coco: voc
    for voc, coco in ALIASES.items()
    if voc in ("aeroplane", "motorbike", "sofa", "tvmonitor", "diningtable", "pottedplant")
}
VOC_CLASSES = {
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
}  # fmt: skip


def _jpeg(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def coco_archives(sample: Dataset | None = None) -> dict[str, bytes]:
    """``val2017.zip`` and ``annotations_trainval2017.zip`` (COCO's 80 categories with their ids, the sample's
    images and boxes); the annotations zip also holds a train file zoo does not unpack."""
    sample = sample or load_dataset("sample")
    ground_truth = sample.coco_ground_truth()
    assert all(COCO_91[c["id"]] == c["name"] for c in ground_truth["categories"]), "the sample uses COCO's ids"
    ground_truth["categories"] = [
        {"id": i, "name": name} for i, name in enumerate(COCO_91) if name not in ("__background__", "N/A")
    ]
    names = {image.id: f"{image.id:012d}.jpg" for image in sample.images}
    for image in ground_truth["images"]:
        image["file_name"] = names[image["id"]]
    ground_truth["images"].reverse()  # the official file is not in id order either: --limit takes the smallest ids
    images, annotations = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(images, "w") as archive:
        archive.writestr("val2017/", b"")
        for image in sample.images:
            archive.writestr(f"val2017/{names[image.id]}", _jpeg(image.load()))
    with zipfile.ZipFile(annotations, "w") as archive:
        archive.writestr("annotations/instances_val2017.json", json.dumps(ground_truth))
        archive.writestr("annotations/instances_train2017.json", json.dumps({**ground_truth, "images": []}))
    return {"val2017.zip": images.getvalue(), "annotations_trainval2017.zip": annotations.getvalue()}


def voc_archive(sample: Dataset | None = None) -> dict[str, bytes]:
    """``VOCtest_06-Nov-2007.tar``: the sample's boxes of VOC's classes, under VOC's names (motorcycle -> motorbike)."""
    sample = sample or load_dataset("sample")
    names = sample.category_names()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"VOCdevkit/VOC2007/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        stems = []
        for image in sample.images:
            stem = f"{image.id:06d}"
            objects = []
            for box, category in zip(image.boxes, image.category_ids):
                name = VOC_NAMES.get(names[int(category)], names[int(category)])
                if name not in VOC_CLASSES:
                    continue
                x1, y1, x2, y2 = (int(round(v)) for v in box)
                objects.append(
                    f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1}</xmin>"
                    f"<ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
                )
            if not objects:
                continue
            stems.append(stem)
            xml = (
                f"<annotation><filename>{stem}.jpg</filename><size><width>{image.width}</width>"
                f"<height>{image.height}</height><depth>3</depth></size>{''.join(objects)}</annotation>"
            )
            add(f"Annotations/{stem}.xml", xml.encode())
            add(f"JPEGImages/{stem}.jpg", _jpeg(image.load()))
        add("ImageSets/Main/test.txt", "".join(f"{stem}\n" for stem in stems).encode())
        add("ImageSets/Main/person_test.txt", b"")  # per-class lists the official archive has and zoo skips
        add("SegmentationClass/000001.png", b"not kept")
    return {"VOCtest_06-Nov-2007.tar": buffer.getvalue()}


def as_official(monkeypatch, files: dict[str, bytes], images: dict[str, int] | None = None) -> None:
    """Record the fabricated archives' sizes and checksums in zoo's benchmark table in place of the official ones
    (which a stand-in cannot match), and ``images`` as the size of each whole split, for this test."""
    from zoo.data import benchmarks

    patched = {}
    for name, benchmark in BENCHMARKS.items():
        archives = tuple(
            dataclasses.replace(
                archive,
                size=len(files[archive.name]),
                md5=hashlib.md5(files[archive.name]).hexdigest(),
                sha256=hashlib.sha256(files[archive.name]).hexdigest(),
            )
            if archive.name in files
            else archive
            for archive in benchmark.archives
        )
        count = (images or {}).get(name, benchmark.images)
        patched[name] = dataclasses.replace(benchmark, archives=archives, images=count)
    monkeypatch.setattr(benchmarks, "BENCHMARKS", patched)


def serve(server, files: dict[str, bytes]) -> None:
    """Put the archives on the loopback server at their official URLs."""
    for benchmark in BENCHMARKS.values():
        for archive in benchmark.archives:
            if archive.name in files:
                server.put(archive.url, files[archive.name])
