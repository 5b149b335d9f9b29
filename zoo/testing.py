"""Checking that a plugin's model keeps zoo's contract, for plugin authors: in their tests with
``zoo.testing.assert_conforms("my-model", plugins_dir=...)`` (or the `zoo.Model` subclass), or ``zoo plugin check``.

`check_model` builds the model, loads it with its own weights (skipped when they are not on this machine; the checks
then run on the untrained copy) and untrained, predicts on a few generated images at batch 1 and batch 3, offline,
and checks each part of the contract: a named item that passes, fails with its fix in one line, warns, or is skipped
with the reason.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from zoo.detections import Detections
from zoo.errors import ZooError
from zoo.model import UNTRAINED, Model, ModelInfo, WeightsCheck, WeightsUnavailable

__all__ = ["CheckItem", "CheckReport", "assert_conforms", "check_model", "default_images"]

PASS, FAIL, SKIP, WARN = "pass", "fail", "skip", "warn"
SYMBOLS = {PASS: "✓", FAIL: "✗", WARN: "!"}
IMAGES = "shapes:count=3,size=160x120,seed=1"
BATCH = 3
TOLERANCE = 1e-4
WEIGHTS_STATES = ("found", "missing", "none", "corrupt", "unavailable")  # zoo weights shows each
NETWORK_FIX = "declare the file in remote_files(); load() must not download"
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

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


@dataclass(frozen=True)
class CheckItem:
    """One check: its name, its status (pass, fail, skip, warn) and its detail — for a failure the fix in one line,
    for a skip why, for a pass or a warning what was found."""

    name: str
    status: str
    detail: str = ""

    def line(self) -> str:
        if self.status == SKIP:
            return f"- {self.name} (skipped: {self.detail})"
        return f"{SYMBOLS[self.status]} {self.name}" + (f" — {self.detail}" if self.detail else "")


@dataclass
class CheckReport:
    """What `check_model` found: ``ok`` when no check failed (warnings and skips do not fail a model)."""

    model: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.status != FAIL for item in self.items)

    @property
    def failures(self) -> list[CheckItem]:
        return [item for item in self.items if item.status == FAIL]

    def item(self, name: str) -> CheckItem:
        """The item called ``name`` (KeyError when there is none)."""
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)

    def lines(self) -> list[str]:
        return [item.line() for item in self.items]

    def add(self, name: str, status: str, detail: str = "") -> None:
        self.items.append(CheckItem(name, status, detail))

    def __str__(self) -> str:
        return "\n".join([self.model, *(f"  {line}" for line in self.lines())])


def check_model(
    model_id_or_class: str | type[Model],
    *,
    plugins_dir: str | Path | Sequence[str | Path] | None = None,
    weights: str | None = None,
    options: Mapping[str, Any] | None = None,
    images: Sequence[np.ndarray] | None = None,
) -> CheckReport:
    """Check a model against zoo's contract; see the module's docstring.

    ``model_id_or_class``: a model id (a catalogue entry or a model a plugin registers; ``plugins_dir`` adds plugin
    folders) or a `zoo.Model` subclass. ``weights``: the trained weights to load (default: the model's own);
    ``options``: keyword arguments of its ``__init__``; ``images``: RGB ``uint8`` images to predict on (default:
    `default_images`). An unknown id is a `ZooError`.
    """
    from zoo.offline import offline

    name, make = _maker(model_id_or_class, plugins_dir, dict(options or {}))
    report = CheckReport(name)
    attempts: list[str] = []
    with offline(True), _watch_network(attempts):
        _Checker(report, make, weights, list(images) if images is not None else default_images()).run()
    if attempts:
        report.add(NETWORK, FAIL, f"tried to reach {attempts[0]}: {NETWORK_FIX}")
    else:
        report.add(NETWORK, PASS)
    return report


def assert_conforms(model_id_or_class: str | type[Model], **kwargs: Any) -> CheckReport:
    """`check_model` for pytest: raises AssertionError listing every check when one fails."""
    report = check_model(model_id_or_class, **kwargs)
    if not report.ok:
        raise AssertionError(f"{report.model} does not keep zoo's model contract:\n" + "\n".join(report.lines()))
    return report


def default_images() -> list[np.ndarray]:
    """Three ``shapes`` images of 160x120, with one of an odd size (203x97) second."""
    from zoo.data import load_dataset
    from zoo.data.shapes import draw_image

    images = [record.load() for record in load_dataset(IMAGES).images]
    return [images[0], draw_image(0, (203, 97), 2), *images[1:]]


Make = Callable[[Any], Model]


def _maker(target: str | type[Model], plugins_dir: Any, options: dict[str, Any]) -> tuple[str, Make]:
    """The model's name, and how to build it with given weights (None: its own)."""
    if isinstance(target, type):
        if not issubclass(target, Model):
            raise ZooError(f"{target.__name__} is not a zoo.Model subclass")
        return target.name or target.__name__, lambda weights: target(weights=weights, **options)
    from zoo.plugins import load_plugins
    from zoo.registry import build_catalogue, build_model, load_registry, select

    dirs = [] if plugins_dir is None else [plugins_dir] if isinstance(plugins_dir, (str, Path)) else plugins_dir
    plugins = load_plugins(list(dirs))
    catalogue = build_catalogue(load_registry(), plugins)
    if target not in catalogue:
        try:
            select(target, catalogue, plugins.problems)  # the unknown-id error: closest ids, plugins that failed
            message = f"{target}: not a model id; zoo models lists them"
        except ZooError as error:
            message = str(error).removeprefix("--models ")
        raise ZooError(message)
    entry = catalogue[target]
    return target, lambda weights: build_model(entry, plugins, weights, options)


@contextlib.contextmanager
def _watch_network(attempts: list[str]) -> Iterator[None]:
    """Record every connection and name lookup (the offline guard beneath refuses them), even one a model catches."""
    saved = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def watch(original: Callable[..., Any], method: bool) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            if not method or args[0].family != getattr(socket, "AF_UNIX", None):
                attempts.append(str(args[1] if method else args[0]))
            return original(*args, **kwargs)

        return watched

    socket.socket.connect, socket.socket.connect_ex = watch(saved[0], True), watch(saved[1], True)  # type: ignore
    socket.getaddrinfo = watch(saved[2], False)  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved  # type: ignore[method-assign]


class _StepFailed(Exception):
    """A step of prediction raised, or postprocess returned the wrong thing: which item fails, and how."""

    def __init__(self, item: str, detail: str) -> None:
        super().__init__(detail)
        self.item, self.detail = item, detail


def _raised(where: str, error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{where} raised {type(error).__name__}" + (f": {text}" if text else "")


def _predict(model: Model, images: list[np.ndarray]) -> list[Detections]:
    """preprocess, forward and postprocess on one batch, without zoo's interface check (the checks here say more)."""
    value: Any = images
    for step in ("preprocess", "forward", "postprocess"):
        try:
            value = getattr(model, step)(*((value, images) if step == "postprocess" else (value,)))
            value = list(value) if step == "postprocess" else value
        except Exception as error:
            raise _StepFailed(PREDICTS, _raised(f"{step}()", error)) from error
    if len(value) != len(images):
        raise _StepFailed(ONE_EACH, f"{len(value)} results for {len(images)} images: return one per image, in order")
    wrong = next((item for item in value if not isinstance(item, Detections)), None)
    if wrong is not None:
        raise _StepFailed(ONE_EACH, f"got {type(wrong).__name__}: return zoo.Detections(xyxy, scores, labels)")
    return value


@dataclass
class _Checker:
    report: CheckReport
    make: Make
    weights: str | None
    images: list[np.ndarray]

    def run(self) -> None:
        model = self._build(self.weights, BUILDS)
        if model is None:
            return
        fix = "call super().__init__(weights=weights) in __init__ (it sets self.weights)"
        self.report.add(SUPER, *((PASS, "") if "weights" in vars(model) else (FAIL, fix)))
        subject = self._load(model, LOADS)
        own_weights = subject is not None
        if not own_weights:
            subject = self._untrained()
            if subject is not None:
                self.report.add(UNTRAINED_ITEM, PASS, "the checks below ran on it")
        if subject is None:
            self.report.add(PREDICTS, SKIP, "no copy of the model could be loaded")
        else:
            self.report.add(LABELS_SET, *_labels_set(subject))
            self.report.add(JOIN, *_label_join(subject))
            self.report.add(BACKGROUND, *_background(subject))
            self._predictions(subject)
            self.report.add(INFO, *_call(subject, "info", _info))
        copy = self._build(self.weights, WEIGHTS)  # as `zoo weights` calls it: on a copy that is not loaded
        if copy is not None:
            self.report.add(WEIGHTS, *_call(copy, "check_weights", _weights_check))
        if own_weights and self.weights == UNTRAINED:
            self.report.add(UNTRAINED_ITEM, PASS, "the checks above ran on it")
        elif own_weights:
            self._untrained_item()

    def _build(self, weights: str | None, item: str) -> Model | None:
        try:
            model = self.make(weights)
        except ZooError:
            raise
        except Exception as error:
            fix = "__init__ must take weights= and the options as keyword arguments"
            self.report.add(item, FAIL, f"{_raised('__init__()', error)}; {fix}")
            return None
        if item == BUILDS:
            self.report.add(item, PASS)
        return model

    def _load(self, model: Model, item: str) -> Model | None:
        model.device = "cpu"
        try:
            model.load("cpu")
        except WeightsUnavailable as error:
            why = " ".join(str(error).split())
            self.report.add(item, SKIP, "weights not on this machine" + (f": {why}" if why else ""))
            return None
        except Exception as error:
            self.report.add(item, FAIL, _raised("load()", error))
            return None
        self.report.add(item, PASS)
        return model

    def _untrained(self) -> Model | None:
        """The untrained copy, loaded; its item is added when it fails or has no untrained form."""
        model = self._build(UNTRAINED, UNTRAINED_ITEM)
        if model is None:
            return None
        model.device = "cpu"
        try:
            model.load("cpu")
        except ValueError as error:  # zoo's convention: a model with no untrained form (a cascade OpenCV ships)
            self.report.add(UNTRAINED_ITEM, SKIP, f"no untrained form: {' '.join(str(error).split())}")
            return None
        except Exception as error:
            fix = "weights=zoo.UNTRAINED must build the architecture with random weights, without any file"
            self.report.add(UNTRAINED_ITEM, FAIL, f"{_raised('load()', error)}; {fix}")
            return None
        return model

    def _untrained_item(self) -> None:
        model = self._untrained()
        if model is None:
            return
        images = self.images[:1]
        try:
            detections = _predict(model, images)
        except _StepFailed as failed:
            self.report.add(UNTRAINED_ITEM, FAIL, failed.detail)
            return
        results = [_boxes(images, detections), _scores(detections), _labels(model, detections)]
        failed = next((result for result in results if result[0] == FAIL), None)
        self.report.add(UNTRAINED_ITEM, *(failed or (PASS, "")))

    def _predictions(self, model: Model) -> None:
        """Every image at batch 1, twice; a batch of same-sized images; a batch of two sizes."""
        images, by_size = self.images, {}
        for index, image in enumerate(images):
            by_size.setdefault(image.shape[:2], []).append(index)
        same = max(by_size.values(), key=len)[:BATCH]
        mixed = [group[0] for group in by_size.values()][:2]
        try:
            single = [_predict(model, [image])[0] for image in images]
            batched = _predict(model, [images[i] for i in same])
            mixed_out = _predict(model, [images[i] for i in mixed]) if len(mixed) > 1 else None
            again = [_predict(model, [image])[0] for image in images]
        except _StepFailed as failed:
            done = PREDICTION_ITEMS.index(failed.item)
            for name in PREDICTION_ITEMS[:done]:
                self.report.add(name, PASS)
            self.report.add(failed.item, FAIL, failed.detail)
            for name in PREDICTION_ITEMS[done + 1 :]:
                self.report.add(name, SKIP, f"'{failed.item}' failed")
            return
        self.report.add(PREDICTS, PASS)
        self.report.add(ONE_EACH, PASS)
        self.report.add(BOXES, *_boxes(images, single))
        self.report.add(SCORES, *_scores(single))
        self.report.add(LABELS, *_labels(model, single))
        fix = "an image's result must not depend on the rest of its batch: no batch-wide normalisation or sampling"
        self.report.add(BATCHED, *_compare([single[i] for i in same], batched, f"batch 1 and batch {len(same)}", fix))
        if mixed_out is None:
            self.report.add(MIXED, SKIP, "the images are all of one size")
        else:
            sizes = [images[i].shape[:2] for i in mixed]
            self.report.add(MIXED, *_mixed([single[i] for i in mixed], mixed_out, sizes))
        fix = "make inference deterministic: module.eval(), no dropout or random sampling, fixed seeds"
        self.report.add(REPEATS, *_compare(single, again, "two runs", fix))


def _call(model: Model, method: str, check: Callable[[Any], Result]) -> Result:
    try:
        value = getattr(model, method)()
    except Exception as error:
        return FAIL, _raised(f"{method}()", error)
    return check(value)


def _labels_set(model: Model) -> Result:
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


def _label_join(model: Model) -> Result:
    """Which labels join COCO's categories by name, which do not, and through which aliases."""
    from zoo.data import Category
    from zoo.labels import build_label_map, normalise

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


def _background(model: Model) -> Result:
    from zoo.labels import normalise

    labels = model.labels
    if not isinstance(labels, Sequence) or isinstance(labels, str) or len(labels) == 0:
        return PASS, ""
    if normalise(str(labels[0])) != "background":
        return PASS, ""
    return WARN, (
        f"labels[0] is {labels[0]!r}, torchvision's numbering: right only if the model's label indices count from 1; "
        "if its classes count from 0, drop it from self.labels"
    )


def _boxes(images: list[np.ndarray], detections: list[Detections]) -> Result:
    every = [d.xyxy for d in detections if len(d)]
    if not every:
        return PASS, "no boxes to check"
    if float(np.concatenate(every).max()) <= 1.0 and min(min(image.shape[:2]) for image in images) > 16:
        return FAIL, "every box lies within 0..1: give pixels of the original image (multiply by width and height)"
    for index, (image, found) in enumerate(zip(images, detections)):
        height, width = image.shape[:2]
        x1, y1, x2, y2 = found.xyxy.T
        reversed_ = np.flatnonzero((x2 < x1) | (y2 < y1))
        if len(reversed_):
            box = found.xyxy[reversed_[0]].round(1).tolist()
            return FAIL, f"image {index}: box {box} has x2 < x1 or y2 < y1: give x1, y1, x2, y2 (not x, y, w, h)"
        outside = np.flatnonzero((x1 < -1) | (y1 < -1) | (x2 > width + 1) | (y2 > height + 1))
        if len(outside):
            box = found.xyxy[outside[0]].round(1).tolist()
            return FAIL, (
                f"image {index} ({width}x{height}): box {box} is outside it: scale boxes to the original image's "
                "pixels and clip them to 0..width, 0..height"
            )
    return PASS, ""


def _scores(detections: list[Detections]) -> Result:
    scores = np.concatenate([d.scores for d in detections]) if detections else np.zeros(0)
    if len(scores) == 0:
        return PASS, "no boxes to check"
    low, high = float(scores.min()), float(scores.max())
    if low < 0 or high > 1:
        return FAIL, f"scores run from {low:.3g} to {high:.3g}: give confidences in [0, 1] (a sigmoid or softmax)"
    return PASS, ""


def _labels(model: Model, detections: list[Detections]) -> Result:
    if model.labels is None:
        return SKIP, "class-agnostic: labels are ignored"
    count = len(model.labels)
    for found in detections:
        bad = found.labels[(found.labels < 0) | (found.labels >= count)]
        if len(bad):
            return FAIL, (
                f"label {int(bad[0])} is outside self.labels (0..{count - 1}): labels index self.labels from 0 "
                "(torchvision's count from 1: keep its '__background__' at 0, or subtract 1)"
            )
    return PASS, ""


def _compare(first: list[Detections], second: list[Detections], what: str, fix: str) -> Result:
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


def _mixed(single: list[Detections], batched: list[Detections], sizes: list[tuple[int, int]]) -> Result:
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


def _info(info: Any) -> Result:
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


def _weights_check(check: Any) -> Result:
    if not isinstance(check, WeightsCheck):
        return FAIL, f'check_weights() returned a {type(check).__name__}: return zoo.WeightsCheck("found", location)'
    if check.state not in WEIGHTS_STATES:
        return FAIL, f"state {check.state!r}: give one of {', '.join(WEIGHTS_STATES[:3])}"
    if not isinstance(check.location, str) or not isinstance(check.hint, str):
        return FAIL, "WeightsCheck.location and .hint must be text"
    return PASS, check.state
