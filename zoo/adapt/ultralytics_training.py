"""Fine-tuning an ultralytics model with ultralytics' own trainer (``model.train``) on a YOLO-format view of the
dataset (`zoo.adapt.yolo_view`): from the official checkpoint when it is on this machine (ultralytics keeps every
layer whose shape fits the dataset's classes), else from the architecture's yaml ("from scratch"). ultralytics'
defaults stand (its optimiser choice, warm-up, schedule and augmentation) except what zoo sets for every framework:
epochs or a time budget, input size, batch, seed, device; plus ``workers=0``, ``plots=False`` and ``amp=False``
(its AMP check downloads a model), validation each epoch only with ``--val``, and ``nbs`` (its nominal batch) set to
the batch: ultralytics otherwise accumulates gradients over 64 images before each step, so a 10-shot set of 30
images would get one step every other epoch, where torchvision's and transformers' recipes step after every batch.
Its integrations (MLflow, W&B, Ray Tune, ... when installed) are left out of zoo's trainings."""

from __future__ import annotations

import copy
import logging
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoo.adapt.folder import FROM_SCRATCH
from zoo.adapt.training import Finetuned, Session
from zoo.adapt.yolo_view import write_view
from zoo.files import sha256_prefix

CHECKPOINT = "model.pt"
START_CHECKPOINT = "before-training.pt"
# modules of ultralytics.utils.callbacks that report to services (and ultralytics.utils.events: usage analytics)
INTEGRATIONS = {"clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wb", "platform", "hub", "events"}
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
        "nbs": settings.batch,
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
    network.add_callback("on_pretrain_routine_start", _without_integrations)
    network.add_callback("on_train_start", lambda trainer: _start(trainer, session))
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


def _without_integrations(trainer: Any) -> None:
    """Drop the callbacks ultralytics adds for the experiment trackers installed beside it (MLflow, W&B, Ray Tune,
    ...) and its analytics: a zoo training records itself in its manifest, and writes nowhere the user did not ask."""
    for functions in trainer.callbacks.values():
        functions[:] = [f for f in functions if getattr(f, "__module__", "").rpartition(".")[2] not in INTEGRATIONS]


def _start(trainer: Any, session: Session) -> None:
    """The model before its first step, saved as ultralytics saves its checkpoints (the EMA copy it validates),
    for the validation AP the training starts from."""
    import torch

    if session.val is None:
        return
    path = session.out / START_CHECKPOINT
    torch.save({"model": None, "ema": copy.deepcopy(trainer.ema.ema), "train_args": vars(trainer.args)}, path)
    try:
        session.start(path)
    finally:
        path.unlink(missing_ok=True)


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
    """ultralytics' logger into the model's log (its handlers write to the stdout they found on import). Imported
    while zoo's training had stdout redirected to a log, they hold that log, closed since: they get the process's
    real stdout back afterwards, and are not flushed on the way in."""
    logger = logging.getLogger("ultralytics")
    level = logger.level
    streams = [(h, _lasting(h.stream), h.level) for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    with open(path, "a", encoding="utf-8") as log:
        for handler, _, _ in streams:
            handler.stream = log  # not setStream: it flushes the old stream, which may be closed
            handler.setLevel(logging.INFO)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.setLevel(level)
            for handler, stream, handler_level in streams:
                handler.setStream(stream)
                handler.setLevel(handler_level)


def _lasting(stream: Any) -> Any:
    """``stream``, unless it is a redirected stdout (zoo's, during a training) or closed: then the real stdout."""
    if getattr(stream, "closed", False) or (stream is sys.stdout and sys.stdout is not sys.__stdout__):
        return sys.__stdout__
    return stream


def _sha(path: Path) -> str:

    return sha256_prefix(path)
