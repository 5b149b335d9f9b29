"""Scoring a checkpoint the way ``zoo run --trained`` scores it: the plugin loads the file with the dataset's label
space, every image is predicted at batch 1 through ``Model.predict``, and `zoo.accuracy` scores the predictions —
the same functions as the run's accuracy pass, so the AP a training reports is the AP a run of it measures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo import accuracy
from zoo.data import Dataset
from zoo.plugins import Plugins
from zoo.registry import Entry, build_model
from zoo.results import ModelResult, ModelRun
from zoo.runner import blank_result
from zoo.settings import Settings, no_report


def score_checkpoint(
    entry: Entry, plugins: Plugins, checkpoint: Path, dataset: Dataset, device: str = "cpu"
) -> dict[str, Any]:
    """``map``, ``map50`` and ``mean_iou`` of the model ``entry`` names with ``checkpoint`` as its weights, on
    ``dataset`` (None where not measured, with the reason under ``missing``)."""
    import torch

    with torch.random.fork_rng(devices=[]):  # building the model draws random numbers: not the training's
        model = build_model(entry, plugins, str(checkpoint), {})
        model.device = device
        model.load(device)
        run = ModelRun(blank_result(entry))
        sizes: set[tuple[int, int]] = set()
        _, label_map, per_image = accuracy.predict_all(model, dataset, run, no_report, sizes, dataset.images)
    accuracy.score(dataset, Settings(device=device), run, label_map, per_image)
    return summary(run.result)


def summary(result: ModelResult) -> dict[str, Any]:
    """The three numbers a training and the few-shot table report, from a run's result."""
    measured = result.accuracy
    return {
        "map": measured.coco.map if measured.coco else None,
        "map50": measured.coco.map50 if measured.coco else None,
        "mean_iou": measured.localization.mean_iou if measured.localization else None,
        "missing": dict(result.missing),
    }
