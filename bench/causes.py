"""What costs the harness its fidelity: zoo's timing loop, one change at a time, against the same bare loop.

For each model (an untrained copy, built and run through zoo's whole in-process protocol first, as
`bench.fidelity` does), rounds of blocks time these variants side by side, their order reversed every other round
(ABBA), so load from other processes falls on all of them alike:

- ``bare``: ``model.forward(model.preprocess([image]))`` under ``torch.inference_mode()``, preprocessing untimed,
  images decoded beforehand;
- ``zoo``: zoo's timing loop (`zoo.timing.top_up`) inside zoo's `zoo.device.PeakMemory` as the runner uses it now
  (the process's high-water mark: no thread beside the model), over the images the runner decodes ahead
  (`zoo.data.Dataset.decoded_ahead`: a copy of a kept array before each call);
- ``zoo + 5 ms sampler``: the same with the sampler thread zoo used before (psutil's RSS read every 5 ms);
- ``zoo, decoding before each call``: the same loop decoding (or drawing) each image right before its call, as
  the runner did before.

Each variant's ratio is the median over rounds of (its block's median inference ms ÷ the bare block's of that
round). The row's ratio is the sampler's cost: ``zoo + 5 ms sampler`` ÷ ``zoo``, the worst model.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from bench import fidelity
from bench.catalogue import load_catalogue
from bench.table import Row, missing_row
from zoo.data import Dataset, load_dataset

TITLE = "fidelity causes"
GOAL = None
HOW = (
    "median inference ms of zoo's timing loop with the old 5 ms memory sampler thread ÷ without it (now: the "
    "process's high-water mark), each ÷ the same bare loop in the same round; rounds ABBA; the worst model"
)
MODELS = fidelity.MODELS
QUICK_MODELS = fidelity.QUICK_MODELS
ROUNDS, BLOCK = 8, 8
QUICK_ROUNDS, QUICK_BLOCK = 2, 6
BARE, ZOO, SAMPLER, DECODING = "bare", "zoo", "zoo + 5 ms sampler", "zoo, decoding before each call"


@dataclass
class Causes:
    """One model's ratios to bare, per variant and round."""

    model: str
    ratios: dict[str, list[float]] = field(default_factory=dict)
    medians: dict[str, list[float]] = field(default_factory=dict)
    missing: str = ""

    def ratio(self, variant: str) -> float | None:
        values = self.ratios.get(variant)
        return float(np.median(values)) if values else None


class OldSampler:
    """The sampler zoo's `PeakMemory` used to run: a thread reading the process's RSS every ``interval`` s."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.process, self.peak = interval, psutil.Process(), 0
        self._stop = threading.Event()

    def __enter__(self) -> OldSampler:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(quick: bool = False, models: str | None = None, **_: Any) -> Row:
    import torch

    from zoo.offline import offline

    plugins, catalogue = load_catalogue()
    dataset = load_dataset(fidelity.QUICK_DATA if quick else fidelity.DATA)
    rounds, block = (QUICK_ROUNDS, QUICK_BLOCK) if quick else (ROUNDS, BLOCK)
    threads = torch.get_num_threads()
    found = []
    with offline():
        for framework, model_id in _chosen(models, quick).items():
            found.append(_measure_model(catalogue[model_id], framework, plugins, dataset, threads, rounds, block))
    return _row(found, dataset, threads, rounds, block)


def _chosen(models: str | None, quick: bool) -> dict[str, str]:
    """framework → model id: ``--models ID,ID`` (ids of the catalogue), else one per framework."""
    if not models:
        return QUICK_MODELS if quick else MODELS
    frameworks = {model_id: framework for framework, model_id in MODELS.items()}
    return {frameworks.get(model_id, model_id): model_id for model_id in models.split(",")}


def _measure_model(
    entry: Any, framework: str, plugins: Any, dataset: Dataset, threads: int, rounds: int, block: int
) -> Causes:
    import zoo.settings
    from zoo.model import UNTRAINED

    print(f"bench: causes: {entry.id} ({framework})", file=sys.stderr, flush=True)
    settings = zoo.settings.Settings(
        warmup=3, iters=block, speed_precision=0.0, speed_budget=3600.0, batch=1, threads=threads,
        weights={entry.id: UNTRAINED},
    )  # fmt: skip
    found = Causes(f"{entry.id} ({framework})")
    try:
        _, model = fidelity.zoo_protocol(entry, plugins, dataset, settings)
    except fidelity.Unmeasured as error:
        found.missing = str(error)
        return found
    images = [image.load() for image in dataset.images]
    decoded = dataset.decoded_ahead()
    variants: dict[str, Callable[[], list[float]]] = {
        BARE: lambda: fidelity.bare_block(model, images, block, threads),
        ZOO: lambda: fidelity.zoo_block(model, decoded, settings),
        SAMPLER: lambda: _with(OldSampler(), lambda: fidelity.zoo_block(model, decoded, settings)),
        DECODING: lambda: fidelity.zoo_block(model, dataset, settings),
    }
    for number in range(rounds):
        order = list(variants) if number % 2 == 0 else list(reversed(variants))
        medians = {name: float(np.median(variants[name]())) for name in order}
        for name, value in medians.items():
            found.medians.setdefault(name, []).append(value)
            if name != BARE:
                found.ratios.setdefault(name, []).append(value / medians[BARE])
    return found


def _with(context: Any, block: Callable[[], list[float]]) -> list[float]:
    with context:
        return block()


def _row(found: list[Causes], dataset: Dataset, threads: int, rounds: int, block: int) -> Row:
    details = [_detail(item) for item in found]
    costs = [(item.ratio(SAMPLER) / item.ratio(ZOO), item) for item in found if item.ratio(ZOO) and item.ratio(SAMPLER)]
    details.append(
        f"{len(dataset.images)} `{dataset.source}` images, torch {threads} thread(s), {rounds} rounds of {block} "
        "calls per variant, every model an untrained copy"
    )
    if not costs:
        row = missing_row(TITLE, GOAL, HOW, "; ".join(f"{item.model}: {item.missing}" for item in found) or "none")
        row.details = details
        return row
    worst, item = max(costs, key=lambda pair: pair[0])
    sampler = np.median(item.medians[SAMPLER])
    now = np.median(item.medians[ZOO])
    return Row(TITLE, f"{sampler:.2f} ms with the sampler", f"{now:.2f} ms without ({item.model})", worst, GOAL, HOW,
               details=details)  # fmt: skip


def _detail(item: Causes) -> str:
    if item.missing:
        return f"{item.model}: missing: {item.missing}"
    parts = []
    for name in (ZOO, SAMPLER, DECODING):
        values = ", ".join(f"{ratio:.3f}" for ratio in item.ratios.get(name, []))
        parts.append(f"{name} ÷ bare {item.ratio(name):.3f} (rounds: {values})")
    return f"{item.model}: bare {np.median(item.medians[BARE]):.2f} ms; " + "; ".join(parts)
