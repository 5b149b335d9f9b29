"""Fine-tuning an ultralytics model with ultralytics' own trainer (``model.train``) on a YOLO-format view of the
dataset (`zoo.adapt.yolo_view`): from the official checkpoint when it is on this machine (ultralytics keeps every
layer whose shape fits the dataset's classes), else from the architecture's yaml ("from scratch"). ultralytics'
defaults stand (its optimiser choice, warm-up, schedule and augmentation) except what zoo sets for every framework:
epochs or a time budget, input size, batch, seed, device; plus ``workers=0``, ``plots=False`` and ``amp=False``
(its AMP check downloads a model), and validation each epoch only with ``--val``."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoo.adapt.folder import FROM_SCRATCH
from zoo.adapt.training import Finetuned, Session
from zoo.adapt.yolo_view import write_view
from zoo.files import sha256_prefix

CHECKPOINT = "model.pt"
DEFAULT_IMGSZ = 640


def finetune(model: Any, session: Session, wrapper: Any, base: Path | None) -> Finetuned:
    """Train ``wrapper`` (ultralytics' ``YOLO`` or ``RTDETR`` class) from ``base`` (the checkpoint found, or None:
    from the yaml); the checkpoint is ultralytics' own ``last.pt`` of the run, as ``model.pt``."""
    import torch
    import ultralytics

    settings = session.settings
    data = write_view(session.out / "data", session.dataset, session.val)
    network = wrapper(str(base) if base is not None else model.spec.yaml)
    base_weights = FROM_SCRATCH if base is None else f"{base} (sha256 {_sha(base)})"
    arguments = {
        "data": str(data),
        "epochs": settings.max_epochs if settings.minutes is None or settings.epochs else 1000,
        "imgsz": settings.imgsz or model.imgsz or DEFAULT_IMGSZ,
        "batch": settings.batch,
        "seed": settings.seed,
        "deterministic": True,
        "device": str(torch.device(settings.device)),
        "workers": 0,
        "project": str(session.out),
        "name": "run",
        "exist_ok": True,
        "plots": False,
        "amp": False,
        "val": session.val is not None,
        "pretrained": base is not None,
        "verbose": True,
    }
    if settings.minutes is not None and not settings.epochs:
        arguments["time"] = settings.minutes / 60
    network.add_callback("on_model_save", lambda trainer: _epoch_end(trainer, session))
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        with _log_to(session.log_path):
            network.train(**arguments)
    finally:  # ultralytics' select_device resets the threads, its init_seeds turns deterministic algorithms on
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
    run = session.out / "run"
    shutil.copy2(run / "weights" / "last.pt", session.out / CHECKPOINT)
    shutil.rmtree(run / "weights", ignore_errors=True)
    shutil.rmtree(session.out / "data", ignore_errors=True)
    shown = {**arguments, "data": "a YOLO-format view zoo wrote (removed after training)"}
    library = {"arguments": {k: v for k, v in shown.items() if k != "project"}, "ultralytics": ultralytics.__version__,
               "defaults": "ultralytics' own optimiser ('auto'), warm-up, schedule and augmentation",
               "results_csv": "run/results.csv"}  # fmt: skip
    return Finetuned(CHECKPOINT, base_weights, library)


def _epoch_end(trainer: Any, session: Session) -> None:
    """After ultralytics saved ``last.pt``: the epoch's mean loss (the sum of its loss terms), ultralytics' own
    validation numbers, and zoo's validation AP of that checkpoint."""
    items = getattr(trainer, "tloss", None)  # the epoch's running mean of each loss term (a dict, or a tensor)
    values = items.values() if isinstance(items, dict) else (items if items is not None else [])
    loss = float(sum(float(v) for v in values)) if items is not None else None
    own = {k: round(float(v), 6) for k, v in (getattr(trainer, "metrics", None) or {}).items()}
    checkpoint = Path(trainer.last) if session.val is not None else None
    session.epoch_end(trainer.epoch + 1, loss, checkpoint, ultralytics_metrics=own)
    if session.settings.minutes is not None and session.expired():
        trainer.stop = True


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """ultralytics' logger into the model's log (its handlers write to the stdout they found on import)."""
    logger = logging.getLogger("ultralytics")
    level = logger.level
    streams = [(h, h.stream, h.level) for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    with open(path, "a", encoding="utf-8") as log:
        for handler, _, _ in streams:
            handler.setStream(log)
            handler.setLevel(logging.INFO)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.setLevel(level)
            for handler, stream, handler_level in streams:
                handler.setStream(stream)
                handler.setLevel(handler_level)


def _sha(path: Path) -> str:

    return sha256_prefix(path)
