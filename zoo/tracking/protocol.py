"""``zoo track``'s protocol from end to end: the oracle row, each detector's row (loaded as ``zoo run`` loads it,
measured offline), TrackEval over every row's files, and the run folder: ``tracking.json``, ``leaderboard.csv``.

A model that fails is a ``failed`` row with its reason, and the others go on; a model without weights is timed on
an untrained copy and its tracks are not scored (``no-weights``), as in ``zoo run``.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.executors.local import LocalExecutor
from zoo.files import atomic_write, to_json
from zoo.isolation import Limits, WorkerSetup
from zoo.offline import offline
from zoo.registry import Entry
from zoo.tracking import metrics, tracker
from zoo.tracking.run import ORACLE, Report, oracle_row, tracks_dir
from zoo.tracking.video import Video
from zoo.tracking.work import TrackWork

LEADERBOARD = ("id", "kind", "status", "hota", "deta", "assa", "mota", "idf1", "idsw", "fps", "detector_ms_per_frame",
               "tracker_ms_per_frame", "tracker_share", "conf", "loca", "motp", "fp", "fn", "frag", "ids", "gt_ids",
               "weights", "reason")  # fmt: skip


@dataclass(frozen=True)
class TrackSettings:
    """Every knob of a tracking run; written into ``tracking.json``."""

    tracker: str = "bytetrack"
    conf: float = 0.1  # ByteTrack's low threshold: its second association sees every box it would use
    device: str = "cpu"
    threads: int | None = None
    oracle: bool = True
    isolation: bool = True  # each detector in a worker process (recorded; the workers come from track_models)
    weights: dict[str, str] = field(default_factory=dict)  # model id -> weights, from --weights ID=PATH
    executor: str = "local"  # what ran the detector rows: local or ray (--executor)


def no_report(phase: str, done: int, total: int | None) -> None:
    pass


def track_models(
    entries: list[Entry],
    plugins: Any,
    video: Video,
    settings: TrackSettings,
    out: Path,
    report_for: Any = None,
    *,
    isolation: tuple[Any, Any] | None = None,
    force: bool = False,
    say: Any = None,
    executor: Any = None,
) -> list[dict[str, Any]]:
    """Every row, scored; written to ``out`` as the rows finish and again once TrackEval has scored them.

    ``executor``: what runs the detector rows (`zoo.executors`, given a `zoo.tracking.work.TrackWork`; the caller
    closes it); None: the local executor, with ``isolation`` — ``(WorkerSetup, Limits)`` to run each detector in a
    worker process (`zoo.tracking.isolated`), None to run them here. A detector this run folder already tracked with
    the same key (entry, weights, settings, data) is kept, not run again, unless ``force``; ``say(line)`` is told
    so (the line indented as the executor's are)."""
    earlier = {} if force else _earlier_rows(out)
    rows: list[dict[str, Any]] = []
    if settings.oracle:
        with offline():
            rows.append(oracle_row(video, settings.tracker, out))
    if executor is None:
        work = track_work(video, settings, out, isolation)
        executor = LocalExecutor(work, plugins=plugins, progress=report_for or _quiet)
    keys = {entry.id: _key(entry, settings, video) for entry in entries}
    queue = []
    for entry in entries:
        before = earlier.get(entry.id)
        if _reusable(before, keys[entry.id], out):
            rows.append(before)
            if say:
                say(f"  {'done':>10} {entry.id} (earlier in this run folder; --force runs it again)")
        else:
            queue.append(entry)
    try:
        while queue or executor.busy():
            while queue and executor.has_room():
                executor.submit(queue.pop(0))
            if executor.busy():
                entry, row = executor.next_result()
                row["key"] = keys[entry.id]
                rows.append(row)
                write_folder(out, video, settings, rows)
    except BaseException:  # Ctrl-C: what still runs is stopped; the rows that finished are written
        executor.cancel()
        raise
    score(rows, video, out)
    write_folder(out, video, settings, rows)
    return rows


def track_work(video: Video, settings: TrackSettings, out: Path, isolation: tuple[Any, Any] | None) -> TrackWork:
    """The executors' work for a tracking run; ``isolation``: ``(WorkerSetup, Limits)``, None for in-process."""
    setup, limits = isolation if isolation is not None else (WorkerSetup(plugin_dirs=()), Limits())
    return TrackWork(video, settings, setup, limits, isolation is not None, out)


@contextlib.contextmanager
def _quiet(entry: Entry) -> Iterator[Report]:
    yield no_report


def _key(entry: Entry, settings: TrackSettings, video: Video) -> dict[str, Any]:
    """What a row was measured with: an earlier row with the same key need not run again."""
    return {
        "entry": {"model": entry.model, "plugin": entry.plugin, "weights": entry.weights, "options": entry.options},
        "weights": settings.weights.get(entry.id),
        "settings": {"tracker": settings.tracker, "conf": settings.conf, "device": settings.device},
        "data": video.fingerprint,
    }


def _reusable(before: dict[str, Any] | None, key: dict[str, Any], out: Path) -> bool:
    """Whether an earlier row was measured with ``key`` and its tracks are still there (a failed row runs again)."""
    if not before or before.get("key") != key or before.get("status") not in ("ok", "no-weights"):
        return False
    return bool(before["files"]) and all((out / f).is_file() for f in before["files"].values())


def _earlier_rows(out: Path) -> dict[str, dict[str, Any]]:
    """The detector rows an earlier ``zoo track`` wrote into this folder, by id."""
    try:
        record = json.loads((out / "tracking.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {row["id"]: row for row in record.get("rows", []) if row.get("kind") == "detector" and row.get("key")}


def score(rows: list[dict[str, Any]], video: Video, out: Path) -> None:
    """TrackEval over every row with tracks to score, at once; the numbers go into each row's ``metrics``."""
    scored = [row for row in rows if row["status"] == "ok" and row["files"]]
    if not scored:
        return
    sequences = {sequence.name: sequence.length for sequence in video.sequences}
    # MOT20 adds one distractor class (non-MOT vehicles) to TrackEval's preprocessing; everything else reads as MOT17
    benchmark = "MOT20" if all(name.startswith("MOT20-") for name in sequences) else "MOT17"
    ids = [row["id"] for row in scored]
    results = metrics.evaluate(video.root, sequences, tracks_dir(out), ids, out / "trackeval", benchmark)
    for row in scored:
        row["metrics"] = results[row["id"]]


def write_folder(out: Path, video: Video, settings: TrackSettings, rows: list[dict[str, Any]]) -> None:
    """``tracking.json`` (everything) and ``leaderboard.csv`` (one line per row, best HOTA first)."""
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "kind": "zoo-track",
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {k: v for k, v in vars(settings).items() if k != "weights"},
        "tracker": tracker.describe(settings.tracker),
        "data": video.describe(),
        "rows": rows,
    }
    atomic_write(out / "tracking.json", to_json(record))
    lines = [LEADERBOARD] + [tuple(_cell(flat(row).get(key)) for key in LEADERBOARD) for row in sorted_rows(rows)]
    with open(out / "leaderboard.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(lines)


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row's combined metrics, speed and identity in one flat mapping (the leaderboard's columns)."""
    return {**row, **row.get("speed", {}), **row.get("metrics", {}).get(metrics.COMBINED, {})}


def sorted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best combined HOTA first; rows without one (failed, untrained) after, by id."""

    def key(row: dict[str, Any]) -> tuple:
        hota = flat(row).get("hota")
        return (hota is None, -(hota or 0.0), row["id"] != ORACLE, row["id"])

    return sorted(rows, key=key)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 6)
    return value
