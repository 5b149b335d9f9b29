"""One tracking row: a detector's boxes on every frame, at one recorded confidence, through the one tracker; or the
oracle row, the ground-truth boxes through the same tracker (what is left is the tracker's own error).

Each row's tracks are written as MOTChallenge files (``trackers/<row>/data/<seq>.txt``), scored by TrackEval
afterwards, all rows at once (`zoo.tracking.metrics`). Speed is one pass over every frame at batch 1: the
detector's ``predict`` (device synchronised, as `zoo.Model.predict` times it) plus the tracker's ``update``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data import Category
from zoo.isolation import seed
from zoo.labels import NO_CLASS, build_label_map
from zoo.offline import offline
from zoo.registry import Entry
from zoo.runner import StepFailed, blank_result, load_entry
from zoo.settings import Settings
from zoo.tracking.tracker import Tracker
from zoo.tracking.video import Video, VideoSequence, write_mot

ORACLE = "oracle"
Report = Callable[[str, int, "int | None"], None]


def tracks_dir(out: Path) -> Path:
    """TrackEval's ``TRACKERS_FOLDER``: ``<row>/data/<seq>.txt`` under it."""
    return out / "trackers"


def blank_row(row_id: str, kind: str, conf: float | None) -> dict[str, Any]:
    return {
        "id": row_id,
        "kind": kind,  # "detector" or "oracle"
        "family": "",
        "framework": None,
        "status": "ok",
        "reason": "",
        "notes": "",
        "weights": None,
        "untrained": False,
        "conf": conf,
        "score_threshold_applied": None,
        "metrics": {},
        "speed": {},
        "boxes": {},
        "files": {},
        "missing": {},
    }


def oracle_row(video: Video, tracker: str, out: Path) -> dict[str, Any]:
    """The ground truth's scored boxes (score 1) through the tracker: the tracker's own error, no detector's."""
    row = blank_row(ORACLE, "oracle", None)
    row["notes"] = "ground-truth boxes (those TrackEval scores), score 1, through the same tracker"
    tracker_s, fed = 0.0, 0
    for sequence in video.sequences:
        truth = sequence.ground_truth()
        engine, rows = Tracker(tracker, sequence.frame_rate), []
        for frame in range(1, sequence.length + 1):
            _, boxes = truth.scored(frame)
            fed += len(boxes)
            started = time.perf_counter()
            ids, tracked, scores = engine.update(boxes, np.ones(len(boxes)))
            tracker_s += time.perf_counter() - started
            rows += [(frame, int(i), box, float(s)) for i, box, s in zip(ids, tracked, scores)]
        row["files"][sequence.name] = _write(out, ORACLE, sequence, rows)
    row["boxes"] = {"fed": fed}
    row["speed"] = _speed(video.frames, None, tracker_s)
    return row


def detector_row(
    entry: Entry,
    model: Any,
    video: Video,
    tracker: str,
    conf: float,
    out: Path,
    report: Report,
    every_label: bool = False,
) -> dict[str, Any]:
    """``model`` (loaded) on every frame; boxes of the tracked objects scoring at least ``conf`` go to the tracker.
    ``every_label``: all boxes go, whatever their label (an untrained copy, timed and never scored)."""
    row = blank_row(entry.id, "detector", conf)
    row["family"], row["framework"] = entry.family, model.framework
    row["score_threshold_applied"] = bool(model.set_score_threshold(conf)) if conf > 0 else False
    detector_s = tracker_s = 0.0
    counts = {"detections": 0, "other_classes": 0, "below_conf": 0, "fed": 0}
    done = 0
    first = video.sequences[0].load_frame(1)
    started = time.perf_counter()
    model.predict([first])  # the cold start: not a sample
    row["speed_first_call_s"] = time.perf_counter() - started
    for sequence in video.sequences:
        keep_label = _label_filter(None if every_label else model.labels, model.label_aliases, sequence)
        engine, rows = Tracker(tracker, sequence.frame_rate), []
        for frame in range(1, sequence.length + 1):
            prediction = model.predict([sequence.load_frame(frame)])
            detector_s += prediction.times.total
            found = prediction.detections[0]
            wanted = keep_label(found.labels)
            confident = found.scores >= conf
            counts["detections"] += len(found.scores)
            counts["other_classes"] += int((~wanted).sum())
            counts["below_conf"] += int((wanted & ~confident).sum())
            keep = wanted & confident
            counts["fed"] += int(keep.sum())
            started = time.perf_counter()
            ids, tracked, scores = engine.update(found.xyxy[keep], found.scores[keep])
            tracker_s += time.perf_counter() - started
            rows += [(frame, int(i), box, float(s)) for i, box, s in zip(ids, tracked, scores)]
            done += 1
            report("tracking", done, video.frames)
        row["files"][sequence.name] = _write(out, entry.id, sequence, rows)
    row["boxes"] = counts
    row["speed"] = _speed(video.frames, detector_s, tracker_s)
    return row


def detector_row_here(
    entry: Entry, plugins: Any, video: Video, settings: Any, out: Path, report: Report
) -> dict[str, Any]:
    """One detector's row in this process, loaded as ``zoo run`` loads it (an untrained copy when its weights are
    missing), measured offline; whatever goes wrong is its status and reason."""

    row = blank_row(entry.id, "detector", settings.conf)
    row["family"] = entry.family
    report("loading", 0, None)
    seed(settings)  # as zoo run seeds a model: an untrained copy's random weights too
    loaded = blank_result(entry)  # what zoo run's loading records (status, reason, notes), copied into the row
    try:
        load_settings = Settings(device=settings.device, threads=settings.threads, weights=settings.weights)
        with offline():
            try:
                model = load_entry(entry, plugins, load_settings, settings.weights.get(entry.id), loaded)
            finally:
                _copy_loading(loaded, row)
            if model is None:
                return row
            measured = detector_row(entry, model, video, settings.tracker, settings.conf, out, report, loaded.untrained)
    except StepFailed:  # loading failed; the runner put the reason in the row
        return row
    except Exception as error:
        row["status"], row["reason"] = "failed", f"{type(error).__name__}: {' '.join(str(error).split())}"
        row["traceback"] = "".join(traceback.format_exception(error))[-4000:]
        return row
    measured.update({key: row[key] for key in ("status", "reason", "notes", "framework", "load_s", "traceback")})
    row.update(measured)
    weights = model.info().weights or entry.weights
    row["weights"] = "untrained (random initialisation)" if loaded.untrained else weights
    if loaded.untrained:
        row["untrained"] = True
        row["missing"]["metrics"] = (
            "weights missing: timed on an untrained copy (all its boxes to the tracker, whatever their label); its"
            " tracks are not scored"
        )
    return row


def _copy_loading(loaded: Any, row: dict[str, Any]) -> None:
    """What `zoo.runner`'s loading recorded on its result, into the tracking row."""
    row["status"], row["reason"], row["notes"] = str(loaded.status), loaded.reason, loaded.notes
    row["framework"], row["load_s"], row["traceback"] = loaded.framework, loaded.load_s, loaded.traceback
    row["missing"].update(loaded.missing)


def _label_filter(names: Any, aliases: Any, sequence: VideoSequence) -> Callable[[np.ndarray], np.ndarray]:
    """Which of a model's labels (``names``) are the sequence's tracked objects (joined by name, as `zoo run` joins
    classes); a class-agnostic model's boxes are all kept."""
    if names is None:
        return lambda labels: np.ones(len(labels), bool)
    categories = [Category(1, name) for name in sequence.objects]
    label_map = build_label_map(names, categories, aliases)
    if not label_map.covered():
        raise ValueError(
            f"none of the model's {len(names)} labels is one of the tracked objects ({', '.join(sequence.objects)})"
        )
    return lambda labels: label_map.apply(labels) != NO_CLASS


def _write(out: Path, row_id: str, sequence: VideoSequence, rows: list) -> str:
    path = tracks_dir(out) / row_id / "data" / f"{sequence.name}.txt"
    write_mot(path, rows)
    return str(path.relative_to(out))


def _speed(frames: int, detector_s: float | None, tracker_s: float) -> dict[str, Any]:
    """Frames per second of detector + tracker over one pass, and the tracker's share of that time (the oracle has
    no detector: its tracker time only)."""
    total = (detector_s or 0.0) + tracker_s
    return {
        "frames": frames,
        "detector_ms_per_frame": None if detector_s is None else 1000 * detector_s / frames,
        "tracker_ms_per_frame": 1000 * tracker_s / frames,
        "fps": frames / total if total > 0 and detector_s is not None else None,
        "tracker_share": tracker_s / total if total > 0 and detector_s is not None else None,
    }
