"""The tracking page of a ``zoo track`` run folder (``index.html``): the leaderboard by HOTA with the oracle row
marked, HOTA per sequence, HOTA against the time per frame, and a strip of frames around an identity switch for each
detector, boxes coloured by track id. Built from ``tracking.json`` as plain data, then rendered with the report's
templates and style (`zoo.report`), so it looks like the other pages and makes no network request."""

from __future__ import annotations

import colorsys
import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup
from PIL import Image, ImageDraw
from scipy.optimize import linear_sum_assignment

from zoo.files import atomic_write
from zoo.report import STATIC, TEMPLATES, charts, fmt
from zoo.report.runs import PALETTE
from zoo.tracking.protocol import flat, sorted_rows
from zoo.tracking.run import ORACLE
from zoo.tracking.video import read_folder, read_mot

HERE = Path(__file__).parent / "templates"
STRIPS = "strips"
STRIP_HEIGHT = 240  # pixels of each frame in a strip


@dataclass(frozen=True)
class Strip:
    row: str
    sequence: str
    frames: list[int]
    image: str  # path relative to the run folder
    caption: str


def write_page(out: Path) -> Path:
    """``out/index.html`` from ``out/tracking.json`` (and the frames and tracks beside it)."""
    record = json.loads((out / "tracking.json").read_text(encoding="utf-8"))
    rows = sorted_rows(record["rows"])
    marks = {row["id"]: charts.Mark(row["id"], row["id"], PALETTE[i % len(PALETTE)], "circle") for i, row in
             enumerate(rows)}  # fmt: skip
    page = {
        "record": record,
        "rows": [{**row, "flat": flat(row), "mark": marks[row["id"]]} for row in rows],
        "sequences": [s["name"] for s in record["data"]["sequences"]],
        "chart": _chart(rows, marks),
        "strips": strips(out, record, rows),
        "oracle": ORACLE,
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([HERE, TEMPLATES]), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters.update(score=fmt.score, whole=fmt.whole, num=fmt.significant, percent=fmt.percent)
    css = Markup((STATIC / "report.css").read_text(encoding="utf-8").replace("</", "<\\/"))
    path = out / "index.html"
    atomic_write(path, environment.get_template("track.html").render(page=page, css=css))
    return path


def _chart(rows: list[dict], marks: dict[str, charts.Mark]) -> charts.ScatterChart | None:
    """HOTA against milliseconds per frame (detector + tracker; 1000 / fps), log scale, with the Pareto front."""
    items = []
    for row in rows:
        f = flat(row)
        if f.get("fps"):
            why = row["missing"].get("metrics") or row["reason"] or "not scored"
            items.append((marks[row["id"]], 1000.0 / f["fps"], None, f.get("hota"), why))
    chart = charts.scatter_chart("hota", "HOTA", items)
    if chart is not None:
        label = "ms per frame, detector + tracker (1000 / fps; log scale) — faster to the left"
        chart.frame = dataclasses.replace(chart.frame, x_label=label)
        for point in chart.points:
            fps = next(flat(r)["fps"] for r in rows if r["id"] == point.mark.key)
            point.title = point.title.split(", latency")[0] + f", {fps:.1f} frames/s (detector + tracker)"
    return chart


def strips(out: Path, record: dict, rows: list[dict]) -> list[Strip]:
    """For each scored detector row, the frames around its first identity switch (a ground-truth object whose
    matched track id changes), with its tracks drawn coloured by id; none for a row without a switch."""
    root = Path(record["data"]["root"])
    try:
        video = read_folder(root if root.is_absolute() else out / root, record["data"]["source"])
    except Exception:  # the frames are gone (a copied run folder): the page goes without strips
        return []
    by_name = {sequence.name: sequence for sequence in video.sequences}
    shutil.rmtree(out / STRIPS, ignore_errors=True)
    made = []
    for row in rows:
        if row["id"] == ORACLE or not row["metrics"]:
            continue
        for name, relative in row["files"].items():
            sequence = by_name.get(name)
            if sequence is None:
                continue
            tracks = read_mot(out / relative)
            switch = _first_switch(sequence.ground_truth(), tracks, sequence.length)
            if switch is None:
                continue
            frame, object_id, before, after = switch
            frames = [f for f in range(frame - 2, frame + 2) if 1 <= f <= sequence.length]
            image = _draw_strip(sequence, tracks, frames)
            relative_image = f"{STRIPS}/{row['id']}-{name}.png"
            (out / STRIPS).mkdir(exist_ok=True)
            image.save(out / relative_image, optimize=True)
            caption = f"{name}, frames {frames[0]}–{frames[-1]}: object {object_id} goes from track {before} to {after}"
            made.append(Strip(row["id"], name, frames, relative_image, caption))
            break
    return made


def _first_switch(truth: Any, tracks: list, length: int) -> tuple[int, int, int, int] | None:
    """The first frame where a ground-truth object is matched (IoU ≥ 0.5, one to one) to another track id than at
    its previous match: ``(frame, object, old track, new track)``."""
    last: dict[int, int] = {}
    for frame in range(1, length + 1):
        gt_ids, gt_boxes = truth.scored(frame)
        here = [(i, box) for f, i, box, _ in tracks if f == frame]
        if not len(gt_ids) or not here:
            continue
        iou = _iou(gt_boxes, np.array([box for _, box in here]))
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] < 0.5:
                continue
            object_id, track_id = int(gt_ids[r]), here[c][0]
            if object_id in last and last[object_id] != track_id:
                return frame, object_id, last[object_id], track_id
            last[object_id] = track_id
    return None


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=2)
    area = lambda boxes: np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def _draw_strip(sequence: Any, tracks: list, frames: list[int]) -> Image.Image:
    """The frames side by side, each track's box in its id's colour with its id; the ground truth thin, white."""
    scale = STRIP_HEIGHT / sequence.height
    width = int(round(sequence.width * scale))
    strip = Image.new("RGB", (width * len(frames) + 4 * (len(frames) - 1), STRIP_HEIGHT), "white")
    truth = sequence.ground_truth()
    for slot, frame in enumerate(frames):
        picture = Image.fromarray(sequence.load_frame(frame)).resize((width, STRIP_HEIGHT))
        draw = ImageDraw.Draw(picture)
        for box in truth.scored(frame)[1]:
            draw.rectangle([float(v) * scale for v in box], outline="white", width=1)
        for f, track_id, box, _ in tracks:
            if f == frame:
                colour = _colour(track_id)
                draw.rectangle([float(v) * scale for v in box], outline=colour, width=2)
                x, y = float(box[0]) * scale, max(float(box[1]) * scale - 12, 0)
                draw.rectangle([x, y, x + 6 * len(str(track_id)) + 3, y + 11], fill=colour)
                draw.text((x + 2, y), str(track_id), fill="black")
        draw.text((4, STRIP_HEIGHT - 14), f"frame {frame}", fill="white")
        strip.paste(picture, (slot * (width + 4), 0))
    return strip


def _colour(track_id: int) -> tuple[int, int, int]:
    """A bright colour per track id, far apart for neighbouring ids (golden-ratio hues)."""
    red, green, blue = colorsys.hsv_to_rgb((track_id * 0.618034) % 1.0, 0.9, 1.0)
    return int(red * 255), int(green * 255), int(blue * 255)
