"""A model on a fake clock: its steps take scripted times, so the speed zoo records for it is known in advance and
must be the same however the model is run (`tests/test_workers.py`)."""

from __future__ import annotations

import itertools
import time

import numpy as np

import zoo

INFERENCE_S = (0.040, 0.043, 0.041, 0.047, 0.042, 0.044, 0.045, 0.040, 0.046, 0.041)  # one call's forward, in turn


class FakeClock:
    """Stands in for ``time.perf_counter``: only the scripted steps move it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scripted(zoo.Model):
    name = "scripted"
    family = "test"
    framework = "numpy"

    def load(self, device):
        self.labels = ["circle", "square", "triangle"]
        self.clock = FakeClock()
        self.inference = itertools.cycle(INFERENCE_S)
        time.perf_counter = self.clock  # zoo's step timers (`Model.predict`) read this clock from now on

    def preprocess(self, images):
        self.clock.now += 0.001
        return images

    def forward(self, batch):
        self.clock.now += next(self.inference)
        return batch

    def postprocess(self, outputs, images):
        self.clock.now += 0.002
        empty = zoo.Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
        return [empty for _ in images]


@zoo.hookimpl
def register_models(register):
    register(Scripted)
