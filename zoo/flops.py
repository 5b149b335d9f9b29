"""FLOPs counted on a call the protocol makes anyway, not on a forward pass of their own.

`FlopCall` wraps a loaded model's ``predict`` so that the first call after the cold start (the cold start is timed,
and a counter would slow it) runs under torch's flop counter: the second warm-up call when the model gets one (the
budget allows it, ``--warmup`` ≥ 2); else the first call of the accuracy pass where that pass's calls are not latency
samples (the model is timed at ``--speed-conf`` through its own threshold), and that call is then no sample either.
A model that makes neither call (an untrained copy, or one whose accuracy pass is timed) is counted on a separate
pass after its timing, when that pass fits in what the timing left of its budget (`zoo.runner`); else its GFLOPs are
missing, with why. The counter does not change what the call computes; it only makes that one call slower, and that
call is never timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from zoo.device import count_flops
from zoo.model import Model, Prediction, StageTimes

# ``gflops_source``: where a row's GFLOPs come from (the report says which)
COUNTED = "counted (torch's flop counter)"
DECLARED = "declared by the plugin"  # the plugin's ``ModelInfo.gflops``, where the counter saw nothing
CATALOGUE = "the catalogue's: torch's flop counter on a 640x480 image (python -m tools.catalogue)"
CATALOGUE_IMAGE = "640x480"  # the image the catalogue's count is for


class FlopCall:
    """Counts FLOPs on one untimed ``predict`` call of ``model``: the call after the next ``skip`` ones."""

    def __init__(self, model: Model, skip: int = 1) -> None:
        self.model, self.skip = model, skip
        self.flops: int | None = None
        self.error: BaseException | None = None
        self.image: tuple[int, int] | None = None  # (height, width) of the image counted on
        self.times: StageTimes | None = None  # the counted call's times: never a latency sample
        self.armed = True
        self.skipped: str | None = None  # why no call was counted, when none was
        self._predict: Callable[[list[np.ndarray]], Prediction] = model.predict
        model.predict = self._call  # type: ignore[method-assign]

    @property
    def counted(self) -> bool:
        return self.flops is not None or self.error is not None

    def _call(self, images: list[np.ndarray]) -> Prediction:
        if not self.armed or self.counted:
            return self._predict(images)
        if self.skip > 0:
            self.skip -= 1
            return self._predict(images)
        predictions: list[Prediction] = []
        try:
            self.flops = count_flops(lambda: predictions.append(self._predict(images)))
        except Exception as error:  # the counter's failure; the model's own is raised again below
            self.error = error
        self.image = images[0].shape[:2] if images else None
        if not predictions:  # the call itself failed (or the counter did before it ran): run it plainly
            return self._predict(images)
        self.times = predictions[0].times
        return predictions[0]

    def disarm(self) -> None:
        """Count on no later call (the calls from here on are timed)."""
        self.armed = False

    def count_apart(self, image: np.ndarray) -> None:
        """Where no untimed call was counted: one forward pass of its own over ``image`` (the old way)."""
        if self.counted:
            return
        self.image = image.shape[:2]
        model = self.model
        try:
            self.flops = count_flops(lambda: model.forward(model.preprocess([image])))
        except Exception as error:
            self.error = error

    def not_counted(self, why: str) -> None:
        """Count on no call: ``why`` is said where the GFLOPs would be."""
        self.armed, self.skipped = False, why

    def drop_sample(self, latency: list[StageTimes]) -> None:
        """Remove the counted call from ``latency`` (it ran under the counter: not a sample)."""
        if self.times is not None:
            latency[:] = [sample for sample in latency if sample is not self.times]

    def record(self, info: dict[str, Any], missing: dict[str, str]) -> None:
        """Fill ``info``'s ``gflops``, ``gflops_image`` and ``gflops_source`` (and ``missing["gflops"]``)."""
        if self.skipped is not None:
            info["gflops"] = None
            missing["gflops"] = self.skipped
        elif self.error is not None:
            info["gflops"] = None
            missing["gflops"] = f"flop counting failed: {type(self.error).__name__}: {self.error}"
        else:
            info["gflops"] = self.flops / 1e9 if self.flops else None
            if not self.flops:
                missing["gflops"] = "torch's flop counter saw no operation (not a torch model)"
        info["gflops_image"] = f"{self.image[1]}x{self.image[0]}" if self.image else None
        info["gflops_source"] = COUNTED if info["gflops"] is not None else None
