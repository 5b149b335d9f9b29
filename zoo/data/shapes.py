"""``--data shapes``: a synthetic dataset drawn from a seed — exact boxes, several classes and object sizes.

``shapes:count=200,size=640x480,seed=3`` sets the options; image ``i`` depends only on the seed and ``i``, so
``--limit`` keeps a prefix of the same images. Each box is the tight extent of the pixels drawn for its object.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib

import numpy as np

from zoo.data.dataset import Category, Dataset, DatasetIssues, Track, finish, make_record
from zoo.errors import ZooError

CLASSES = ("circle", "square", "triangle")
DEFAULTS = {"count": 64, "size": (320, 320), "seed": 0}
GAP = 3  # pixels kept free between objects, so every object stays its own connected region


def parse_options(spec: str, defaults: dict, usage: str) -> dict:
    """``NAME:key=value,...`` over ``defaults``: each key one of theirs, its value a whole number, or ``WxH`` (``W``
    alone: square) where the default is a (width, height) pair. An unknown key or a bad value is one line naming the
    item and ``usage``. The synthetic datasets' one parser (``shapes``, ``moving-shapes``)."""
    options = dict(defaults)
    _, _, text = spec.partition(":")
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        try:
            if key not in defaults:
                raise KeyError(key)
            if isinstance(defaults[key], tuple):
                width, _, height = value.partition("x")
                options[key] = (int(width), int(height or width))
            else:
                options[key] = int(value)
        except (ValueError, KeyError):
            raise ZooError(f"--data {spec}: bad option {item!r}; use {usage}") from None
    return options


def parse_spec(spec: str) -> dict:
    options = parse_options(spec, DEFAULTS, "shapes:count=N,size=WxH,seed=N")
    width, height = options["size"]
    if options["count"] < 1 or width < 32 or height < 32:
        raise ZooError(f"--data {spec}: count must be at least 1 and size at least 32x32")
    return options


def load(spec: str, *, limit: int | None, track: Track) -> Dataset:
    options = parse_spec(spec)
    count = min(options["count"], limit or options["count"])
    categories = [Category(i + 1, name) for i, name in enumerate(CLASSES)]
    issues = DatasetIssues()
    content = hashlib.sha256()
    records = []
    for index in track(range(count), "Drawing shapes", count):
        draw = functools.partial(draw_image, index, options["size"], options["seed"])
        pixels, boxes, classes = draw_image(index, options["size"], options["seed"], with_boxes=True)
        content.update(hashlib.sha256(pixels.tobytes()).digest())
        records.append(
            make_record(
                index + 1,
                f"shapes-{index:05d}.png",
                options["size"],
                boxes,
                classes,
                draw,
                issues=issues,
                where=lambda i, n=index: f"shapes image {n} object {i}",
            )
        )
    name = "shapes" if spec == "shapes" else spec
    return finish(name, "shapes", spec, categories, records, issues, content)


def draw_image(index: int, size: tuple[int, int], seed: int, with_boxes: bool = False):
    """Draw image ``index``; with ``with_boxes`` also return its exact boxes and category ids."""
    width, height = size
    rng = np.random.default_rng([seed, index])
    image = draw_background(rng, width, height)
    occupied: list[tuple[int, int, int, int]] = []
    boxes, classes = [], []
    for _ in range(int(rng.integers(1, 7))):
        for _attempt in range(30):
            class_index = int(rng.integers(len(CLASSES)))
            side = int(np.exp(rng.uniform(np.log(10), np.log(0.45 * min(width, height)))))
            box_w = side
            box_h = side if CLASSES[class_index] != "triangle" else max(6, int(round(side * 0.87)))
            x0 = int(rng.integers(0, width - box_w + 1))
            y0 = int(rng.integers(0, height - box_h + 1))
            if any(_near((x0, y0, x0 + box_w, y0 + box_h), other) for other in occupied):
                continue
            mask = shape_mask(CLASSES[class_index], box_w, box_h)
            ys, xs = np.nonzero(mask)
            colour = random_colour(rng)
            region = image[y0 : y0 + box_h, x0 : x0 + box_w]
            noise = rng.normal(0, 3, (len(ys), 3))
            region[ys, xs] = np.clip(colour + noise, 0, 255)
            occupied.append((x0, y0, x0 + box_w, y0 + box_h))
            boxes.append((x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1))
            classes.append(class_index + 1)
            break
    pixels = image.astype(np.uint8)
    return (pixels, boxes, classes) if with_boxes else pixels


def draw_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A soft grey-ish gradient with sensor-like noise: low saturation, so the coloured objects stand out."""
    start, end = (rng.uniform(70, 200) + rng.uniform(-12, 12, 3) for _ in range(2))
    t = np.linspace(0, 1, width)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, height)[:, None, None]
    image = start + (end - start) * t
    image = np.broadcast_to(image, (height, width, 3)).copy()
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    hue, saturation, value = rng.random(), rng.uniform(0.75, 1.0), rng.uniform(0.55, 1.0)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value)) * 255


def shape_mask(kind: str, box_w: int, box_h: int) -> np.ndarray:
    """Which pixels of a ``box_w × box_h`` box the shape covers, tested at pixel centres."""
    ys, xs = np.mgrid[0:box_h, 0:box_w] + 0.5
    if kind == "square":
        return np.ones((box_h, box_w), bool)
    if kind == "circle":
        return ((xs - box_w / 2) / (box_w / 2)) ** 2 + ((ys - box_h / 2) / (box_h / 2)) ** 2 <= 1.0
    # an upright isosceles triangle: apex at the top centre, base along the bottom edge
    return np.abs(xs - box_w / 2) <= ys / box_h * box_w / 2


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] + GAP and b[0] < a[2] + GAP and a[1] < b[3] + GAP and b[1] < a[3] + GAP
