"""The robustness pass (``zoo run --corruptions``): after a model's clean accuracy pass, the same model predicts the
corrupted copies of the same images, one pass per (corruption, severity), and each pass is scored exactly as the
clean one (`zoo.accuracy`). Nothing here is timed: speed stays the clean protocol's. The figures (P, mPC, rPC) are
`zoo.metrics.robustness`'s; the corrupted images, `zoo.data.corrupt`'s."""

from __future__ import annotations

from zoo import accuracy
from zoo.data import Dataset
from zoo.data.corrupt import LIBRARY, cached, corrupted, library_version, parse_corruptions, parse_severities
from zoo.errors import ZooError
from zoo.metrics.robustness import CorruptionScore, Robustness
from zoo.model import Model
from zoo.results import ModelResult, ModelRun
from zoo.settings import Report, Settings


def check(settings: Settings, shards: int | None = None) -> None:
    """``--corruptions`` and ``--severities`` make sense and the library is installed: a one-line `ZooError`
    before anything runs otherwise."""
    if not settings.corruptions:
        return
    parse_corruptions(settings.corruptions)
    parse_severities(settings.severities)
    library_version()
    if shards and shards > 1:
        raise ZooError("--corruptions with --shards: a sharded pass is not scored under corruptions; drop one of them")


def passes(settings: Settings) -> list[tuple[str, int]]:
    """The (corruption, severity) passes a model makes beyond its clean one."""
    if not settings.corruptions:
        return []
    severities = parse_severities(settings.severities)
    return [(name, severity) for name in parse_corruptions(settings.corruptions) for severity in severities]


def measure(model: Model, dataset: Dataset, settings: Settings, run: ModelRun, report: Report,
            sizes: set[tuple[int, int]]) -> None:  # fmt: skip
    """Score ``model`` on every corrupted copy the settings ask for, into ``run.result.robustness``; a pass that
    fails leaves the figures missing, with the reason, and the clean row as it was."""
    result = run.result
    try:
        version = library_version()  # checked by the CLI; a worker elsewhere (a Ray node) may still lack it
    except ZooError as error:
        result.missing["robustness"] = str(error)
        return
    clean = result.accuracy
    value = Robustness(
        corruptions=list(parse_corruptions(settings.corruptions or "")),
        severities=list(parse_severities(settings.severities)),
        seed=settings.corruption_seed,
        library={**LIBRARY, "version": version},
        map_clean=clean.coco.map if clean.coco else None,
        iou_clean=clean.localization.mean_iou if clean.localization else None,
        cache={"made": 0, "reused": 0},
    )
    result.robustness = value
    todo = passes(settings)
    for number, (name, severity) in enumerate(todo, start=1):
        label = f"corrupted {number}/{len(todo)}: {name} {severity}"
        try:
            score = _score(model, dataset, (name, severity), settings, value, _relabel(report, label), sizes)
        except Exception as error:
            result.missing["robustness"] = f"{name} at severity {severity}: {type(error).__name__}: {error}"
            score = CorruptionScore()
        value.scores.setdefault(name, {})[str(severity)] = score
    value.summarise()
    if value.mpc is None and value.map_clean is not None and "robustness" not in result.missing:
        result.missing["robustness"] = "mPC: a corrupted pass has no AP"


def _relabel(report: Report, label: str) -> Report:
    """The runner's progress, each step of a corrupted pass under the pass's own name."""

    def progress(phase: str, done: int, total: int | None) -> None:
        report(label, done, total)

    return progress


def _score(model: Model, dataset: Dataset, corruption: tuple[str, int], settings: Settings, value: Robustness,
           report: Report, sizes: set[tuple[int, int]]) -> CorruptionScore:  # fmt: skip
    """One corrupted pass: every corrupted image predicted at batch 1 and confidence 0 (none timed), scored by the
    clean pass's code; the images it made or found cached are counted in ``value.cache``."""
    shifted = corrupted(dataset, *corruption, settings.corruption_seed)
    on_disk, total = cached(shifted)
    value.cache = {"made": value.cache["made"] + total - on_disk, "reused": value.cache["reused"] + on_disk}
    run = ModelRun(ModelResult(id="corrupted"))
    _, label_map, per_image = accuracy.predict_all(model, shifted, run, report, set(sizes), shifted.images)
    accuracy.score(shifted, settings, run, label_map, per_image)
    scored = run.result.accuracy
    return CorruptionScore(
        map=scored.coco.map if scored.coco else None,
        map_agnostic=scored.coco_agnostic.map if scored.coco_agnostic else None,
        mean_iou=scored.localization.mean_iou if scored.localization else None,
    )
