"""The items `zoo.testing.check_model` reports, and the checks of the model's answers: each returns
``(status, detail)``, the detail saying what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from zoo import contract
from zoo.data import Category
from zoo.detections import Detections
from zoo.labels import COCO_CLASSES, build_label_map, normalise
from zoo.model import Model, ModelInfo, WeightsCheck

PASS, FAIL, SKIP, WARN = "pass", "fail", "skip", "warn"
SYMBOLS = {PASS: "✓", FAIL: "✗", WARN: "!"}
BATCH = 3
TOLERANCE = 1e-4
WEIGHTS_STATES = ("found", "missing", "none", "corrupt", "unavailable")  # zoo weights shows each

# the items, in the order they are reported
BUILDS, SUPER, LOADS = "builds", "__init__ calls super().__init__()", "loads its weights"
LABELS_SET = "load() sets self.labels"
JOIN, BACKGROUND = "labels join COCO by name", "labels[0] is not a background class"
PREDICTS, ONE_EACH = "predicts", "postprocess returns one zoo.Detections per image"
BOXES, SCORES, LABELS = "boxes are xyxy pixels inside the image", "scores are in [0, 1]", "labels index self.labels"
BATCHED, MIXED = f"a batch of {BATCH} gives the batch-1 output", "a batch of mixed sizes gives the batch-1 output"
REPEATS = "two runs give the same output"
INFO, WEIGHTS = "info() returns zoo.ModelInfo", "check_weights() returns zoo.WeightsCheck"
UNTRAINED_ITEM, NETWORK = "untrained copy builds and predicts", "no network access"
PREDICTION_ITEMS = (PREDICTS, ONE_EACH, BOXES, SCORES, LABELS, BATCHED, MIXED, REPEATS)

Result = tuple[str, str]  # (status, detail)


def raised(where: str, error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{where} raised {type(error).__name__}" + (f": {text}" if text else "")


def call(model: Model, method: str, check: Callable[[Any], Result]) -> Result:
    try:
        value = getattr(model, method)()
    except Exception as error:
        return FAIL, raised(f"{method}()", error)
    return check(value)


def labels_set(model: Model) -> Result:
    if "labels" not in vars(model):
        return FAIL, "load() never assigned self.labels: set a list of names, or None for a class-agnostic model"
    labels = model.labels
    if labels is None:
        return PASS, "None: class-agnostic"
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        return FAIL, f"self.labels is a {type(labels).__name__}: give a list of names (str), or None"
    wrong = next((label for label in labels if not isinstance(label, str)), None)
    if wrong is not None:
        return FAIL, f"self.labels holds {type(wrong).__name__} {wrong!r}: give names (str); index i names label i"
    return PASS, f"{len(labels)} labels"


def label_join(model: Model) -> Result:
    """Which labels join COCO's categories by name, which do not, and through which aliases."""

    if not isinstance(model.labels, Sequence) or isinstance(model.labels, str):
        return SKIP, "class-agnostic: no labels to join" if model.labels is None else "self.labels is not a list"
    categories = [Category(i + 1, name) for i, name in enumerate(COCO_CLASSES)]
    label_map = build_label_map([str(x) for x in model.labels], categories, model.label_aliases)
    aliased = [f"{k}→{v}" for k, v in label_map.mapped.items() if normalise(k) != normalise(v)]
    names = list(label_map.mapped)
    parts = [f"{len(names)} of {len(model.labels)} are COCO names" + (f" ({_few(names)})" if names else "")]
    if label_map.unmapped:
        parts.append(f"not in COCO: {_few(list(dict.fromkeys(label_map.unmapped)))}")
    if aliased:
        parts.append(f"aliases used: {_few(aliased)}")
    return PASS, "; ".join(parts)


def _few(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def background(model: Model) -> Result:

    labels = model.labels
    if not isinstance(labels, Sequence) or isinstance(labels, str) or len(labels) == 0:
        return PASS, ""
    if normalise(str(labels[0])) != "background":
        return PASS, ""
    return WARN, (
        f"labels[0] is {labels[0]!r}, torchvision's numbering: right only if the model's label indices count from 1; "
        "if its classes count from 0, drop it from self.labels"
    )


def boxes(images: list[np.ndarray], detections: list[Detections]) -> Result:
    """`zoo.contract.check_boxes` on each image (the rule a run applies); a box past the edge is a warning."""
    if not any(len(found) for found in detections):
        return PASS, "no boxes to check"
    past = ""
    for index, (image, found) in enumerate(zip(images, detections)):
        height, width = image.shape[:2]
        try:
            _, reaches = contract.check_boxes(found, width, height)
        except contract.ContractError as error:
            return FAIL, f"image {index}: {error}"
        past = past or (f"image {index}: {reaches}" if reaches else "")
    return (WARN, past) if past else (PASS, "")


def scores(detections: list[Detections]) -> Result:
    """`zoo.contract.check_scores` over every image's scores at once, so the detail gives their whole range."""
    every = np.concatenate([found.scores for found in detections]) if detections else np.zeros(0)
    if len(every) == 0:
        return PASS, "no boxes to check"
    try:
        contract.check_scores(Detections(np.zeros((len(every), 4)), every, np.zeros(len(every), int)))
    except contract.ContractError as error:
        return FAIL, str(error)
    return PASS, ""


def labels(model: Model, detections: list[Detections]) -> Result:
    """`zoo.contract.check_labels` on each image."""
    if model.labels is None:
        return SKIP, "class-agnostic: labels are ignored"
    for found in detections:
        try:
            contract.check_labels(found, len(model.labels))
        except contract.ContractError as error:
            return FAIL, str(error)
    return PASS, ""


def compare(first: list[Detections], second: list[Detections], what: str, fix: str) -> Result:
    difference = _difference(first, second, what)
    return (PASS, "") if difference is None else (FAIL, f"{difference}: {fix}")


def _difference(first: list[Detections], second: list[Detections], what: str) -> str | None:
    """How two runs over the same images differ (within `TOLERANCE`, in any order of boxes), or None."""
    for index, (a, b) in enumerate(zip(first, second)):
        if len(a) != len(b):
            return f"image {index}: {len(a)} vs {len(b)} boxes between {what}"
        if not _close(a, b):
            a, b = _sorted(a), _sorted(b)
        if not _close(a, b):
            worst = max(np.abs(a.xyxy - b.xyxy).max(initial=0), np.abs(a.scores - b.scores).max(initial=0))
            return f"image {index}: results differ by up to {worst:.3g} between {what}"
    return None


def mixed(single: list[Detections], batched: list[Detections], sizes: list[tuple[int, int]]) -> Result:
    """Two images of different sizes in one batch. Boxes scaled by the other image's size are a bug; other changes
    come from padding every image to the largest, as torchvision's and transformers' batching do (a warning)."""
    difference = _difference(single, batched, "batch 1 and a batch of two sizes")
    if difference is None:
        return PASS, ""
    for index, (alone, together) in enumerate(zip(single, batched)):
        (height, width), (other_height, other_width) = sizes[index], sizes[1 - index]
        scale = np.array([other_width / width, other_height / height] * 2)
        rescaled = Detections(alone.xyxy * scale, alone.scores, alone.labels)
        if len(alone) and len(alone) == len(together) and _close(_sorted(rescaled), _sorted(together)):
            return FAIL, f"{difference}: scale and clip each image's boxes by its own size, not the batch's"
    return WARN, (
        f"{difference}: padding the batch to its largest image changes what the network sees; zoo scores accuracy "
        "at batch 1, and only --batch throughput runs such batches"
    )


def _close(a: Detections, b: Detections) -> bool:
    return (
        np.allclose(a.xyxy, b.xyxy, rtol=0, atol=TOLERANCE)
        and np.allclose(a.scores, b.scores, rtol=0, atol=TOLERANCE)
        and np.array_equal(a.labels, b.labels)
    )


def _sorted(found: Detections) -> Detections:
    """The boxes in a fixed order (by label, score, then corners), for results that come in another order."""
    order = np.lexsort((*np.round(found.xyxy.T[::-1], 3), -np.round(found.scores, 4), found.labels))
    return Detections(found.xyxy[order], found.scores[order], found.labels[order])


INFO_KINDS: dict[str, tuple[type, ...]] = {
    "num_params": (int,), "input_size": (str,), "weights": (str,), "published_map": (int, float),
    "published_source": (str,), "settings": (dict,), "gflops": (int, float), "versions": (dict,),
}  # fmt: skip
INFO_REQUIRED = ("settings", "versions")  # the fields that may not be None


def info(info: Any) -> Result:
    if not isinstance(info, ModelInfo):
        return FAIL, f"info() returned a {type(info).__name__}: return zoo.ModelInfo(num_params=..., input_size=...)"
    for item in fields(ModelInfo):
        value, kinds = getattr(info, item.name), INFO_KINDS.get(item.name)
        if kinds is None or (value is None and item.name not in INFO_REQUIRED):
            continue
        if not isinstance(value, kinds) or isinstance(value, bool):
            want = " or ".join(kind.__name__ for kind in kinds) + ("" if item.name in INFO_REQUIRED else " or None")
            return FAIL, f"ModelInfo.{item.name} is {type(value).__name__} {value!r:.40}: give {want}"
    if info.published_map is not None and not 0 <= info.published_map <= 1:
        return FAIL, f"ModelInfo.published_map is {info.published_map}: give AP as a fraction in [0, 1]"
    return PASS, ""


def weights_check(check: Any) -> Result:
    if not isinstance(check, WeightsCheck):
        return FAIL, f'check_weights() returned a {type(check).__name__}: return zoo.WeightsCheck("found", location)'
    if check.state not in WEIGHTS_STATES:
        return FAIL, f"state {check.state!r}: give one of {', '.join(WEIGHTS_STATES[:3])}"
    if not isinstance(check.location, str) or not isinstance(check.hint, str):
        return FAIL, "WeightsCheck.location and .hint must be text"
    return PASS, check.state
