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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo import contract
from zoo.data import load_dataset
from zoo.data.shapes import draw_image
from zoo.detections import Detections
from zoo.errors import ZooError
from zoo.model import UNTRAINED, Model, WeightsUnavailable
from zoo.offline import offline
from zoo.plugins import load_plugins
from zoo.registry import build_catalogue, build_model, load_registry, select
from zoo.testing import checks
from zoo.testing.checks import (
    BACKGROUND,
    BATCH,
    BATCHED,
    BOXES,
    BUILDS,
    FAIL,
    INFO,
    JOIN,
    LABELS,
    LABELS_SET,
    LOADS,
    MIXED,
    NETWORK,
    ONE_EACH,
    PASS,
    PREDICTION_ITEMS,
    PREDICTS,
    REPEATS,
    SCORES,
    SKIP,
    SUPER,
    SYMBOLS,
    UNTRAINED_ITEM,
    WARN,
    WEIGHTS,
    Result,
)

__all__ = [
    "BACKGROUND",
    "FAIL",
    "PASS",
    "SKIP",
    "WARN",
    "CheckItem",
    "CheckReport",
    "Result",
    "assert_conforms",
    "check_model",
    "default_images",
]

IMAGES = "shapes:count=3,size=160x120,seed=1"
NETWORK_FIX = "declare the file in remote_files(); load() must not download"


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

    images = [record.load() for record in load_dataset(IMAGES).images]
    return [images[0], draw_image(0, (203, 97), 2), *images[1:]]


Make = Callable[[Any], Model]


def _maker(target: str | type[Model], plugins_dir: Any, options: dict[str, Any]) -> tuple[str, Make]:
    """The model's name, and how to build it with given weights (None: its own)."""
    if isinstance(target, type):
        if not issubclass(target, Model):
            raise ZooError(f"{target.__name__} is not a zoo.Model subclass")
        return target.name or target.__name__, lambda weights: target(weights=weights, **options)

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


def _predict(model: Model, images: list[np.ndarray]) -> list[Detections]:
    """preprocess, forward and postprocess on one batch, and the contract's count rule; the per-image rules are
    reported item by item (`checks.boxes`, `checks.scores`, `checks.labels`)."""
    value: Any = images
    for step in ("preprocess", "forward", "postprocess"):
        try:
            value = getattr(model, step)(*((value, images) if step == "postprocess" else (value,)))
            value = list(value) if step == "postprocess" else value
        except Exception as error:
            raise _StepFailed(PREDICTS, checks.raised(f"{step}()", error)) from error
    try:
        return contract.check_count(value, len(images))
    except contract.ContractError as error:
        raise _StepFailed(ONE_EACH, str(error)) from None


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
        fix = "call super().__init__(weights=weights) in __init__ (it sets self.weights and what zoo adds later)"
        self.report.add(SUPER, *((PASS, "") if vars(model).get("_model_init") else (FAIL, fix)))
        subject = self._load(model, LOADS)
        own_weights = subject is not None
        if not own_weights:
            subject = self._untrained()
            if subject is not None:
                self.report.add(UNTRAINED_ITEM, PASS, "the checks below ran on it")
        if subject is None:
            self.report.add(PREDICTS, SKIP, "no copy of the model could be loaded")
        else:
            self.report.add(LABELS_SET, *checks.labels_set(subject))
            self.report.add(JOIN, *checks.label_join(subject))
            self.report.add(BACKGROUND, *checks.background(subject))
            self._predictions(subject)
            self.report.add(INFO, *checks.call(subject, "info", checks.info))
        copy = self._build(self.weights, WEIGHTS)  # as `zoo weights` calls it: on a copy that is not loaded
        if copy is not None:
            self.report.add(WEIGHTS, *checks.call(copy, "check_weights", checks.weights_check))
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
            self.report.add(item, FAIL, f"{checks.raised('__init__()', error)}; {fix}")
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
            self.report.add(item, FAIL, checks.raised("load()", error))
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
            self.report.add(UNTRAINED_ITEM, FAIL, f"{checks.raised('load()', error)}; {fix}")
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
        results = [checks.boxes(images, detections), checks.scores(detections), checks.labels(model, detections)]
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
        self.report.add(BOXES, *checks.boxes(images, single))
        self.report.add(SCORES, *checks.scores(single))
        self.report.add(LABELS, *checks.labels(model, single))
        fix = "an image's result must not depend on the rest of its batch: no batch-wide normalisation or sampling"
        first = [single[i] for i in same]
        self.report.add(BATCHED, *checks.compare(first, batched, f"batch 1 and batch {len(same)}", fix))
        if mixed_out is None:
            self.report.add(MIXED, SKIP, "the images are all of one size")
        else:
            sizes = [images[i].shape[:2] for i in mixed]
            self.report.add(MIXED, *checks.mixed([single[i] for i in mixed], mixed_out, sizes))
        fix = "make inference deterministic: module.eval(), no dropout or random sampling, fixed seeds"
        self.report.add(REPEATS, *checks.compare(single, again, "two runs", fix))
