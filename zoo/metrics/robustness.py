"""Robustness to image corruptions as the benchmark defines it (Michaelis et al., 2019, after Hendrycks & Dietterich,
2019): P, the metric on clean images; mPC, its mean over corruptions of the mean over severities; rPC = mPC / P.
The same for mean IoU (``iou_mpc``, ``iou_rpc``), the figure of localization-only models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar

from zoo.records import Record, record


@record
class CorruptionScore(Record):
    """One model on one corruption at one severity, scored as its clean accuracy pass is."""

    map: float | None = None  # COCO AP@[.5:.95], class-aware (None: a class-agnostic model)
    map_agnostic: float | None = None
    mean_iou: float | None = None
    omit_none: ClassVar[bool] = True


@record
class Robustness(Record):
    """The model under the benchmark's corruptions: every (corruption, severity) score, and P, mPC and rPC."""

    corruptions: list[str] = field(default_factory=list)
    severities: list[int] = field(default_factory=list)
    seed: int | None = None
    library: dict[str, Any] | None = None  # the corruption package: name, version, licence, source
    map_clean: float | None = None  # P: the clean pass's COCO AP
    mpc: float | None = None
    rpc: float | None = None
    iou_clean: float | None = None
    iou_mpc: float | None = None
    iou_rpc: float | None = None
    scores: dict[str, dict[str, CorruptionScore]] = field(default_factory=dict)  # corruption -> severity -> score
    cache: dict[str, int] | None = None  # corrupted images made by this model's pass, and reused from the cache
    omit_none: ClassVar[bool] = True

    def summarise(self) -> None:
        """P, mPC and rPC of AP and of mean IoU from ``scores`` and the clean values."""
        self.mpc = mean_performance(self._values("map"))
        self.rpc = relative(self.mpc, self.map_clean)
        self.iou_mpc = mean_performance(self._values("mean_iou"))
        self.iou_rpc = relative(self.iou_mpc, self.iou_clean)

    def _values(self, metric: str) -> dict[str, dict[str, float | None]]:
        return {
            name: {severity: getattr(score, metric) for severity, score in by_severity.items()}
            for name, by_severity in self.scores.items()
        }


def mean_performance(values: Mapping[str, Mapping[Any, float | None]]) -> float | None:
    """mPC: for each corruption the mean over its severities, then the mean over corruptions; None when there is
    none, or when any value is missing (an average over what happened to be measured would flatter the model)."""
    means = []
    for by_severity in values.values():
        scores = list(by_severity.values())
        if not scores or any(score is None for score in scores):
            return None
        means.append(sum(scores) / len(scores))
    return sum(means) / len(means) if means else None


def relative(mpc: float | None, clean: float | None) -> float | None:
    """rPC = mPC / P; None without both, or when P is 0 (no share of nothing)."""
    if mpc is None or clean is None or clean <= 0:
        return None
    return mpc / clean


def leaderboard_columns(robustness: Robustness | None) -> dict[str, float | None]:
    """The leaderboard's robustness cells of one row (empty without a robustness pass)."""
    value = robustness or Robustness()
    return {
        "map_clean": value.map_clean,
        "mpc": value.mpc,
        "rpc": value.rpc,
        "iou_mpc": value.iou_mpc,
        "iou_rpc": value.iou_rpc,
    }


COLUMNS = ("map_clean", "mpc", "rpc", "iou_mpc", "iou_rpc")
"""The leaderboard columns `leaderboard_columns` fills, in order."""
