"""``zoo run --shards N``: one model's accuracy pass split over N workers, and its parts merged back into one row.

Each part predicts a contiguous run of the dataset's images (a `zoo.settings.Part`); the first part also warms up and
times the model, so speed comes from one worker only. The parts' predictions are merged in dataset order and
scored once (`accuracy.score`), so the accuracy equals an unsharded run's exactly. Between processes a part's
per-image predictions travel as JSON that keeps their dtypes (`encode_scoring`), losslessly.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from typing import Any

import numpy as np

from zoo import reproduction
from zoo.accuracy import score
from zoo.data import Dataset
from zoo.labels import NO_CLASS, LabelMap
from zoo.metrics.localization import ImagePredictions
from zoo.registry import Entry
from zoo.results import ModelRun, Status
from zoo.settings import Part, Settings


def split(count: int, shards: int) -> list[Part]:
    """``shards`` contiguous parts of ``count`` images (fewer when there are fewer images), the first one timed."""
    chunks = np.array_split(np.arange(count), max(1, min(shards, count)))
    return [Part(tuple(int(i) for i in chunk), timed=index == 0) for index, chunk in enumerate(chunks)]


def merge(entry: Entry, dataset: Dataset, settings: Settings, parts: list[ModelRun]) -> ModelRun:
    """One model's row from its parts, in order (the first is the timed one): their predictions merged in dataset
    order and scored once. A part that failed gives the row, naming the part; so do parts that disagree (one
    found no weights where another had them)."""
    for index, part in enumerate(parts):
        if part.result.status.broken:
            return _named(parts, index, part.result.status, part.result.reason)
    timed = parts[0]
    for index, part in enumerate(parts):
        if part.result.status != timed.result.status:
            reason = (
                f"{part.result.status}: {part.result.reason}; but {_where(parts, 0)} says "
                f"{timed.result.status}: give every worker the same weights"
            )
            return _named(parts, index, Status.FAILED, reason)
    if timed.result.status != Status.OK:  # no weights: speed only, from the timed part
        _published(entry, dataset, settings, timed)
        return timed
    run = ModelRun(copy.deepcopy(timed.result), [record for part in parts for record in part.predictions])
    per_image: dict[int, ImagePredictions] = {}
    for part in parts:
        per_image.update(part.scoring[1])  # type: ignore[index]
    labels = run.result.labels
    labels.predictions = len(run.predictions)
    labels.zero_size_boxes = sum(part.result.labels.zero_size_boxes or 0 for part in parts)
    if not labels.class_agnostic:  # counted as the unsharded pass counts them: in image order
        dropped = Counter(r["zoo_label"] for r in run.predictions if r["category_id"] == NO_CLASS)
        labels.dropped = dict(dropped.most_common())
    try:
        score(dataset, settings, run, timed.scoring[0], per_image)  # type: ignore[index]
    except Exception as error:  # never the driver's end: the model's row
        return _named(parts, 0, Status.FAILED, f"scoring the merged parts failed: {type(error).__name__}: {error}")
    _published(entry, dataset, settings, run)
    return run


def _published(entry: Entry, dataset: Dataset, settings: Settings, run: ModelRun) -> None:
    run.result.published = reproduction.published(entry, settings.weights.get(entry.id), run.result)
    run.result.reproduction = reproduction.check(run.result, dataset)


def _named(parts: list[ModelRun], index: int, status: Status, reason: str) -> ModelRun:
    """The row of a model whose part ``index`` decides it: that part's record, the part named in the reason."""
    result = dataclasses.replace(parts[index].result, status=status, reason=f"{_where(parts, index)}: {reason}")
    return ModelRun(result)


def _where(parts: list[ModelRun], index: int) -> str:
    host = parts[index].result.host.hostname if parts[index].result.host else None
    return f"shard {index + 1} of {len(parts)}" + (f" (on {host})" if host else "")


def encode_scoring(scoring: tuple[LabelMap, dict[int, ImagePredictions]] | None) -> dict[str, Any] | None:
    """A part's label map and per-image predictions as JSON-safe data that decodes to equal arrays, dtypes kept."""
    if scoring is None:
        return None
    label_map, per_image = scoring
    return {
        "label_map": {
            "to_category": _array(label_map.to_category),
            "mapped": label_map.mapped,
            "unmapped": label_map.unmapped,
        },
        "per_image": [
            [image_id, _array(p.xyxy), _array(p.scores), _array(p.category_ids)] for image_id, p in per_image.items()
        ],
    }


def decode_scoring(data: dict[str, Any] | None) -> tuple[LabelMap, dict[int, ImagePredictions]] | None:
    if data is None:
        return None
    spec = data["label_map"]
    label_map = LabelMap(_from_array(spec["to_category"]), spec["mapped"], spec["unmapped"])
    per_image = {
        int(image_id): ImagePredictions(int(image_id), _from_array(xyxy), _from_array(scores), _from_array(classes))
        for image_id, xyxy, scores, classes in data["per_image"]
    }
    return label_map, per_image


def _array(values: np.ndarray) -> dict[str, Any]:
    return {"dtype": values.dtype.str, "shape": list(values.shape), "values": values.ravel().tolist()}


def _from_array(data: dict[str, Any]) -> np.ndarray:
    return np.asarray(data["values"], dtype=np.dtype(data["dtype"])).reshape(data["shape"])
