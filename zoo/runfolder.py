"""A run folder: what ``zoo run`` writes, model by model, so a later failure loses nothing.

results.json            everything measured, and the run's context (machine, versions, settings, dataset)
leaderboard.csv         one row per model
index.html              the report
ground_truth.json       the dataset's ground truth in COCO format
predictions/<id>.json   each model's predictions in COCO results format (category_id -1: no dataset category)
gallery/<image id>.jpg  small JPEG copies of the worst-localized images, so the report needs no dataset
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.leaderboard import write_csv
from zoo.report import write_report
from zoo.report.gallery import sync_thumbnails
from zoo.runner import ModelRun

RESULTS = "results.json"


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def to_json(data: Any) -> str:
    return json.dumps(_finite(data), indent=1, ensure_ascii=False)


def _finite(value: Any) -> Any:
    """JSON has no NaN: a value that is not a finite number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists() and not path.is_dir():
            raise ZooError(f"--out {path}: exists and is not a folder; choose another path")
        path.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, Any] = {}
        self.dataset: Any = None

    def start(self, context: dict[str, Any], ground_truth: dict[str, Any], dataset: Any = None) -> None:
        """Begin the folder: the context, the ground truth and, given the ``dataset``, the gallery's thumbnails
        (re-chosen after every model, worst-localized first)."""
        self.results = {"context": context, "models": []}
        self.dataset = dataset
        atomic_write(self.path / "ground_truth.json", json.dumps(ground_truth))
        self._sync_gallery()
        self._write_summary()

    def add(self, run: ModelRun) -> None:
        """Write one finished model's predictions, then every summary file again."""
        model_id = run.result["id"]
        if run.predictions:
            atomic_write(self.path / "predictions" / f"{model_id}.json", json.dumps(run.predictions))
            run.result["predictions_file"] = f"predictions/{model_id}.json"
        self.results["models"] = [m for m in self.results["models"] if m["id"] != model_id] + [run.result]
        self._sync_gallery()
        self._write_summary()

    def finish(self, context_updates: dict[str, Any]) -> None:
        self.results["context"].update(context_updates)
        self._write_summary()

    def _sync_gallery(self) -> None:
        if self.dataset is not None:
            sync_thumbnails(self.path, self.dataset, self.results)

    def _write_summary(self) -> None:
        atomic_write(self.path / RESULTS, to_json(self.results))
        write_csv(self.results, self.path / "leaderboard.csv")
        write_report([self.results], self.path, [self.path])


def read_results(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RESULTS
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{run_dir}: no {RESULTS} here; give a folder written by zoo run") from None
    except json.JSONDecodeError as error:
        raise ZooError(f"{path}:{error.lineno}: not valid JSON ({error.msg}); was the run folder edited?") from None
    if not isinstance(results, dict) or not isinstance(results.get("models"), list):
        raise ZooError(f"{path}: not a zoo results file (no 'models' list)")
    return results
