"""The shared dataset: shapes, the three file formats, image decoding and bad input."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SMALL_SHAPES, boxes_by_name, save_formats
from zoo.data import load_dataset
from zoo.data.images import decode_image
from zoo.data.shapes import CLASSES, draw_image
from zoo.errors import ZooError


def test_shapes_is_deterministic_and_limit_keeps_a_prefix():
    full = load_dataset(SMALL_SHAPES)
    again = load_dataset(SMALL_SHAPES)
    prefix = load_dataset(SMALL_SHAPES, limit=3)
    assert full.fingerprint == again.fingerprint
    assert len(prefix.images) == 3
    for a, b in zip(full.images[:3], prefix.images):
        assert np.array_equal(a.boxes, b.boxes)
        assert np.array_equal(a.load(), b.load())
    assert prefix.fingerprint != full.fingerprint
    assert load_dataset("shapes:count=6,size=96x80,seed=8").fingerprint != full.fingerprint


def test_shapes_boxes_are_the_exact_extent_of_the_drawn_objects():
    dataset = load_dataset("shapes:count=12,size=128x128,seed=1")
    for index, image in enumerate(dataset.images):
        pixels = draw_image(index, (128, 128), 1)
        assert pixels.shape == (128, 128, 3) and pixels.dtype == np.uint8
        for x1, y1, x2, y2 in image.boxes.astype(int):
            inside = pixels[y1:y2, x1:x2].astype(int)
            # the object touches all four sides of its box: each edge row/column holds saturated pixels
            saturation = inside.max(axis=2) - inside.min(axis=2)
            for edge in (saturation[0], saturation[-1], saturation[:, 0], saturation[:, -1]):
                assert edge.max() > 60
    sizes = [np.sqrt(a) for image in dataset.images for a in image.areas]
    assert min(sizes) < 32 < max(sizes), "shapes should mix small and larger objects"
    assert {c.name for c in dataset.categories} == set(CLASSES)


@pytest.mark.parametrize("spec", ["shapes:count=0", "shapes:size=10x10", "shapes:colour=red", "shapes:count=x"])
def test_bad_shapes_options_are_one_line_errors(spec):
    with pytest.raises(ZooError, match="shapes"):
        load_dataset(spec)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_each_format_reads_back_the_same_ground_truth(tmp_path, shapes, fmt):
    paths = save_formats(shapes, tmp_path)
    dataset = load_dataset(str(paths[fmt]))
    assert dataset.format == fmt
    assert len(dataset.images) == len(shapes.images)
    for ours, theirs in zip(boxes_by_name(dataset), boxes_by_name(shapes)):
        assert [name for name, *_ in ours] == [name for name, *_ in theirs]
        # YOLO stores normalised centres and sizes as text: equal to a thousandth of a pixel
        assert np.allclose([box for _, *box in ours], [box for _, *box in theirs], atol=1e-3)
    assert not dataset.issues.counts


def test_voc_difficult_objects_are_kept_as_ignored_regions(tmp_path, shapes):
    paths = save_formats(shapes, tmp_path)
    xml = next((paths["voc"] / "Annotations").glob("*.xml"))
    xml.write_text(xml.read_text().replace("<difficult>0</difficult>", "<difficult>1</difficult>", 1))
    dataset = load_dataset(str(paths["voc"]))
    assert sum(int(image.iscrowd.sum()) for image in dataset.images) == 1


def test_limit_applies_before_reading(tmp_path, shapes):
    paths = save_formats(shapes, tmp_path)
    assert len(load_dataset(str(paths["coco"]), limit=2).images) == 2


def _encoded(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_decoding_applies_exif_orientation():
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = decode_image(_encoded(Image.fromarray(pixels), "JPEG", exif=exif, quality=95))
    assert decoded.shape == (40, 20, 3)
    assert decoded[5, 10, 0] > 200 and decoded[35, 10, 0] < 60  # red is now on top


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.full((8, 8), 128, np.uint8), "L"),
        Image.fromarray(np.full((8, 8, 4), 128, np.uint8), "RGBA"),
        Image.fromarray(np.full((8, 8), 128 * 257, np.uint16)),
        Image.new("CMYK", (8, 8), (0, 0, 0, 127)),
        Image.new("P", (8, 8), 3),
    ],
    ids=["gray", "alpha", "16-bit", "cmyk", "palette"],
)
def test_every_pixel_format_becomes_8_bit_rgb(image):
    fmt = "JPEG" if image.mode == "CMYK" else "PNG"
    decoded = decode_image(_encoded(image, fmt))
    assert decoded.shape == (8, 8, 3) and decoded.dtype == np.uint8
    if image.mode in ("L", "RGBA", "I;16", "I"):
        assert np.all(decoded == 128)


def test_bad_images_and_boxes_are_skipped_and_counted(tmp_path, shapes):
    paths = save_formats(shapes, tmp_path)
    data = json.loads(paths["coco"].read_text())
    (tmp_path / "images" / data["images"][0]["file_name"]).write_bytes(b"not an image")
    data["annotations"][-1]["bbox"] = [10, 10, 0, 5]  # no width
    data["annotations"][-2]["bbox"] = [500, 500, 10, 10]  # outside the image
    paths["coco"].write_text(json.dumps(data))
    dataset = load_dataset(str(paths["coco"]))
    assert len(dataset.images) == len(shapes.images) - 1
    counts = dataset.issues.counts
    assert counts == {
        "images that could not be decoded skipped": 1,
        "boxes with non-positive width or height skipped": 1,
        "boxes entirely outside their image skipped": 1,
    }
    assert any("instances.json: annotations[" in line for line in dataset.issues.lines())


def _malform(paths, fmt, tmp_path):
    if fmt == "coco-json":
        paths["coco"].write_text('{"images": [}')
        return paths["coco"], r"instances.json:1:\d+: not valid JSON"
    if fmt == "coco-bbox":
        data = json.loads(paths["coco"].read_text())
        data["annotations"][3]["bbox"] = [1, 2, 3]
        paths["coco"].write_text(json.dumps(data))
        return paths["coco"], r"annotations\[3\].*'bbox' must be four numbers"
    if fmt == "coco-category":
        data = json.loads(paths["coco"].read_text())
        data["annotations"][0]["category_id"] = 99
        paths["coco"].write_text(json.dumps(data))
        return paths["coco"], r"annotations\[0\].*category_id 99 is not in 'categories'"
    if fmt == "yolo-line":
        label = sorted((paths["yolo"].parent / "labels" / "val").glob("*.txt"))[1]
        label.write_text(label.read_text() + "\n0 0.5 zero 0.1 0.1\n")
        return paths["yolo"], rf"{label.name}:\d+: not a YOLO label line"
    if fmt == "yolo-class":
        label = sorted((paths["yolo"].parent / "labels" / "val").glob("*.txt"))[0]
        label.write_text("7 0.5 0.5 0.1 0.1\n")
        return paths["yolo"], rf"{label.name}:1: class 7 is not in data.yaml's names"
    if fmt == "yolo-yaml":
        paths["yolo"].write_text("names: [a, b\nval: images")
        return paths["yolo"], r"data.yaml:\d+: not valid YAML"
    if fmt == "voc-xml":
        xml = sorted((paths["voc"] / "Annotations").glob("*.xml"))[2]
        xml.write_text("<annotation><object></annotation>")
        return paths["voc"], rf"{xml.name}:1: not valid XML"
    if fmt == "voc-bndbox":
        xml = sorted((paths["voc"] / "Annotations").glob("*.xml"))[0]
        xml.write_text(xml.read_text().replace("<xmin>", "<xmin>x", 1))
        return paths["voc"], rf"{xml.name}: .*xmin"
    raise AssertionError(fmt)


@pytest.mark.parametrize(
    "fmt", ["coco-json", "coco-bbox", "coco-category", "yolo-line", "yolo-class", "yolo-yaml", "voc-xml", "voc-bndbox"]
)
def test_malformed_files_are_one_line_errors_naming_the_place(tmp_path, shapes, fmt):
    paths = save_formats(shapes, tmp_path)
    path, message = _malform(paths, fmt, tmp_path)
    with pytest.raises(ZooError, match=message) as raised:
        load_dataset(str(path))
    assert "\n" not in str(raised.value)


def test_missing_empty_and_unrecognised_datasets(tmp_path):
    with pytest.raises(ZooError, match="no such file or folder"):
        load_dataset(str(tmp_path / "nope.json"))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    with pytest.raises(ZooError, match="no usable images"):
        load_dataset(str(empty))
    (tmp_path / "folder").mkdir()
    with pytest.raises(ZooError, match="format not recognised"):
        load_dataset(str(tmp_path / "folder"))
    with pytest.raises(ZooError, match="--limit 0"):
        load_dataset("shapes", limit=0)


def test_yolo_split_must_exist(tmp_path, shapes):
    paths = save_formats(shapes, tmp_path)
    with pytest.raises(ZooError, match="no 'test' split; it has val"):
        load_dataset(str(paths["yolo"]), split="test")


def test_an_unreadable_image_is_named_as_such_after_ultralytics_patched_pil():
    """ultralytics replaces PIL's Image.open with a wrapper that, on a file PIL cannot identify, pip-installs
    pi-heif; zoo decodes with PIL's own, so the cause stays 'cannot identify' (and nothing is installed)."""
    import sys

    import PIL.Image
    import pytest

    from zoo.data.images import decode_image
    from zoo.plugins import load_plugins

    sys.modules[load_plugins().models["yolov8n"].cls.__module__].import_ultralytics()  # offline, as zoo imports it
    import ultralytics.utils.patches

    assert PIL.Image.open is not ultralytics.utils.patches._image_open, "the patch is in place"
    with pytest.raises(PIL.UnidentifiedImageError):
        decode_image(b"\x89PNG broken")


def test_decoded_ahead_keeps_the_first_images_within_its_limit_and_gives_writable_copies(tmp_path, shapes):
    dataset = load_dataset(str(save_formats(shapes, tmp_path)["coco"]))  # images decoded from files
    one = dataset.images[0].load().nbytes
    ahead = dataset.decoded_ahead(limit_bytes=2 * one + 1)  # room for the first two only
    assert [callable(image.source) for image in ahead.images][:3] == [True, True, False]
    for original, kept in zip(dataset.images, ahead.images):  # the same pixels, whether kept or decoded again
        assert np.array_equal(original.load(), kept.load())
    pixels = ahead.images[0].load()
    pixels[:] = 0  # a model writing into its input changes neither what is kept nor the next call's image
    assert np.array_equal(ahead.images[0].load(), dataset.images[0].load())
    assert ahead.describe() == dataset.describe() and ahead.coco_ground_truth() == dataset.coco_ground_truth()
