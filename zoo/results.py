"""The typed result of a model run: what the runner builds, shards merge, executors carry between processes,
`zoo.runfolder` writes as ``results.json`` (the one place it is serialised) and the leaderboard and the report read
back. Field names are the names users see in results.json and leaderboard.csv.

A value that was not measured is None (and the row's ``missing`` says why), never 0. A part that was not measured
at all (no accuracy for an untrained copy) is an empty part, written ``{}``.

``SCHEMA_VERSION`` is written into results.json; ``zoo/results.schema.json`` (generated from these classes by
`json_schema`, shipped with the package) describes it. Run folders written before the version existed (version 1,
zoo 0.1.0) read back unchanged: the fields are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from zoo.metrics.robustness import Robustness
from zoo.records import Record, part, record, schema_of

SCHEMA_VERSION = 2
"""2: results.json carries ``schema_version``; 1 (no version written): zoo 0.1.0, the same fields."""


class Status(str, Enum):
    """How a model's row ended. ``ok`` and ``no-weights`` are finished (a resumed run keeps them); ``failed`` and
    ``timeout`` are the model's fault or limit; ``unsupported``: the model cannot do what was asked (a runtime, a
    training), said with the reason."""

    OK = "ok"
    NO_WEIGHTS = "no-weights"
    FAILED = "failed"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """A row a resumed run keeps instead of running the model again."""
        return self in (Status.OK, Status.NO_WEIGHTS)

    @property
    def broken(self) -> bool:
        """The model failed or was stopped: ``zoo run`` exits with status 1."""
        return self in (Status.FAILED, Status.TIMEOUT)


@record
class Info(Record):
    """What the loaded model is (`zoo.Model.info`, less its weights), and what zoo counted."""

    num_params: int | None = None
    input_size: str | None = None
    published_map: float | None = None
    published_source: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    labels: int | None = None  # the size of the model's label space; None: class-agnostic
    gflops: float | None = None
    gflops_image: str | None = None  # the image the FLOPs were counted on, WxH (None: the plugin's own figure)
    gflops_source: str | None = None


@record
class Labels(Record):
    """How the model's labels joined the dataset's categories, and what its predictions were."""

    class_agnostic: bool | None = None
    space: list[str] | None = None
    mapped: dict[str, str] | None = None
    unmapped: list[str] | None = None
    covered: list[str] | None = None  # the dataset categories the model can predict; class-aware AP is over these
    predictions: int | None = None
    dropped: dict[str, int] | None = None  # predictions of labels that are no dataset category, per label
    zero_size_boxes: int | None = None


@record
class Localization(Record):
    """Localization IoU: every ground-truth box matched one-to-one (Hungarian) among predictions over ``iou_conf``."""

    mean_iou: float | None = None
    localized: dict[str, float] | None = None  # IoU threshold ("0.5") -> share of ground truths found at it
    num_gt: int | None = None


@record
class CocoMetrics(Record):
    """COCOeval's twelve summary numbers (None where it has no ground truth of that kind), and curves."""

    map: float | None = None
    map50: float | None = None
    map75: float | None = None
    map_small: float | None = None
    map_medium: float | None = None
    map_large: float | None = None
    ar1: float | None = None
    ar10: float | None = None
    ar100: float | None = None
    ar_small: float | None = None
    ar_medium: float | None = None
    ar_large: float | None = None
    categories: int | None = None
    pr_curve: dict[str, Any] | None = None
    per_class: dict[str, Any] | None = None


@record
class Accuracy(Record):
    """Everything scored from the accuracy pass."""

    iou_conf: float | None = None
    localization: Localization | None = None
    per_image_iou: dict[str, float] | None = None
    coco_agnostic: CocoMetrics | None = None
    localization_class_aware: Localization | None = None
    coco: CocoMetrics | None = None
    omit_none: ClassVar[bool] = True


@record
class Speed(Record):
    """The speed protocol's record (`zoo.timing`): latency per stage in ms, its 95% interval, throughput."""

    warmup_calls: int | None = None
    timed_calls: int | None = None
    latency_ms: dict[str, dict[str, float]] | None = None  # stage (total, preprocess, ...) -> median, p90, p95, ...
    median_ci_ms: list[float] | None = None
    ci_halfwidth: float | None = None
    precise: bool | None = None
    images_per_s: float | None = None
    latency_samples_ms: dict[str, list[float]] | None = None
    batch_size: int | None = None
    batch_calls: int | None = None
    images_per_s_batch: float | None = None
    batch_latency_ms: dict[str, dict[str, float]] | None = None
    setting: dict[str, Any] | None = None  # the score threshold it was timed at, and whether the model applied it
    latency_stop: str | None = None  # why latency timing stopped: precision, iters, budget
    stopped_by_budget: bool | None = None
    budget_s: dict[str, float] | None = None
    omit_none: ClassVar[bool] = True


@record
class Memory(Record):
    rss_increase_mb: float | None = None
    device_peak_mb: float | None = None
    omit_none: ClassVar[bool] = True


@record
class Host(Record):
    """The machine and device a model ran and was timed on (`zoo.context.host`)."""

    hostname: str | None = None
    cpu: str | None = None
    cpu_count_logical: int | None = None
    device: str | None = None
    threads: int | None = None
    gpu: str | None = None
    omit_none: ClassVar[bool] = True


@record
class FetchRecord(Record):
    """What fetching did for one of the model's files before it was measured."""

    file: str | None = None
    url: str | None = None
    state: str | None = None
    path: str | None = None
    bytes: int | None = None
    seconds: float | None = None
    detail: str | None = None


@record
class ModelResult(Record):
    """One model's row: identity and status, weights, what was measured, where the time went, where it ran."""

    id: str = ""
    model: str = ""
    plugin: str | None = None
    family: str | None = None
    framework: str | None = None
    status: Status = Status.OK
    reason: str = ""  # why the status (or what went wrong that is not the model's fault)
    notes: str = ""  # what zoo noticed that does not change the status
    weights: str | None = None  # identity of what was loaded
    untrained: bool = False  # timed on an untrained copy (no weights): no accuracy
    info: Info = part(Info)
    labels: Labels = part(Labels)
    accuracy: Accuracy = part(Accuracy)
    speed: Speed = part(Speed)
    memory: Memory = part(Memory)
    missing: dict[str, str] = field(default_factory=dict)  # what was not measured -> why
    load_s: float | None = None
    first_call_s: float | None = None
    published: dict[str, Any] | None = None  # the published number that applies to what was loaded
    reproduction: dict[str, Any] | None = None  # measured vs published AP, the gap and its likely causes
    phases_s: dict[str, float] | None = None
    in_model_s: float | None = None
    # an isolated model's worker, seconds: birth (start asked → its main runs), setup (log, plugins, seeds), hand_back
    worker_s: dict[str, float] | None = None
    traceback: str | None = None
    host: Host | None = None
    log_tail: str | None = None
    fetch: list[FetchRecord] | None = None
    key: dict[str, Any] | None = None  # what it was measured with: a resumed run keeps a row with the same key
    entry_notes: str | None = None
    licence: str | None = None
    finished: str | None = None
    predictions_file: str | None = None
    shards: list[dict[str, Any]] | None = None  # --shards: each part's images and host
    runtime: dict[str, Any] | None = None  # a MODEL@RUNTIME row (zoo.runtimes): export, engine, agreement
    trained_on: dict[str, Any] | None = None  # fine-tuned by zoo (zoo.adapt): the training set, shots, seed, epochs
    prompts: dict[str, Any] | None = None  # an open-vocabulary model's prompts and text encoding (zoo.vocabulary)
    robustness: Robustness | None = None  # --corruptions: every (corruption, severity) score, P, mPC, rPC
    omit_none: ClassVar[bool] = True

    def note(self, text: str) -> None:
        self.notes = f"{self.notes}; {text}" if self.notes else text

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for name in ("framework", "weights", "licence", "published", "reproduction"):  # null, as rows always had
            data.setdefault(name, None)
        return data


def json_schema() -> dict[str, Any]:
    """The JSON Schema of results.json, from these classes (the shipped zoo/results.schema.json is this; a test
    checks that they agree)."""
    definitions: dict[str, Any] = {}
    model = schema_of(ModelResult, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "zoo results.json",
        "description": "What `zoo run` measured: the run's context and one record per model. A value not measured "
        "is null or absent, and the model's `missing` says why.",
        "type": "object",
        "required": ["models"],
        "properties": {
            "schema_version": {"type": "integer", "description": "2 and later; absent: 1 (zoo 0.1.0)"},
            "context": {"type": "object", "description": "machine, versions, settings, dataset"},
            "models": {"type": "array", "items": model},
        },
        "$defs": definitions,
    }


@dataclass
class ModelRun:
    """What one model produced: its result and its predictions in COCO results format; for a part of a sharded
    pass (`zoo.settings.Part`), also what scoring needs (the label map and each image's predictions), since its parts
    are scored together."""

    result: ModelResult
    predictions: list[dict[str, Any]] = field(default_factory=list)
    scoring: tuple[Any, dict[int, Any]] | None = None  # (zoo.labels.LabelMap, {image id: ImagePredictions})


@dataclass
class RunResults:
    """A whole run as results.json holds it: the run's context (machine, versions, settings, dataset) and one
    `ModelResult` per model."""

    context: dict[str, Any] = field(default_factory=dict)
    models: list[ModelResult] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        models = [model.to_dict() for model in self.models]
        return {"schema_version": self.schema_version, "context": self.context, "models": models}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResults:
        """A results.json's content, typed; `ValueError` naming what is wrong (a newer schema, a status zoo does not
        know)."""
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(f"schema_version {version!r} is newer than this zoo's ({SCHEMA_VERSION}): upgrade zoo")
        models = [ModelResult.from_dict(model) for model in data["models"]]
        return cls(context=data.get("context") or {}, models=models, schema_version=SCHEMA_VERSION)
