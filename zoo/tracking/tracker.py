"""The one tracker every detector's boxes go through: ultralytics' ByteTrack (``BYTETracker``), with fixed settings
(ultralytics' own ``bytetrack.yaml`` defaults), so detectors differ and nothing else does.

zoo writes no tracking logic: it hands the library one frame's boxes and scores and reads back which of them it
gave which track id (the library reports each track's detection index). A track's box is its detection's own box,
as supervision's and Roboflow ``trackers``' ByteTrack report it, not the Kalman filter's estimate: the localization
scored is the detector's, and the oracle row's boxes are exactly the ground truth's.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import asdict, dataclass
from types import SimpleNamespace

import numpy as np

TRACKERS = ("bytetrack",)


@dataclass(frozen=True)
class ByteTrackSettings:
    """ultralytics' ``cfg/trackers/bytetrack.yaml`` defaults, recorded with every result."""

    track_high_thresh: float = 0.25  # first association: boxes scoring at least this
    track_low_thresh: float = 0.1  # second association: boxes scoring above this (and below the high one)
    new_track_thresh: float = 0.25  # an unmatched box starts a track when it scores at least this
    track_buffer: int = 30  # frames a lost track is kept (at 30 fps; scaled by the sequence's frame rate)
    match_thresh: float = 0.8  # association cost limit (1 - IoU, fused with the score)
    fuse_score: bool = True


class _Boxes:
    """One frame's detections in the shape ultralytics' trackers read (``Boxes.cpu().numpy()``): ``xyxy``,
    ``xywh`` (centre), ``conf``, ``cls``, boolean indexing and ``len``."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32).reshape(-1)
        self.cls = np.asarray(cls, np.float32).reshape(-1)
        centre = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        self.xywh = np.concatenate([centre, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: np.ndarray) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


class Tracker:
    """One sequence's tracker: `update` with each frame's boxes in order, read back ``(ids, xyxy, scores)``."""

    def __init__(self, name: str = "bytetrack", frame_rate: float = 30.0) -> None:
        if name not in TRACKERS:
            raise ValueError(f"unknown tracker {name!r}; the trackers are {', '.join(TRACKERS)}")
        BYTETracker = _byte_tracker()
        self.settings = ByteTrackSettings()
        args = SimpleNamespace(tracker_type="bytetrack", **asdict(self.settings))
        if "frame_rate" in inspect.signature(BYTETracker.__init__).parameters:  # ultralytics < 8.4 scales the buffer
            self._tracker = BYTETracker(args, frame_rate=int(round(frame_rate)))
        else:  # later versions keep track_buffer frames, whatever the rate: scale it as the earlier ones did
            args.track_buffer = max(1, int(frame_rate / 30.0 * self.settings.track_buffer))
            self._tracker = BYTETracker(args)
        if hasattr(self._tracker, "reset_id"):
            self._tracker.reset_id()  # ids start at 1 in every sequence

    def update(self, xyxy: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feed one frame's boxes (all one class); the tracks the library reports for it: ids, and the boxes and
        scores of the detections it gave those ids."""
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        out = np.asarray(self._tracker.update(_Boxes(xyxy, scores, np.zeros(len(scores))), None), dtype=np.float64)
        if not len(out):
            return np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0)
        index = out[:, -1].astype(np.int64)  # [x1, y1, x2, y2, track_id, score, cls, idx]: idx into what was fed
        return out[:, 4].astype(np.int64), xyxy[index], scores[index]


def _byte_tracker() -> type:
    """ultralytics' ByteTrack class, imported as zoo's ultralytics plugin imports the library: offline (no online
    check at import), installing nothing, quiet."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "0")
    omp = os.environ.get("OMP_NUM_THREADS")
    import torch  # noqa: F401  (before ultralytics, which sets OMP_NUM_THREADS=1 after torch sized its pool)
    from ultralytics.trackers.byte_tracker import BYTETracker

    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp
    return BYTETracker


def describe(name: str) -> dict:
    """The tracker and its settings, for the record."""
    _byte_tracker()
    import ultralytics

    return {
        "name": name,
        "library": f"ultralytics {ultralytics.__version__} (ultralytics.trackers.byte_tracker.BYTETracker)",
        "boxes": "each track's box is the box of the detection it was matched to (not the Kalman estimate)",
        **asdict(ByteTrackSettings()),
    }
