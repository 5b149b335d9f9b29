"""Edge runtimes: every torch model of a run also measured under ONNX Runtime and OpenVINO (fp32, int8), as rows of
their own (``MODEL@RUNTIME``) beside the torch row, with their agreement to it.

``zoo run --runtimes torch,onnxruntime,openvino,onnxruntime-int8,openvino-int8`` expands each selected entry into
one entry per runtime (`expand`). A runtime row's model is a `RuntimeModel` around the entry's own plugin model:
it loads that model as usual, exports what its ``forward`` computes (`zoo.runtimes.export`; the plugin's own
preprocess and postprocess stay outside the graph and run unchanged, so the runtime is fed the very tensor the torch
row is fed), caches the exported file (`zoo.runtimes.cache`) and runs it with the runtime (`zoo.runtimes.engines`).
To the runner it is just another model; what is particular to it goes under one key of its result,
``result.runtime`` (`RuntimeModel.record`), and its agreement with the torch row is added when its row is written
(`zoo.runtimes.agreement`). A model that cannot be exported, or a runtime that is not installed, gets a row with the
status ``unsupported`` and the reason in one line (`Unsupported`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zoo.errors import ZooError
from zoo.runtimes.model import CALIBRATION_IMAGES, RuntimeModel
from zoo.runtimes.rows import RUNTIMES, SEPARATOR, TORCH, UNSUPPORTED, Unsupported, torch_row

__all__ = [
    "RUNTIMES",
    "SEPARATOR",
    "TORCH",
    "UNSUPPORTED",
    "Unsupported",
    "expand",
    "parse",
    "record_of",
    "torch_row",
    "wrap",
]


def parse(spec: str) -> list[str]:
    """``--runtimes`` as a list of names, ``torch`` included where given; a one-line `ZooError` for a bad name."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ZooError("--runtimes is empty; give torch and/or " + ", ".join(RUNTIMES))
    for name in names:
        if name != TORCH and name not in RUNTIMES:
            raise ZooError(
                f"--runtimes {spec}: unknown runtime {name!r}; the runtimes are torch, {', '.join(RUNTIMES)}"
            )
    return list(dict.fromkeys(names))


def expand(entries: list, spec: str, weights: dict[str, str], calibration: tuple = ()) -> tuple[list, dict[str, str]]:
    """The run's entries with one more per runtime after each torch entry (``ID@RUNTIME``: same model, weights and
    options, ``Entry.runtime`` set), and ``--weights`` given for ``ID`` applied to its runtime rows too. Without
    ``torch`` in ``spec`` the torch rows are left out (their runtime rows then have no agreement figures).
    ``calibration``: the images int8 rows calibrate on (`calibration_images`)."""
    names = parse(spec)
    expanded = []
    weights = dict(weights)
    for entry in entries:
        if TORCH in names:
            expanded.append(entry)
        for name in names:
            if name == TORCH:
                continue
            row_id = f"{entry.id}{SEPARATOR}{name}"
            images = calibration if name.endswith("-int8") else ()
            expanded.append(replace(entry, id=row_id, runtime=name, calibration=tuple(images)))
            if entry.id in weights:
                weights[row_id] = weights[entry.id]
    return expanded, weights


def wrap(model: Any, entry: Any) -> Any:
    """The model of a runtime entry: the plugin's own ``model`` inside a `RuntimeModel` for ``entry.runtime``."""
    return RuntimeModel(model, entry.runtime, torch_row(entry.id), list(entry.calibration))


def record_of(model: Any) -> dict[str, Any] | None:
    """``result.runtime`` for a runtime row's model; None for any other model."""
    record = getattr(model, "runtime_record", None)
    return record if isinstance(record, dict) else None


def calibration_images(spec: str | None, dataset: Any, load_full: Any) -> tuple[tuple, str]:
    """The fixed set of images int8 rows calibrate on, and where they come from, in words: ``--calibration DATA``
    (its first images), ``scored`` (the run's own, said so), or by default the run's dataset's images that are
    not scored (beyond ``--limit``; ``load_full()`` reads the dataset without it). Empty when there are none."""
    if spec == "scored":
        return tuple(
            dataset.images[:CALIBRATION_IMAGES]
        ), f"{dataset.name}: the first {CALIBRATION_IMAGES} scored images"
    if spec:
        other = load_full(spec)
        return tuple(other.images[:CALIBRATION_IMAGES]), f"{other.name} (--calibration): its first images"
    scored = {image.id for image in dataset.images}
    full = load_full(None)
    rest = [image for image in full.images if image.id not in scored][:CALIBRATION_IMAGES]
    return tuple(rest), f"{dataset.name}: the first images not scored (beyond --limit)"
