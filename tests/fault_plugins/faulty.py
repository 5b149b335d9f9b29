"""A plugin that misbehaves on purpose, one way per ``fault`` option: the fault-injection suite runs it beside
good models and checks that the run survives, reports the cause, and leaves the good numbers untouched."""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import zoo


class Faulty(zoo.Model):
    name = "faulty"
    family = "test"
    framework = "numpy"

    def __init__(self, *, weights=None, fault: str = "none", seconds: float = 0.0) -> None:
        super().__init__(weights=weights)
        self.fault = fault
        self.seconds = seconds

    def load(self, device):
        if self.fault == "raise-at-load":
            raise RuntimeError("cannot load: corrupt checkpoint")
        self.labels = ["circle", "square", "triangle"]

    def forward(self, batch):
        fault = self.fault
        if fault == "raise-at-predict":
            raise ValueError("shape mismatch in layer 3")
        if fault == "hang":
            time.sleep(3600)
        if fault == "exit":
            sys.exit(3)
        if fault == "exit-quietly":
            os._exit(0)
        if fault == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if fault == "kill-parent":  # the process that started this worker: under --executor ray, the Ray worker
            os.kill(_starter(), signal.SIGKILL)
            time.sleep(3600)
        if fault == "memory":
            hoard = []
            while True:
                hoard.append(np.ones(50 * 2**20, dtype=np.uint8))
        if fault == "slow":
            time.sleep(self.seconds)
        return batch

    def postprocess(self, outputs, images):
        fault = self.fault
        results = []
        for image in images:
            height, width = image.shape[:2]
            box, score, label = [[1.0, 2.0, 20.0, 30.0]], [0.9], [0]
            if fault == "wrong-shape":
                box = [[1.0, 2.0, 20.0]]
            elif fault == "wrong-dtype":
                label = [0.5]
            elif fault == "nan":
                box = [[1.0, np.nan, 20.0, 30.0]]
            elif fault == "inf-score":
                score = [np.inf]
            elif fault == "negative-size":
                box = [[20.0, 30.0, 5.0, 6.0]]
            elif fault == "far-outside":
                box = [[width * 3.0, 2.0, width * 4.0, 30.0]]
            elif fault == "bad-label":
                label = [7]
            results.append(zoo.Detections(box, score, label))
        if fault == "wrong-count":
            return results + results
        if fault == "not-detections":
            return [{"boxes": r.xyxy} for r in results]
        return results


def _starter() -> int:
    """The process that started this worker: its parent, or the parent of the fork server it was forked from."""
    import psutil

    parent = psutil.Process(os.getppid())
    if "multiprocessing.forkserver" in " ".join(parent.cmdline()):
        parent = parent.parent()
    return parent.pid


@zoo.hookimpl
def register_models(register):
    register(Faulty)
