"""``--data moving-shapes``: synthetic video drawn from a seed — shapes that move, cross and hide each other, enter
and leave the frame, with exact identities — written in MOTChallenge's layout so TrackEval reads it as it reads MOT17.

``moving-shapes:seqs=2,frames=30,objects=4,size=320x240,seed=0,occlusion=1``. Each object moves in a straight line
at constant speed; later objects are drawn over earlier ones. Ground truth is the object's whole extent (as MOT's
boxes are, also where it is hidden), clipped to the frame, with its visible share in the visibility column; every box
is class 1 (MOTChallenge's pedestrian: the class TrackEval scores), and ``seqinfo.ini`` names the objects
(``zooObjects=circle,square,triangle``) so a detector's labels are joined with them. ``occlusion=0`` keeps every
object in its own horizontal lane: objects still enter and leave, and never overlap.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.shapes import CLASSES, draw_background, parse_options, random_colour, shape_mask
from zoo.errors import ZooError

DEFAULTS = {"seqs": 2, "frames": 30, "objects": 4, "size": (320, 240), "seed": 0, "occlusion": 1}
USAGE = "moving-shapes:seqs=N,frames=N,objects=N,size=WxH,seed=N,occlusion=0|1"
LANE_GAP = 6  # pixels between lanes when occlusion=0


def parse_spec(spec: str) -> dict:
    options = parse_options(spec, DEFAULTS, USAGE)
    width, height = options["size"]
    if min(options["seqs"], options["frames"], options["objects"]) < 1 or width < 64 or height < 64:
        raise ZooError(f"--data {spec}: seqs, frames and objects must be at least 1, size at least 64x64")
    if not options["occlusion"] and height // options["objects"] < 16 + LANE_GAP:
        raise ZooError(f"--data {spec}: {options['objects']} lanes do not fit {height} pixels; fewer objects")
    return options


@dataclass(frozen=True)
class _Object:
    kind: str
    width: int
    height: int
    colour: np.ndarray
    start: int  # first frame it moves in (1-based)
    x: float  # top-left corner at ``start``
    y: float
    dx: float  # pixels per frame
    dy: float

    def corner(self, frame: int) -> tuple[int, int] | None:
        if frame < self.start:
            return None
        steps = frame - self.start
        return int(round(self.x + self.dx * steps)), int(round(self.y + self.dy * steps))


def write(spec: str, folder: Path) -> Path:
    """Draw every sequence of ``spec`` into ``folder`` (``folder/<seq>/...``, anything there before removed: the
    folder holds exactly this spec's sequences) and return ``folder``."""
    options = parse_spec(spec)
    shutil.rmtree(folder, ignore_errors=True)
    for index in range(options["seqs"]):
        _write_sequence(folder / f"shapes-{index + 1:02d}", index, options)
    return folder


def _write_sequence(folder: Path, index: int, options: dict) -> None:
    width, height = options["size"]
    frames = options["frames"]
    rng = np.random.default_rng([options["seed"], index])
    background = draw_background(rng, width, height)
    objects = _objects(rng, options)
    (folder / "img1").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    lines = []
    for frame in range(1, frames + 1):
        noise = np.random.default_rng([options["seed"], index, frame]).normal(0, 3, background.shape)
        image = background + noise
        owner = np.zeros((height, width), np.int32)  # which object each pixel shows (0: background)
        drawn = []
        for number, obj in enumerate(objects, start=1):
            placed = _draw(image, owner, obj, number, frame)
            if placed is not None:
                drawn.append((number, *placed))
        for number, box, pixels in drawn:
            visible = int((owner == number).sum())
            x1, y1, x2, y2 = box
            lines.append(f"{frame},{number},{x1},{y1},{x2 - x1},{y2 - y1},1,1,{visible / pixels:.4f}\n")
        buffer = io.BytesIO()
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=95)
        (folder / "img1" / f"{frame:06d}.jpg").write_bytes(buffer.getvalue())
    (folder / "gt" / "gt.txt").write_text("".join(lines), encoding="utf-8")
    (folder / "seqinfo.ini").write_text(
        f"[Sequence]\nname={folder.name}\nimDir=img1\nframeRate=30\nseqLength={frames}\nimWidth={width}\n"
        f"imHeight={height}\nimExt=.jpg\nzooObjects={','.join(CLASSES)}\n",
        encoding="utf-8",
    )


def _objects(rng: np.random.Generator, options: dict) -> list[_Object]:
    """Each object's shape, colour, start and straight path: half are in the first frame, the others enter
    through an edge later; with ``occlusion=0`` each keeps to a lane of its own and moves sideways."""
    width, height = options["size"]
    count, frames = options["objects"], options["frames"]
    lane = height // count
    objects = []
    for number in range(count):
        kind = CLASSES[int(rng.integers(len(CLASSES)))]
        largest = min(48, lane - LANE_GAP) if not options["occlusion"] else 48
        side = int(rng.integers(16, largest + 1))
        box_w, box_h = side, side if kind != "triangle" else max(6, int(round(side * 0.87)))
        speed = float(rng.uniform(2.0, 5.0))
        start = 1 if number % 2 == 0 or frames < 4 else int(rng.integers(2, max(3, frames // 2)))
        if not options["occlusion"]:
            y = number * lane + (lane - box_h) / 2
            dx = speed if rng.random() < 0.5 else -speed
            x = float(rng.uniform(0, width - box_w)) if start == 1 else (-box_w + 1 if dx > 0 else width - 1)
            objects.append(_Object(kind, box_w, box_h, random_colour(rng), start, x, y, dx, 0.0))
            continue
        if start == 1:
            x, y = float(rng.uniform(0, width - box_w)), float(rng.uniform(0, height - box_h))
        else:  # just outside a random edge
            edge = int(rng.integers(4))
            x = float(rng.uniform(0, width - box_w)) if edge < 2 else (-box_w + 1.0 if edge == 2 else width - 1.0)
            y = float(rng.uniform(0, height - box_h)) if edge >= 2 else (-box_h + 1.0 if edge == 0 else height - 1.0)
        target = rng.uniform([0, 0], [width - box_w, height - box_h])  # heads somewhere inside, so it enters
        direction = (target - (x, y)) / max(float(np.hypot(*(target - (x, y)))), 1e-6)
        objects.append(_Object(kind, box_w, box_h, random_colour(rng), start, x, y, *(direction * speed)))
    return objects


def _draw(
    image: np.ndarray, owner: np.ndarray, obj: _Object, number: int, frame: int
) -> tuple[tuple[int, int, int, int], int] | None:
    """Draw ``obj`` as it is at ``frame`` (over what is drawn already); its whole extent clipped to the frame, and
    how many pixels it has in all; None when it is not in the frame."""
    corner = obj.corner(frame)
    if corner is None:
        return None
    height, width = owner.shape
    mask = shape_mask(obj.kind, obj.width, obj.height)
    ys, xs = np.nonzero(mask)
    ys, xs = ys + corner[1], xs + corner[0]
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    if not inside.any():
        return None
    image[ys[inside], xs[inside]] = obj.colour
    owner[ys[inside], xs[inside]] = number
    box = (int(xs[inside].min()), int(ys[inside].min()), int(xs[inside].max()) + 1, int(ys[inside].max()) + 1)
    return box, len(xs)
