"""Video data for tracking: sequences in MOTChallenge's layout, read and checked once, so TrackEval reads the same.

A sequence is a folder ``SEQ/`` with ``seqinfo.ini`` (``seqLength``, ``imWidth``, ``imHeight``, ``frameRate``,
``imDir``, ``imExt``), its frames ``SEQ/img1/000001.jpg`` … and its ground truth ``SEQ/gt/gt.txt``: one line per box,
``frame, id, left, top, width, height, considered, class, visibility``. What is scored, and how MOT17's ignore flags
and distractor classes (static people, reflections, people on vehicles) are handled, is TrackEval's own
preprocessing (`zoo.tracking.metrics`); zoo only checks that every file is whole before any model runs.

``--data`` is one sequence folder, a folder of sequences (MOT17's ``train/``: only one of the three identical
DPM / FRCNN / SDP copies of each sequence is kept), or ``moving-shapes[:options]`` (`zoo.tracking.shapes`).
"""

from __future__ import annotations

import configparser
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from zoo.data import benchmarks
from zoo.data.images import decode_image
from zoo.errors import ZooError
from zoo.fetch import config
from zoo.tracking import shapes

PEDESTRIAN = 1  # MOTChallenge's class id of what is tracked and scored; the others only guide preprocessing
MOT_CLASSES = range(1, 14)  # pedestrian, person on vehicle, car, ..., crowd: the ids TrackEval's MOT17 reader knows
MOT17_COPY = re.compile(r"^(MOT17-\d+)-(DPM|FRCNN|SDP)$")
KEPT_COPY = "FRCNN"  # of MOT17's three identical copies of each sequence (they differ only in public detections)


@dataclass(frozen=True)
class GroundTruth:
    """One sequence's ``gt.txt`` as arrays, one row per box: frames are 1-based, boxes absolute xyxy pixels."""

    frames: np.ndarray  # (n,) int
    ids: np.ndarray  # (n,) int
    boxes: np.ndarray  # (n, 4) float xyxy
    considered: np.ndarray  # (n,) bool: MOT's flag (0: ignore this box)
    classes: np.ndarray  # (n,) int, MOTChallenge class ids
    visibility: np.ndarray  # (n,) float in [0, 1]

    def scored(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and boxes of ``frame`` that TrackEval scores (pedestrian class, considered)."""
        keep = (self.frames == frame) & self.considered & (self.classes == PEDESTRIAN)
        return self.ids[keep], self.boxes[keep]


@dataclass(frozen=True)
class VideoSequence:
    """One sequence: where its frames are, how many, their size, and what its tracked objects are called."""

    name: str
    folder: Path
    length: int
    width: int
    height: int
    frame_rate: float
    image_dir: str = "img1"
    image_ext: str = ".jpg"
    objects: tuple[str, ...] = ("person",)  # names a detector's labels are joined with (``zooObjects`` in the ini)

    def frame_path(self, frame: int) -> Path:
        """The file of ``frame`` (1-based)."""
        return self.folder / self.image_dir / f"{frame:06d}{self.image_ext}"

    def load_frame(self, frame: int) -> np.ndarray:
        """Frame ``frame`` (1-based) as ``(H, W, 3) uint8`` RGB."""
        return decode_image(self.frame_path(frame).read_bytes())

    def ground_truth(self) -> GroundTruth:
        return read_ground_truth(self.folder / "gt" / "gt.txt", self.length)


@dataclass(frozen=True)
class Video:
    """What ``--data`` named: its sequences, all under ``root`` (TrackEval's ``GT_FOLDER``)."""

    source: str
    root: Path
    sequences: list[VideoSequence]
    notes: list[str] = field(default_factory=list)
    fingerprint: str = ""
    benchmark: dict | None = None  # a named benchmark's title, licence, citation (``--data mot17``)

    @property
    def frames(self) -> int:
        return sum(sequence.length for sequence in self.sequences)

    def describe(self) -> dict:
        return {
            "source": self.source,
            "root": str(self.root),
            "sequences": [
                {"name": s.name, "frames": s.length, "size": f"{s.width}x{s.height}", "fps": s.frame_rate}
                for s in self.sequences
            ],
            "frames": self.frames,
            "objects": sorted({name for s in self.sequences for name in s.objects}),
            "notes": self.notes,
            "fingerprint": self.fingerprint,
            **({"benchmark": self.benchmark} if self.benchmark else {}),
        }


def load_video(spec: str, *, out: Path | None = None) -> Video:
    """The video ``--data`` names; ``moving-shapes`` is drawn into ``out/data/`` (the run folder) first."""
    if spec == "moving-shapes" or spec.startswith("moving-shapes:"):
        if out is None:
            raise ZooError("moving-shapes needs a folder to be written into")
        root = shapes.write(spec, Path(out) / "data" / "moving-shapes")
        return read_folder(root, spec)
    benchmark = benchmarks.get(spec)
    if benchmark is not None and benchmark.format == "mot":
        return _named(benchmark)
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ZooError(
            f"--data {spec}: no such folder; give a MOTChallenge sequence (SEQ/seqinfo.ini, SEQ/img1/, SEQ/gt/gt.txt),"
            " a folder of them, or moving-shapes[:seqs=N,frames=N,seed=N]"
        )
    return read_folder(path, spec)


def _named(benchmark: benchmarks.Benchmark) -> Video:
    """A named tracking benchmark from its folder (fetched beforehand: `zoo.data.benchmarks.fetch`)."""
    problem = benchmarks.missing(benchmark)
    if problem and config.offline():
        raise ZooError(benchmarks.offline_message(benchmark))
    if problem:
        raise ZooError(f"--data {benchmark.name}: {problem}; `zoo pull --data {benchmark.name}` fetches it")
    video = read_folder(benchmark.folder() / benchmark.data, benchmark.name)
    return replace(video, benchmark=benchmark.describe(None))


def read_folder(path: Path, spec: str) -> Video:
    """One sequence folder, or a folder of them; every sequence checked whole. The fingerprint hashes the names,
    the ground truth and each sequence's first and last frames (not every frame: MOT17's train split is 5 GB)."""
    path = path.absolute()
    if (path / "seqinfo.ini").is_file():
        folders, root = [path], path.parent
    else:
        folders, root = sorted(p for p in path.iterdir() if (p / "seqinfo.ini").is_file()), path
    if not folders:
        raise ZooError(f"--data {spec}: no seqinfo.ini in {path} or its subfolders; not a MOTChallenge folder")
    folders, notes = _one_copy(folders)
    sequences = [read_sequence(folder, spec) for folder in folders]
    digest = hashlib.sha256()
    for sequence in sequences:
        digest.update(sequence.name.encode())
        digest.update((sequence.folder / "gt" / "gt.txt").read_bytes())
        for frame in (1, sequence.length):
            digest.update(hashlib.sha256(sequence.frame_path(frame).read_bytes()).digest())
    return Video(spec, root, sequences, notes, digest.hexdigest()[:16])


def _one_copy(folders: list[Path]) -> tuple[list[Path], list[str]]:
    """MOT17 ships each sequence three times (DPM, FRCNN, SDP public detections; same frames, same ground truth):
    keep one, so no sequence counts three times."""
    copies: dict[str, list[Path]] = {}
    for folder in folders:
        match = MOT17_COPY.match(folder.name)
        if match:
            copies.setdefault(match.group(1), []).append(folder)
    dropped = set()
    for same in copies.values():
        if len(same) > 1:
            keep = next((f for f in same if f.name.endswith(KEPT_COPY)), same[0])
            dropped |= {f for f in same if f != keep}
    if not dropped:
        return folders, []
    note = f"{len(dropped)} duplicate MOT17 copies skipped (one of DPM / FRCNN / SDP kept per sequence)"
    return [f for f in folders if f not in dropped], [note]


def read_sequence(folder: Path, spec: str) -> VideoSequence:
    """``folder/seqinfo.ini`` read, every frame it announces present, ``gt/gt.txt`` parsed and checked."""
    ini = folder / "seqinfo.ini"
    parser = configparser.ConfigParser()
    try:
        parser.read(ini, encoding="utf-8")
        info = parser["Sequence"]
        length, width, height = (int(info[key]) for key in ("seqLength", "imWidth", "imHeight"))
        frame_rate = float(info.get("frameRate", "30"))
    except (configparser.Error, KeyError, ValueError) as error:
        raise ZooError(
            f"--data {spec}: {ini}: needs a [Sequence] section with integer seqLength, imWidth, imHeight ({error})"
        ) from None
    if length < 1:
        raise ZooError(f"--data {spec}: {ini}: seqLength is {length}; a sequence needs at least one frame")
    objects = tuple(n.strip() for n in info.get("zooObjects", "person").split(",") if n.strip()) or ("person",)
    ext = info.get("imExt", ".jpg")
    sequence = VideoSequence(
        name=folder.name,
        folder=folder,
        length=length,
        width=width,
        height=height,
        frame_rate=frame_rate,
        image_dir=info.get("imDir", "img1"),
        image_ext=ext if ext.startswith(".") else f".{ext}",
        objects=objects,
    )
    missing = [frame for frame in range(1, length + 1) if not sequence.frame_path(frame).is_file()]
    if missing:
        first = sequence.frame_path(missing[0])
        raise ZooError(
            f"--data {spec}: sequence {folder.name}: {len(missing)} of its {length} frames missing (first: {first});"
            " restore them or correct seqLength in seqinfo.ini"
        )
    try:
        sequence.ground_truth()
    except ValueError as error:
        raise ZooError(f"--data {spec}: {error}; fix that line") from None
    return sequence


def read_ground_truth(path: Path, length: int) -> GroundTruth:
    """Parse a MOT ``gt.txt``; a line TrackEval would reject (or silently misread) is a ValueError naming it."""
    if not path.is_file():
        raise ValueError(f"{path}: no ground truth (gt/gt.txt) for this sequence")
    rows, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        cells = [cell.strip() for cell in line.replace(" ", ",").split(",") if cell.strip()]
        if len(cells) < 8:
            raise ValueError(f"{where}: {len(cells)} columns; MOT ground truth has frame,id,x,y,w,h,considered,class")
        try:
            values = [float(cell) for cell in cells[:9]]
        except ValueError:
            raise ValueError(f"{where}: not numbers: {line.strip()!r}") from None
        frame, track_id = values[0], values[1]
        if frame != int(frame) or not 1 <= frame <= length:
            raise ValueError(f"{where}: frame {cells[0]} is not a whole number in 1..{length} (seqLength)")
        if track_id != int(track_id) or track_id < 1:
            raise ValueError(f"{where}: id {cells[1]} is not a whole number of 1 or more")
        if values[7] not in MOT_CLASSES:
            raise ValueError(f"{where}: class {cells[7]} is not one of MOTChallenge's classes 1..13 (1: pedestrian)")
        if (int(frame), int(track_id)) in seen:
            raise ValueError(f"{where}: id {int(track_id)} appears twice in frame {int(frame)}")
        seen.add((int(frame), int(track_id)))
        rows.append(values + [1.0] * (9 - len(values)))
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 9)
    boxes = table[:, 2:6].copy()
    boxes[:, 2:] += boxes[:, :2]
    return GroundTruth(
        frames=table[:, 0].astype(np.int64),
        ids=table[:, 1].astype(np.int64),
        boxes=boxes,
        considered=table[:, 6] != 0,
        classes=table[:, 7].astype(np.int64),
        visibility=np.clip(table[:, 8], 0, 1),
    )


def write_mot(path: Path, rows: list[tuple[int, int, np.ndarray, float]]) -> None:
    """Tracks as a MOTChallenge results file: ``frame, id, left, top, width, height, score, -1, -1, -1`` per box,
    ``rows`` as ``(frame, id, xyxy, score)``; full float precision, so a re-score sees what zoo scored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for frame, track_id, box, score in sorted(rows, key=lambda row: (row[0], row[1])):
        x1, y1, x2, y2 = (float(v) for v in box)
        lines.append(f"{frame},{track_id},{x1!r},{y1!r},{x2 - x1!r},{y2 - y1!r},{float(score)!r},-1,-1,-1\n")
    path.write_text("".join(lines), encoding="utf-8")


def read_mot(path: Path) -> list[tuple[int, int, np.ndarray, float]]:
    """A MOTChallenge results file back as ``(frame, id, xyxy, score)`` rows (the inverse of `write_mot`)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            cells = [float(cell) for cell in line.split(",")]
            x, y, w, h = cells[2:6]
            rows.append((int(cells[0]), int(cells[1]), np.array([x, y, x + w, y + h]), cells[6]))
    return rows
