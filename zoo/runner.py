"""Running one model over the shared dataset: load, predict every image, score, time — the same way for all.

The protocol, recorded with every result:
- the cold start: load time, and the first call after loading; then up to ``warmup`` untimed calls (as many as fit
  in a quarter of ``speed_budget``);
- predictions at batch 1 and confidence 0 (the lowest threshold each library allows), on every image;
- latency at the deployment setting: the model applies ``speed_conf`` through its library's own threshold
  (``Model.set_score_threshold``; with 0, or a model that cannot, the accuracy pass's calls are samples too), then
  batch-1 calls cycle the images until the 95% interval of the median latency is within ``speed_precision`` of the
  median (6 samples at least), ``iters`` samples, or until a next call would not fit in what is left of
  ``speed_budget`` (there is always one sample); the first call at an image size not seen before is that size's
  warm-up, not a sample;
- throughput at ``batch`` images per call over ``batch_calls`` timed calls, after one untimed one, with what is left
  of the budget; skipped, with the reason, when the untimed and one timed batch would not fit;
- COCO AP from all predictions; localization IoU from predictions scoring at least ``iou_conf``;
- FLOPs counted on an untimed call the protocol makes anyway (`zoo.flops`), or on a pass of their own after timing
  when one fits in what is left of ``speed_budget`` (else missing, with why).
A model whose weights are missing — or whose declared files fail their size or sha256 check, and are then never
loaded — is timed on an untrained copy and gets no accuracy.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import numpy as np

from zoo import accuracy, fetch, reproduction, robustness, runtimes, timing, vocabulary
from zoo.data import Dataset
from zoo.device import PeakMemory
from zoo.errors import ZooError
from zoo.flops import CATALOGUE, CATALOGUE_IMAGE, DECLARED, FlopCall
from zoo.model import UNTRAINED, Model, StageTimes, WeightsUnavailable
from zoo.plugins import Plugins
from zoo.registry import Entry, accepts_option, build_model
from zoo.results import Info, Memory, ModelResult, ModelRun, Status
from zoo.settings import Part, Report, Settings, no_report
from zoo.weights import declared_files


def evaluate(
    entry: Entry,
    dataset: Dataset,
    plugins: Plugins,
    settings: Settings,
    report: Report = no_report,
    part: Part | None = None,
) -> ModelRun:
    """Run one catalogue entry end to end (or one `Part` of it); any failure becomes the row's status and reason,
    never an exception."""
    result = blank_result(entry)
    run = ModelRun(result)
    dataset = dataset.decoded_ahead()  # before the memory reading: the kept pixels are zoo's, not the model's
    weights = settings.weights.get(entry.id)
    memory = PeakMemory(settings.device)
    clocks = _Clocks()
    try:
        with memory:
            report("loading", 0, None)
            with clocks.phase("load"):
                model = load_entry(entry, plugins, settings, weights, result)
            if model is None:
                return run
            if vocabulary.wants(model):  # an open-vocabulary model: the dataset's names, encoded once
                with clocks.phase("text_encoding"):
                    _step(result, "text encoding", vocabulary.give, model, dataset, settings.prompt_template, result)
            clocks.count_calls(model)
            flops = FlopCall(model)  # FLOPs counted on the first untimed call after the cold start (`zoo.flops`)
            first = dataset.images[0].load()
            budget = timing.Budget(settings.speed_budget)  # for timing on top of the first call and the accuracy pass
            with clocks.phase("warm_up"):  # the first call is the cold start
                warmup_calls, result.first_call_s = _step(
                    result, "predict", timing.warm_up, model, first, settings, report, budget
                )
            with clocks.phase("describe"):
                declared = _describe(model, result)
            sizes = {(dataset.images[0].width, dataset.images[0].height)}  # warmed up; other sizes warm on first use
            latency: list[StageTimes] = []
            if not _accuracy_samples_dropped(model, settings):
                flops.disarm()  # the accuracy pass's calls are latency samples: none of them is counted
            if result.untrained:
                result.missing["accuracy"] = "weights missing: speed measured on an untrained copy"
            else:
                latency = _accuracy_pass(model, dataset, settings, run, report, sizes, part, clocks)
                flops.drop_sample(latency)
            flops.disarm()  # from here on every call is timed
            if part is None or part.timed:
                with clocks.phase("speed"):
                    result.speed, skipped = _step(
                        result, "timing", timing.time_speed, model, dataset, settings, latency, report, warmup_calls,
                        budget, sizes,
                    )  # fmt: skip
                if skipped:
                    result.missing["throughput_batch"] = skipped
            with clocks.phase("describe"):
                _count_apart(flops, first, budget, result)
                _record_flops(flops, declared, entry, result)
        if part is None:
            result.published = reproduction.published(entry, weights, result)
            result.reproduction = reproduction.check(result, dataset)
    except StepFailed:
        pass
    finally:
        result.memory = Memory.from_dict(memory.record())
        result.phases_s, result.in_model_s = clocks.record(result.load_s)
    return run


def _accuracy_pass(
    model: Model,
    dataset: Dataset,
    settings: Settings,
    run: ModelRun,
    report: Report,
    sizes: set[tuple[int, int]],
    part: Part | None,
    clocks: _Clocks,
) -> list[StageTimes]:
    """Predict every image (or the part's) and score the predictions — a part's are scored where the parts are
    merged (`zoo.shards`); returns the calls that are latency samples."""
    images = dataset.images if part is None else [dataset.images[i] for i in part.images]
    with clocks.phase("predict"):
        latency, label_map, per_image = _step(
            run.result, "predict", accuracy.predict_all, model, dataset, run, report, sizes, images
        )
    if part is not None:
        run.scoring = label_map, per_image
        return latency
    with clocks.phase("score"):
        report("scoring", 0, None)
        accuracy.score(dataset, settings, run, label_map, per_image)
    if settings.corruptions:  # the same scoring on corrupted copies, untimed, before speed sets a threshold
        with clocks.phase("robustness"):
            robustness.measure(model, dataset, settings, run, report, sizes)
    return latency


class _Clocks:
    """Where one model's wall time went: seconds per phase of `evaluate`, and seconds inside the model's own
    ``load`` and ``predict`` calls (the rest is zoo: decoding images, checking outputs, scoring, bookkeeping)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.predicting = 0.0

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - started

    def count_calls(self, model: Model) -> None:
        """Add the seconds of every later ``model.predict`` call (its preprocess, forward and postprocess)."""
        predict = model.predict

        def counted(images: list[np.ndarray]) -> Any:
            prediction = predict(images)
            self.predicting += prediction.times.total
            return prediction

        model.predict = counted  # type: ignore[method-assign]

    def record(self, load_s: float | None) -> tuple[dict[str, float], float]:
        """``phases_s`` and ``in_model_s`` (the model's load time plus its predict calls)."""
        phases = {name: round(seconds, 4) for name, seconds in self.phases.items()}
        return phases, round((load_s or 0.0) + self.predicting, 4)


def blank_result(entry: Entry) -> ModelResult:
    """The result of one model before anything is measured: every number missing."""
    return ModelResult(id=entry.id, model=entry.model, plugin=entry.plugin, family=entry.family)


class StepFailed(Exception):
    """A step failed; the reason is already in the result."""


def _fail(result: ModelResult, step: str, error: BaseException) -> StepFailed:
    result.status = Status.FAILED
    text = " ".join(str(error).split())
    result.reason = (
        f"{step} failed: {type(error).__name__}: {text}" if text else f"{step} failed: {type(error).__name__}"
    )
    result.traceback = "".join(traceback.format_exception(error))[-4000:]
    return StepFailed()


def load_entry(
    entry: Entry, plugins: Plugins, settings: Settings, weights: str | None, result: ModelResult
) -> Model | None:
    """The entry's model, loaded; None when it cannot run here (its row says why). A runtime row's model that
    cannot be exported or run (`zoo.runtimes.Unsupported`) is the status ``unsupported``, with its record."""
    try:
        model = _load_model(entry, plugins, settings, weights, result)
    except runtimes.Unsupported as error:
        result.status, result.reason, result.runtime = Status.UNSUPPORTED, str(error), error.record
        return None
    if runtimes.record_of(model) is not None:
        result.runtime = runtimes.record_of(model)  # the same dict: what the model adds later is in it
    return model


def _load_model(
    entry: Entry, plugins: Plugins, settings: Settings, weights: str | None, result: ModelResult
) -> Model | None:
    options: dict[str, Any] = {}
    if settings.imgsz is not None:
        if accepts_option(entry, plugins, "imgsz"):
            options["imgsz"] = settings.imgsz
        else:
            result.note(f"--imgsz {settings.imgsz} ignored: the model runs only at its native size")
    try:
        model = build_model(entry, plugins, weights, options)
        _check_built(model)
    except ZooError as error:
        result.status, result.reason = Status.FAILED, str(error)
        return None
    except Exception as error:
        raise _fail(result, "building the model", error) from error
    result.framework = model.framework
    model.device, model.threads = settings.device, settings.threads
    threads = _torch_threads()
    try:
        _check_files(entry, model)  # before the load timer: hashing a checkpoint is not loading it
        started = time.perf_counter()
        model.load(settings.device)
    except WeightsUnavailable as error:
        result.status, result.reason = Status.NO_WEIGHTS, " ".join(str(error).split())
        if not settings.untrained_speed:
            result.missing["speed"] = "weights missing (--no-untrained-speed)"
            return None
        try:
            model = build_model(entry, plugins, UNTRAINED, options)
            model.device, model.threads = settings.device, settings.threads
            started = time.perf_counter()
            model.load(settings.device)
        except runtimes.Unsupported:
            raise
        except Exception as error:
            result.missing["speed"] = f"an untrained copy could not be built: {type(error).__name__}: {error}"
            return None
        result.untrained = True
    except runtimes.Unsupported:
        raise
    except Exception as error:
        raise _fail(result, "load", error) from error
    result.load_s = time.perf_counter() - started
    if "labels" not in vars(model):
        result.note(
            f"{type(model).__name__}.load() never set self.labels, so the model is treated as class-agnostic (no "
            "class-aware AP); set self.labels to its class names (or to None on purpose)",
        )
    if threads is not None and _torch_threads() != threads:  # some libraries reset it while loading
        import torch

        result.note(f"the model's library changed torch's threads to {_torch_threads()}; zoo set {threads} again")
        torch.set_num_threads(threads)
    return model


def _check_built(model: Model) -> None:
    """A model whose ``__init__`` skipped ``Model.__init__`` is refused at once, with the fix (not later, as an
    AttributeError about ``weights`` in whichever step reads it first)."""
    if "weights" not in vars(model):
        name = type(model).__name__
        raise ZooError(
            f"{name}.__init__ does not call super().__init__(weights=weights); add that line to {name}.__init__"
        )


def _check_files(entry: Entry, model: Model) -> None:
    """The files the model declares (its official weights) must be intact before ``load`` reads any: a truncated,
    tampered or corrupt file is `WeightsUnavailable` with the reason, and is never loaded."""
    problem = fetch.refusal(declared_files(entry, model), entry.id)
    if problem:
        raise WeightsUnavailable(problem)


def _torch_threads() -> int | None:
    """torch's CPU thread count, if torch is loaded (a numpy-only model never imports it)."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _accuracy_samples_dropped(model: Model, settings: Settings) -> bool:
    """Whether the accuracy pass's calls are expected not to be latency samples: the model is timed at
    ``speed_conf`` through a threshold it sets itself (`zoo.timing.speed_setting`), so the FLOPs may be counted on
    one of them when no warm-up call was (should it refuse the threshold then, the counted call is no sample)."""
    return bool(settings.speed_conf) and type(model).set_score_threshold is not Model.set_score_threshold


def _describe(model: Model, result: ModelResult) -> float | None:
    """Record what the loaded model is (its FLOPs come later: `_record_flops`); returns the GFLOPs the plugin
    declares, if any."""
    try:
        info = asdict(model.info())
    except Exception as error:
        raise _fail(result, "info", error) from error
    result.weights = "untrained (random initialisation)" if result.untrained else info.pop("weights")
    info.pop("weights", None)
    info["labels"] = None if model.labels is None else len(model.labels)
    declared = info.pop("gflops", None)
    result.info = Info.from_dict(info)
    return declared


def _count_apart(flops: FlopCall, first: np.ndarray, budget: timing.Budget, result: ModelResult) -> None:
    """Where no untimed call of the protocol carried the flop counter (one warm-up call, no untimed accuracy call),
    a pass of its own over the first image, after timing and only if it fits in what timing left of the budget: a
    model whose calls take a quarter of its budget does not pay for its FLOPs with a call more."""
    if flops.counted:
        return
    latency = (result.speed.latency_ms or {}).get("total") if result.speed else None
    expected = latency["median"] / 1000 if latency else result.first_call_s or 0.0
    if budget.fits(expected):
        with budget.spend():
            flops.count_apart(first)
    else:
        flops.not_counted(
            f"not counted: no untimed call of the protocol carried the counter, and a pass of its own (about "
            f"{expected:.3g} s) did not fit in the {max(budget.left, 0):.3g} s left of --speed-budget "
            f"{budget.seconds:g}; a larger budget counts it"
        )


def _record_flops(flops: FlopCall, declared: float | None, entry: Entry, result: ModelResult) -> None:
    """The counted FLOPs (`zoo.flops.FlopCall`: one untimed call of the protocol's, or a pass of their own) into
    ``result.info``, with the plugin's declared figure where the counter saw nothing, else the catalogue's where
    nothing was counted."""
    info: dict[str, Any] = {}
    flops.record(info, result.missing)
    _declared_gflops(declared, info, result)
    _catalogue_gflops(entry, flops, info, result)
    result.info.gflops, result.info.gflops_image, result.info.gflops_source = (
        info["gflops"],
        info["gflops_image"],
        info["gflops_source"],
    )


def _catalogue_gflops(entry: Entry, flops: FlopCall, info: dict[str, Any], result: ModelResult) -> None:
    """Where no pass was counted (`_count_apart`) and the plugin declares nothing, the catalogue's own count for the
    entry (``meta.gflops`` in registry.yaml, for a 640x480 image), said as such, with why none was counted here."""
    figure = entry.meta.get("gflops") if "trained_on" not in entry.meta else None  # a fine-tuned head differs
    if flops.skipped is None or info["gflops"] is not None or not figure:
        return
    info["gflops"], info["gflops_image"], info["gflops_source"] = float(figure), CATALOGUE_IMAGE, CATALOGUE
    why = result.missing.pop("gflops", "not counted")
    result.note(f"GFLOPs are the catalogue's count for a {CATALOGUE_IMAGE} image; in this run they were {why}")


def _declared_gflops(declared: float | None, info: dict[str, Any], result: ModelResult) -> None:
    """The plugin's own GFLOPs (``ModelInfo.gflops``): used where torch's counter saw nothing (ONNX Runtime,
    OpenCV, an endpoint), else only compared with the count, and noted when more than 10% off."""
    if declared is None:
        return
    counted = info["gflops"]
    if counted is None:
        info["gflops"], info["gflops_source"] = float(declared), DECLARED
        info["gflops_image"] = None  # the plugin's figure, for its own input size
        result.missing.pop("gflops", None)
    elif abs(declared - counted) > 0.1 * counted:
        result.note(f"the plugin declares {declared:g} GFLOPs; torch's flop counter counted {counted:.3g}")


def _step(result: ModelResult, step: str, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, whose exception fails the model's row as a failure of ``step``."""
    try:
        return function(*args)
    except Exception as error:
        raise _fail(result, step, error) from error
