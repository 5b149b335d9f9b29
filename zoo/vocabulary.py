"""Open-vocabulary models: zoo gives them the dataset's category names, times the text encoding once, records the
prompts.

A model with ``open_vocabulary = True`` detects whatever classes it is told by name. After ``load`` the runner calls
`give`: the model's ``set_vocabulary(names, template)`` receives the dataset's category names in order (and the
run's ``--prompt-template``, or None for the model's own default), builds its prompts, encodes them, and sets its
labels to exactly those names — so label ``i`` is category ``i`` and the join by name is exact. Everything about
prompts and chunking lives in the plugin; zoo only passes the names and records what the model reports under one
key of the result, ``prompts``, with the seconds the call took (``text_encoding_s``: the text encoder's cost, paid
once per run since a deployment caches it, and never part of the per-image latency).
"""

from __future__ import annotations

import time
from typing import Any

from zoo.data import Dataset
from zoo.labels import build_label_map
from zoo.model import Model
from zoo.results import ModelResult


def wants(model: Model) -> bool:
    """Whether the model takes its classes by name (``open_vocabulary = True``)."""
    return bool(getattr(model, "open_vocabulary", False))


def give(model: Model, dataset: Dataset, template: str | None, result: ModelResult) -> None:
    """Hand an open-vocabulary model the dataset's category names and record ``result["prompts"]``; a closed-set
    model is left as it is."""
    if not wants(model):
        return
    names = [category.name for category in dataset.categories]
    started = time.perf_counter()
    record = model.set_vocabulary(list(names), template)
    elapsed = time.perf_counter() - started
    if list(model.labels or []) != names:
        raise ValueError("set_vocabulary() must set self.labels to exactly the dataset's category names, in order")
    label_map = build_label_map(model.labels, dataset.categories)
    ids = [category.id for category in dataset.categories]
    if [int(c) for c in label_map.to_category] != ids:
        raise ValueError(
            "two of the dataset's category names are the same after normalising (case, '_', '-', aliases), so an "
            "open-vocabulary label cannot name one category exactly; rename one of them"
        )
    result.prompts = prompts_record(record, template, len(names), elapsed)


def prompts_record(record: dict[str, Any], template: str | None, classes: int, seconds: float) -> dict[str, Any]:
    """What results.json keeps under ``prompts``: the model's own record, the template asked for, the number of
    classes and the text encoding's seconds."""
    return {
        **dict(record or {}),
        "asked_template": template,  # None: the model's own default (its record's "template")
        "classes": classes,
        "text_encoding_s": round(seconds, 6),
    }


def protocol_causes(prompts: dict[str, Any] | None, protocol: dict[str, Any]) -> list[str]:
    """Where an open-vocabulary run's prompts differ from the published protocol (for the reproduction check)."""
    if not prompts:
        return []
    found = []
    wanted, used = protocol.get("prompt_template"), prompts.get("template")
    if wanted is not None and used is not None and used != wanted:
        found.append(f"prompt template {used!r}, where the published protocol uses {wanted!r}")
    chunks = prompts.get("chunks") or 1
    if chunks > 1:
        found.append(f"the class names were split into {chunks} text inputs (chunks), each run over the image")
    if prompts.get("truncated"):
        found.append(f"{len(prompts['truncated'])} prompt(s) were cut to the text encoder's length")
    return found
