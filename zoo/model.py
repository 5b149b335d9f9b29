"""`Model`: the one interface every plugin implements — load once, then predict batches of RGB images.

A plugin author writes three small steps — ``preprocess``, ``forward``, ``postprocess`` — and zoo times each one
the same way for every model (device synchronised around every timer), so the speed split is comparable.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from zoo.contract import check_outputs
from zoo.detections import Detections
from zoo.device import synchronize
from zoo.fetch.remote import RemoteFile

UNTRAINED = "untrained"
"""The ``weights`` value that asks for the architecture with random weights (zoo uses it to time a model whose
weights are missing)."""


class WeightsUnavailable(Exception):
    """Raised by `Model.load` when the weights are not on this machine; say where you looked and what to put where."""


@dataclass(frozen=True)
class WeightsCheck:
    """Where a model looks for its weights and what it found there, without loading them."""

    state: str  # "found", "missing", or "none" (the model has no weights to load)
    location: str = ""  # the file or folder looked at
    hint: str = ""  # what to put where when missing


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is: recorded beside every number it produces."""

    num_params: int | None = None
    input_size: str | None = None  # e.g. "320x320", "shorter side 800 (max 1333)"
    weights: str | None = None  # identity of what was loaded: enum name, file and hash, hub id
    published_map: float | None = None  # the COCO val2017 box AP its authors publish for these weights, 0..1
    published_source: str | None = None  # where that number comes from
    settings: dict[str, Any] = field(default_factory=dict)  # what the library was told: score threshold, NMS, ...
    # GFLOPs of one forward pass, for a model torch's flop counter cannot see (ONNX Runtime, OpenCV, an endpoint);
    # where the counter sees operations its count is kept, and a declared value more than 10% off is noted
    gflops: float | None = None
    versions: dict[str, str] = field(default_factory=dict)  # the runtime that runs it: {"onnxruntime": "1.20.1"}


@dataclass(frozen=True)
class StageTimes:
    """Seconds spent on one batch in each step of `Model.predict`."""

    preprocess: float
    inference: float
    postprocess: float

    @property
    def total(self) -> float:
        return self.preprocess + self.inference + self.postprocess


@dataclass(frozen=True)
class Prediction:
    """The result of one `Model.predict` call: one `Detections` per input image, and the time each step took."""

    detections: list[Detections]
    times: StageTimes
    zero_size: int = 0  # boxes of zero width or height (clipped at the edge): kept, and scored like any other box


class Model:
    """Base class of every model in the zoo.

    Subclass it, set the class attributes, implement ``load``, ``forward`` and ``postprocess`` (and ``preprocess``
    when the model needs one), then register the class from your plugin's ``register_models`` hook. Options from
    ``registry.yaml`` arrive as keyword arguments of ``__init__``.

    A model zoo can train (``zoo train ID``) also has a classmethod ``train(dataset, *, class_name, epochs, minutes,
    imgsz, out, seed, device, console) -> Path`` that trains on a `zoo.data.Dataset` and returns the checkpoint it
    wrote. A model ``zoo train --models`` can fine-tune on a dataset's classes has ``finetune(session) ->
    zoo.adapt.training.Finetuned`` (its library's own training; see `zoo.adapt.training.Session`), and its
    ``weights`` then accepts the checkpoint it wrote; a model that cannot says why in ``finetune_unsupported``.
    """

    name: ClassVar[str] = ""  # the id users select it by
    family: ClassVar[str] = ""  # rcnn, fast-rcnn, faster-rcnn, ssd, yolo, detr, regressor, ...
    framework: ClassVar[str] = ""  # the library that runs it: torchvision, ultralytics, transformers, numpy, ...
    description: ClassVar[str] = ""
    label_aliases: ClassVar[Mapping[str, str]] = {}  # extra "model label" -> "dataset category" names
    open_vocabulary: ClassVar[bool] = False  # detects the classes it is given by name: zoo calls set_vocabulary

    labels: Sequence[str] | None = None
    """The label space, set by ``load``: ``labels[i]`` names what label ``i`` means. ``None``: class-agnostic."""

    device: str = "cpu"
    """Where the model runs ("cpu", "cuda", "cuda:1", "mps"); set by zoo before ``load``."""

    threads: int | None = None
    """The run's CPU thread count (``zoo run --threads N``), set by zoo before ``load``; None: the library's default.
    Use it for your runtime's intra-op threads (onnxruntime's ``SessionOptions.intra_op_num_threads``, OpenCV's
    ``cv2.setNumThreads``); zoo sets torch's itself."""

    def __init__(self, *, weights: str | None = None) -> None:
        self.weights = weights
        self._model_init = True  # `zoo plugin check` looks for it: a subclass's __init__ called this one

    # -- what a plugin implements ------------------------------------------------------------------------------

    def load(self, device: str) -> None:
        """Load the weights onto ``device`` ("cpu", "cuda", "cuda:1", "mps") and set ``self.labels``.

        Raise `WeightsUnavailable` when the weights are not on this machine; never use the network (zoo fetches
        what ``remote_files`` declares before ``load`` runs).
        ``self.weights == UNTRAINED`` asks for the architecture with random weights.
        """

    def preprocess(self, images: list[np.ndarray]) -> Any:
        """Turn RGB ``uint8 (H, W, 3)`` images into the model's input. Default: pass them through."""
        return images

    def forward(self, batch: Any) -> Any:
        """Run the network on a preprocessed batch."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def postprocess(self, outputs: Any, images: list[np.ndarray]) -> list[Detections]:
        """Turn raw outputs into one `Detections` per image, in the original image's pixels, at confidence 0."""
        raise NotImplementedError(f"{type(self).__name__} does not implement postprocess()")

    def info(self) -> ModelInfo:
        """Describe the loaded model: parameters, native input size, the identity of its weights."""
        return ModelInfo(weights=self.weights)

    def check_weights(self) -> WeightsCheck:
        """Say where the weights would be loaded from and whether they are there, without loading them."""
        return WeightsCheck("none", hint="this model has no weights to load")

    def remote_files(self) -> list[RemoteFile]:
        """The files ``load`` reads that can be fetched from the network (the official weights), or ``[]``.

        zoo fetches the missing ones before it measures the model (``zoo run``, ``zoo pull``), and checks every one
        against its size and sha256 before ``load`` may read it. Declare them only for the weights ``self.weights``
        names: a user's own file (``--weights ID=PATH``) or ``untrained`` needs nothing fetched."""
        return []

    def set_score_threshold(self, conf: float) -> bool:
        """Apply the score threshold ``conf`` (0..1) through the library's own mechanism, keeping the NMS and the
        maximum detections used for accuracy; return True once it is applied, False when the model has none to set.

        zoo calls it after the accuracy pass, before it times the model at the deployment setting (``zoo run
        --speed-conf``, default 0.25): the predictions made then are never scored. Apply it where the library applies
        its threshold (before decoding and NMS), so the work it saves is really saved. Default: False, and the model
        is timed as it was for accuracy."""
        return False

    def set_vocabulary(self, names: Sequence[str], template: str | None) -> dict[str, Any]:
        """An open-vocabulary model (``open_vocabulary = True``) learns the dataset's classes here.

        zoo calls it once, after ``load`` and before the first ``predict``, with the dataset's category names in
        order and the run's ``--prompt-template`` (``None``: the model's own default, e.g. "a photo of a {}"). Build
        the prompts, encode them with the text encoder and keep what a deployment would cache (zoo times this call
        and reports it as the run's text encoding, apart from the per-image latency); set ``self.labels =
        list(names)``, so label ``i`` is the dataset's category ``names[i]``. Return what to record: at least
        ``{"template": ..., "prompts": [...]}``, plus the model's own settings (chunks, thresholds)."""
        raise NotImplementedError(f"{type(self).__name__} is open_vocabulary but does not implement set_vocabulary()")

    # -- what zoo provides ---------------------------------------------------------------------------------------

    def predict(self, images: list[np.ndarray]) -> Prediction:
        """Detect objects in a batch of RGB images, timing each step with the device synchronised."""
        synchronize(self.device)
        t0 = time.perf_counter()
        batch = self.preprocess(images)
        synchronize(self.device)
        t1 = time.perf_counter()
        outputs = self.forward(batch)
        synchronize(self.device)
        t2 = time.perf_counter()
        detections = list(self.postprocess(outputs, images))
        synchronize(self.device)
        t3 = time.perf_counter()
        checked, zero_size = self._checked(detections, images)
        return Prediction(checked, StageTimes(t1 - t0, t2 - t1, t3 - t2), zero_size)

    def _checked(self, detections: list[Detections], images: list[np.ndarray]) -> tuple[list[Detections], int]:
        """The output contract (`zoo.contract`, the rules ``zoo plugin check`` reports too), on every call: one
        `Detections` per image, each valid for its image and the label space; returns them, and how many of their
        boxes have zero width or height. A broken rule raises `zoo.contract.ContractError` (a ValueError)."""
        checked = check_outputs(detections, images, None if self.labels is None else len(self.labels))
        return checked.detections, checked.zero_size

    @classmethod
    def option_names(cls) -> list[str] | None:
        """The options ``__init__`` accepts besides ``weights`` (None: any), for checking ``registry.yaml``."""
        params = inspect.signature(cls.__init__).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in params if p.name not in ("self", "weights") and p.kind in named]
