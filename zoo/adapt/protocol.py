"""The few-shot protocol (``zoo fewshot``): for each K and seed a K-shot sample of the training set (`sampler`),
every model fine-tuned on it under the same budget (`training`), then scored on the whole test set with the run's
accuracy code (`scoring`). Writes ``samples.json``, ``fewshot.csv`` (a row per model, K and seed),
``fewshot_summary.csv`` (mean and spread over seeds per model and K), ``fewshot.html`` (AP against K) and, under
``train/<K>shot-s<seed>/``, the training folders ``zoo run --trained`` reads."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from zoo.adapt.folder import TrainingFolder, dataset_record, read_json, write_json
from zoo.adapt.page import write_page
from zoo.adapt.sampler import k_shot_ids, subset
from zoo.adapt.scoring import score_checkpoint
from zoo.adapt.training import TrainSettings
from zoo.data import Dataset
from zoo.files import atomic_write

ROW = ("model", "shots", "seed", "status", "map", "map50", "mean_iou", "train_s", "epochs", "from_scratch", "reason")
SUMMARY = ("model", "shots", "map_mean", "map_std", "map50_mean", "map50_std", "mean_iou_mean", "mean_iou_std", "seeds")


def draw_samples(train: Dataset, shots: list[int], seeds: int) -> dict[int, dict[int, list[int]]]:
    """K -> seed -> the sample's image ids; any K a class cannot give is an error before anything trains."""
    return {k: {seed: k_shot_ids(train, k, seed) for seed in range(seeds)} for k in shots}


def run_fewshot(
    entries: list,
    plugins: Any,
    train: Dataset,
    test: Dataset,
    samples: dict[int, dict[int, list[int]]],
    settings: TrainSettings,
    out: Path,
    train_all: Callable[..., list[dict]],
    index: dict[str, Any],
) -> list[dict[str, Any]]:
    """Train and score every model on every sample; the CSVs are rewritten after each sample, so an interrupted
    protocol keeps what finished."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "samples.json", {
        "train": dataset_record(train), "test": dataset_record(test),
        "samples": {str(k): {str(s): ids for s, ids in by_seed.items()} for k, by_seed in samples.items()},
    })  # fmt: skip
    rows: list[dict[str, Any]] = []
    for k, by_seed in samples.items():
        for seed, ids in by_seed.items():
            sample = subset(train, ids, f"{k}-shot seed {seed}")
            folder = TrainingFolder(out / "train" / f"{k}shot-s{seed}")
            trained = train_all(entries, plugins, sample, None, replace(settings, seed=seed), folder,
                                {**index, "dataset": dataset_record(sample), "models": []}, shots=k)  # fmt: skip
            by_id = {entry.id: entry for entry in entries}
            for row in trained:
                rows.append(_score(row, by_id[row["id"]], plugins, folder, test, k, seed, settings.device))
            write_tables(out, rows)
    return rows


def _score(row: dict, entry: Any, plugins: Any, folder: TrainingFolder, test: Dataset, k: int, seed: int,
           device: str) -> dict[str, Any]:  # fmt: skip
    """The fewshot.csv row of one trained model: its accuracy on the whole test set (as ``zoo run`` scores it)."""
    record = {"model": row["id"], "shots": k, "seed": seed, "status": row["status"], "reason": row.get("reason", "")}
    record |= {"epochs": row.get("epochs"), "from_scratch": row.get("from_scratch")}
    record["train_s"] = round(row["minutes"] * 60, 2) if row.get("minutes") is not None else None
    if row["status"] != "ok":
        return record

    manifest = read_json(folder.path / row["id"] / "manifest.json")
    try:
        measured = score_checkpoint(entry, plugins, folder.path / row["id"] / manifest["checkpoint"], test, device)
    except Exception as error:
        return {**record, "status": "failed", "reason": f"scoring failed: {type(error).__name__}: {error}"}
    missing = "; ".join(f"{what}: {why}" for what, why in measured["missing"].items())
    return {**record, **{key: measured[key] for key in ("map", "map50", "mean_iou")}, "reason": missing}


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and K: mean and sample standard deviation over the seeds that finished (std empty with one)."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["shots"]), []).append(row)
    summary = []
    for (model, k), members in groups.items():
        record: dict[str, Any] = {"model": model, "shots": k}
        for key in ("map", "map50", "mean_iou"):
            values = [r[key] for r in members if r.get(key) is not None and math.isfinite(r[key])]
            record[f"{key}_mean"] = statistics.fmean(values) if values else None
            record[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
        record["seeds"] = sum(1 for r in members if r.get("map") is not None)
        summary.append(record)
    return summary


def write_tables(out: Path, rows: list[dict[str, Any]]) -> None:
    """``fewshot.csv``, ``fewshot_summary.csv`` and ``fewshot.html``, each written whole."""

    summary = summarise(rows)
    for name, columns, records in (("fewshot.csv", ROW, rows), ("fewshot_summary.csv", SUMMARY, summary)):
        atomic_write(out / name, _csv(columns, records))
    write_page(out / "fewshot.html", rows, summary)


def _csv(columns: tuple[str, ...], records: list[dict[str, Any]]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if record.get(k) is None else _cell(record[k]) for k in columns})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell; text that starts like a formula gets a leading ' (as leaderboard.csv does)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
