"""Scoring a checkpoint the way ``zoo run --trained`` scores it: the plugin loads the file with the dataset's label
space, every image is predicted at batch 1 through ``Model.predict``, and `zoo.accuracy` scores the predictions —
the same functions as the run's accuracy pass, so the AP a training reports is the AP a run of it measures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.data import Dataset
from zoo.plugins import Plugins
from zoo.registry import Entry, build_model


def score_checkpoint(
    entry: Entry, plugins: Plugins, checkpoint: Path, dataset: Dataset, device: str = "cpu"
) -> dict[str, Any]:
    """``map``, ``map50`` and ``mean_iou`` of the model ``entry`` names with ``checkpoint`` as its weights, on
    ``dataset`` (None where not measured, with the reason under ``missing``)."""
    from zoo import accuracy
    from zoo.runner import ModelRun, Settings, blank_result, no_report

    model = build_model(entry, plugins, str(checkpoint), {})
    model.device = device
    model.load(device)
    run = ModelRun(blank_result(entry))
    sizes: set[tuple[int, int]] = set()
    _, label_map, per_image = accuracy.predict_all(model, dataset, run, no_report, sizes, dataset.images)
    accuracy.score(dataset, Settings(device=device), run, label_map, per_image)
    return summary(run.result)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The three numbers a training and the few-shot table report, from a run's result record."""
    measured = result.get("accuracy") or {}
    coco = measured.get("coco") or {}
    localization = measured.get("localization") or {}
    return {
        "map": coco.get("map"),
        "map50": coco.get("map50"),
        "mean_iou": localization.get("mean_iou"),
        "missing": dict(result.get("missing") or {}),
    }
