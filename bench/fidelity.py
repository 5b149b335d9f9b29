"""Harness fidelity: zoo's median ``inference`` latency ÷ a bare ``torch.inference_mode()`` loop over the same
module, inputs and threads — does timing a model through zoo change how fast it runs?

zoo's side starts with its whole protocol in this process (`zoo.isolation.run_in_process`, what ``zoo run
--no-isolation`` does) on an untrained copy (no weights needed): seeded, built, loaded, warmed up, one accuracy pass,
then exactly ``BLOCK`` timed batch-1 calls (no stop on precision, no batches), inside the run's peak-memory reading
(`zoo.device.PeakMemory`: the process's high-water mark, no thread beside the model).
Its later blocks time the same model object with the runner's own timing
loop (`zoo.timing.top_up`: an image drawn, then `Model.predict` with its per-step timer) inside a `PeakMemory`.
The bare side times ``model.forward(model.preprocess([image]))`` on that same object with `time.perf_counter`
(preprocessing untimed), no memory reading, over the same images in the same order, at the same torch thread count.

Blocks alternate ABBA (zoo, bare | bare, zoo | zoo, bare ...), so load from other processes on a busy machine falls on
both sides alike; each pair of neighbouring blocks gives a ratio of medians, and a model's ratio is the median of
its pairs' ratios (the pooled medians are shown too).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.catalogue import load_catalogue
from bench.table import Row, missing_row
from zoo.data import Dataset, load_dataset
from zoo.model import UNTRAINED, Model, StageTimes
from zoo.plugins import Plugins, RegisteredModel
from zoo.registry import Entry

TITLE = "harness fidelity"
GOAL = 1.02
HOW = (
    "median inference ms: zoo's protocol in-process (its peak-memory reading on) ÷ a bare inference_mode loop over the "
    "same model object, images and threads; blocks alternate ABBA, median of the pairs' ratios; the worst framework"
)
MODELS = {  # one per framework, the fastest of each on a CPU
    "torchvision": "ssdlite320_mobilenet_v3_large",
    "ultralytics": "yolov8n",
    "transformers": "yolos-tiny",
    "numpy": "reference-blobs",
}
QUICK_MODELS = {"torchvision": "ssdlite320_mobilenet_v3_large", "numpy": "reference-blobs"}
DATA, QUICK_DATA = "shapes:count=4", "shapes:count=2,size=128x96"
PAIRS, BLOCK = 20, 8  # per side: PAIRS * BLOCK timed calls (10 pairs left a spread wider than the goal)
QUICK_PAIRS, QUICK_BLOCK = 2, 6  # (zoo's timing loop times at least 6 calls)


class Unmeasured(Exception):
    """zoo's side gave no latency (the model failed to build, load or run); the message says why."""


@dataclass
class Fidelity:
    """One model's samples (ms of the inference step) on both sides, and each pair of blocks' ratio of medians."""

    entry: Entry
    framework: str
    zoo_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    pairs: list[float] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    missing: str = ""

    @property
    def ratio(self) -> float | None:
        return float(np.median(self.pairs)) if self.pairs and not self.missing else None

    def add(self, zoo: list[float], bare: list[float]) -> None:
        self.zoo_ms += zoo
        self.bare_ms += bare
        self.pairs.append(float(np.median(zoo) / np.median(bare)))
        self.threads.add(_threads())


def measure(quick: bool = False, **_: Any) -> Row:
    import torch

    from zoo.offline import offline

    plugins, catalogue = load_catalogue()
    dataset = load_dataset(QUICK_DATA if quick else DATA)
    models = QUICK_MODELS if quick else MODELS
    pairs, block = (QUICK_PAIRS, QUICK_BLOCK) if quick else (PAIRS, BLOCK)
    threads = torch.get_num_threads()
    with offline():
        results = [
            measure_model(catalogue[model_id], framework, plugins, dataset, threads, pairs, block)
            for framework, model_id in models.items()
        ]
    return _row(results, dataset, threads)


def measure_model(
    entry: Entry, framework: str, plugins: Plugins, dataset: Dataset, threads: int, pairs: int, block: int
) -> Fidelity:
    """``pairs`` pairs of blocks of ``block`` timed calls, ABBA: zoo's whole protocol, then bare; then bare, zoo's
    timed calls; then zoo's timed calls, bare; ..."""
    import zoo.settings

    print(f"bench: fidelity: {entry.id} ({framework})", file=sys.stderr, flush=True)
    settings = zoo.settings.Settings(  # exactly `block` samples: no stop on precision or budget, no batches
        warmup=3,
        iters=block,
        speed_precision=0.0,
        speed_budget=3600.0,
        batch=1,
        threads=threads,
        weights={entry.id: UNTRAINED},
    )
    images = [image.load() for image in dataset.images]
    decoded = dataset.decoded_ahead()  # as the runner's evaluation holds them (`zoo.runner.evaluate`)
    found = Fidelity(entry, framework)
    try:
        first, model = zoo_protocol(entry, plugins, dataset, settings)
    except Unmeasured as error:
        found.missing = str(error)
        return found
    found.add(first, bare_block(model, images, block, threads))
    for number in range(1, pairs):
        if number % 2:
            bare = bare_block(model, images, block, threads)
            found.add(zoo_block(model, decoded, settings), bare)
        else:
            zoo = zoo_block(model, decoded, settings)
            found.add(zoo, bare_block(model, images, block, threads))
    return found


def zoo_protocol(entry: Entry, plugins: Plugins, dataset: Dataset, settings: Any) -> tuple[list[float], Model]:
    """zoo's inference-step samples (ms) from one whole in-process evaluation, and the model object it built."""
    from zoo.isolation import run_in_process
    from zoo.settings import no_report

    built: list[Model] = []
    result = run_in_process(entry, dataset, settings, _capturing(plugins, entry, built), no_report).result
    samples = (result.speed.latency_samples_ms or {}).get("inference")
    if result.status != "ok" or not samples or not built:
        raise Unmeasured(result.reason or result.missing.get("speed") or "zoo recorded no latency")
    return list(samples), built[-1]


def zoo_block(model: Model, dataset: Dataset, settings: Any) -> list[float]:
    """ms of the inference step of ``settings.iters`` calls timed by zoo's own timing loop (`zoo.timing.top_up`:
    a copy of an image the runner decoded ahead, then `Model.predict`, zoo's per-step timer), inside its
    `PeakMemory`, cycling the dataset's images from the first."""
    from zoo import timing
    from zoo.device import PeakMemory
    from zoo.settings import no_report

    _set_threads(settings.threads)
    latency: list[StageTimes] = []
    with PeakMemory(settings.device):
        timing.top_up(model, dataset, settings, latency, no_report, timing.Budget(settings.speed_budget))
    return [sample.inference * 1000.0 for sample in latency]


def _capturing(plugins: Plugins, entry: Entry, built: list[Model]) -> Plugins:
    """``plugins`` with the entry's model class replaced by a subclass that keeps every instance zoo builds."""
    registered = plugins.models[entry.model]
    base = registered.cls

    def __init__(self: Model, **options: Any) -> None:
        base.__init__(self, **options)
        built.append(self)

    keeping = type(base.__name__, (base,), {"__init__": __init__, "__module__": base.__module__})
    models = {**plugins.models, entry.model: RegisteredModel(keeping, registered.plugin)}
    return dataclasses.replace(plugins, models=models)


def bare_block(model: Model, images: list[np.ndarray], calls: int, threads: int) -> list[float]:
    """ms of ``model.forward`` alone under ``torch.inference_mode()``, cycling ``images`` from the first as zoo's
    timing does; preprocessing untimed."""
    import torch

    _set_threads(threads)
    samples = []
    with torch.inference_mode():
        for index in range(calls):
            batch = model.preprocess([images[index % len(images)]])
            started = time.perf_counter()
            model.forward(batch)
            samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        torch.set_num_threads(threads)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _row(results: list[Fidelity], dataset: Dataset, threads: int) -> Row:
    details = [_detail(found) for found in results]
    measured = [found for found in results if found.ratio is not None]
    if not measured:
        why = "; ".join(f"{found.entry.id}: {found.missing}" for found in results) or "no model to measure"
        row = missing_row(TITLE, GOAL, HOW, why)
        row.details = details
        return row
    worst = max(measured, key=lambda found: found.ratio or 0.0)
    return Row(
        TITLE,
        f"{np.median(worst.zoo_ms):.2f} ms ({worst.entry.id})",
        f"{np.median(worst.bare_ms):.2f} ms bare",
        worst.ratio,
        GOAL,
        HOW,
        details=details + [f"{len(dataset.images)} `{dataset.source}` images, torch {threads} thread(s)"],
    )


def _detail(found: Fidelity) -> str:
    name = f"{found.entry.id} ({found.framework})"
    if found.ratio is None:
        return f"{name}: missing: {found.missing}"
    pairs = ", ".join(f"{ratio:.2f}" for ratio in found.pairs)
    threads = ", ".join(str(t) for t in sorted(found.threads))
    return (
        f"{name}: zoo {np.median(found.zoo_ms):.2f} ms, bare {np.median(found.bare_ms):.2f} ms (pooled medians), "
        f"ratio {found.ratio:.3f} (pairs: {pairs}); {len(found.zoo_ms)} calls a side, torch threads {threads}"
    )
