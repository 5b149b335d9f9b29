"""A run folder: what ``zoo run`` writes, model by model, so a later failure loses nothing.

results.json            everything measured, and the run's context (machine, versions, settings, dataset)
leaderboard.csv         one row per model
index.html              the report
ground_truth.json       the dataset's ground truth in COCO format
predictions/<id>.json   each model's predictions in COCO results format, at full precision: image_id, category_id
                        (-1: no dataset category), bbox, score, and zoo_label (the model's own label name)
gallery/<image id>.jpg  small JPEG copies of the worst-localized images, so the report needs no dataset
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.files import atomic_write, to_json
from zoo.leaderboard import write_csv
from zoo.report import write_report
from zoo.report.gallery import sync_thumbnails
from zoo.results import ModelResult, ModelRun, RunResults

RESULTS = "results.json"


class RunFolder:
    """One comparison: one dataset, one protocol, one machine. Running into a folder that already holds results
    resumes it — models finished with the same entry and weights are kept, the rest run — and refuses a folder
    whose dataset, settings or environment differ (``fresh`` replaces its results instead)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists() and not path.is_dir():
            raise ZooError(f"--out {path}: exists and is not a folder; choose another path")
        self.results = RunResults()
        self.dataset: Any = None

    def open(
        self, context: dict[str, Any], ground_truth: dict[str, Any], dataset: Any = None, *, fresh: bool = False
    ) -> None:
        """Begin (or resume) the folder: the context, the ground truth and, given the ``dataset``, the gallery's
        thumbnails (re-chosen after every model, worst-localized first)."""
        earlier = read_results(self.path) if (self.path / RESULTS).is_file() else None
        if earlier is not None:
            difference = _difference(earlier.context, context)
            if difference and not fresh:
                raise ZooError(
                    f"--out {self.path}: holds a run with {difference}; choose another --out, or add --force to "
                    "replace its results"
                )
            if difference:
                earlier = None
                for stale in (self.path / "predictions").glob("*.json"):
                    stale.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        self.results = RunResults(context=context, models=earlier.models if earlier else [])
        self.dataset = dataset
        atomic_write(self.path / "ground_truth.json", json.dumps(ground_truth))
        self._sync_gallery()
        self._write_summary()

    def finished(self, model_id: str, key: dict[str, Any]) -> ModelResult | None:
        """The earlier result of this model with this key, if it finished (ok or no-weights)."""
        for result in self.results.models:
            if result.id == model_id and result.key == _normal(key) and result.status.finished:
                return result
        return None

    def add(self, run: ModelRun) -> None:
        """Write one finished model's predictions, then every summary file again."""
        model_id = run.result.id
        predictions = self.path / "predictions" / f"{model_id}.json"
        if run.predictions:
            atomic_write(predictions, json.dumps(run.predictions))
            run.result.predictions_file = f"predictions/{model_id}.json"
        else:
            predictions.unlink(missing_ok=True)
        written = ModelResult.from_dict(_normal(run.result.to_dict()))  # as it reads back
        self.results.models = [m for m in self.results.models if m.id != model_id] + [written]
        self._sync_gallery()
        self._write_summary()

    def finish(self, context_updates: dict[str, Any]) -> None:
        self.results.context.update(context_updates)
        self._write_summary()

    def _sync_gallery(self) -> None:
        if self.dataset is not None:
            sync_thumbnails(self.path, self.dataset, self.results)

    def _write_summary(self) -> None:
        atomic_write(self.path / RESULTS, to_json(self.results.to_dict()))
        write_csv(self.results, self.path / "leaderboard.csv")
        write_report([self.results], self.path, [self.path])


def _normal(data: Any) -> Any:
    """``data`` as it reads back from JSON (tuples as lists, NaN as null), so a new value compares to a stored one."""
    return json.loads(to_json(data))


def _difference(earlier: dict[str, Any], now: dict[str, Any]) -> str | None:
    """What makes an earlier run incomparable with this one, in words; None when they can share a folder."""
    earlier, now = _normal(earlier), _normal(now)
    old_print = earlier.get("dataset", {}).get("fingerprint")
    new_print = now["dataset"]["fingerprint"]
    if old_print != new_print:
        return f"another dataset (fingerprint {old_print}, now {new_print})"
    for part in ("settings", "hardware", "versions"):
        old, new = earlier.get(part, {}), now[part]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            first = changed[0]
            return f"other {part} ({first}: {old.get(first)!r}, now {new.get(first)!r})"
    return None


def read_results(run_dir: Path) -> RunResults:
    """A run folder's results.json, typed (a folder written by an earlier zoo too)."""
    path = run_dir / RESULTS
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{run_dir}: no {RESULTS} here; give a folder written by zoo run") from None
    except json.JSONDecodeError as error:
        raise ZooError(f"{path}:{error.lineno}: not valid JSON ({error.msg}); was the run folder edited?") from None
    if not isinstance(results, dict) or not isinstance(results.get("models"), list):
        raise ZooError(f"{path}: not a zoo results file (no 'models' list)")
    try:
        return RunResults.from_dict(results)
    except (ValueError, TypeError, AttributeError) as error:
        raise ZooError(f"{path}: {error}") from None
