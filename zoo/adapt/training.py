"""``zoo train --models``: each selected model fine-tuned on one dataset through its plugin's ``finetune``, its
checkpoint and manifest written into the training folder (`zoo.adapt.folder`), one progress bar per model.

A plugin's model offers ``finetune(session: Session) -> Finetuned``: it trains with its library's own machinery,
writes its checkpoint into ``session.out``, calls ``session.start(...)`` with the model it starts from (before the
first step) and ``session.epoch_end(...)`` after every epoch; zoo measures the validation AP there (on the
checkpoint, as ``zoo run --trained`` would), so the manifest shows what the training bought, and keeps the time
budget. A model whose class has no ``finetune`` gets the status ``unsupported`` with its class's
``finetune_unsupported`` reason.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from zoo.adapt.folder import FROM_SCRATCH, TrainingFolder, dataset_record, image_digests
from zoo.adapt.scoring import score_checkpoint
from zoo.data import Dataset
from zoo.model import UNTRAINED
from zoo.plugins import Plugins
from zoo.registry import Entry, build_model

OK, FAILED, UNSUPPORTED = "ok", "failed", "unsupported"
DEFAULT_EPOCHS = 10


@dataclass(frozen=True)
class TrainSettings:
    """Every knob of a training, recorded in the manifest."""

    epochs: int | None = None  # None: DEFAULT_EPOCHS, or as many as ``minutes`` allows
    minutes: float | None = None
    imgsz: int | None = None  # None: the model's own training size (each plugin says which)
    seed: int = 0
    device: str = "cpu"
    from_scratch: bool = False  # start from an untrained copy even where base weights are on the machine
    batch: int = 4
    threads: int | None = None

    @property
    def max_epochs(self) -> int:
        if self.epochs:
            return self.epochs
        return DEFAULT_EPOCHS if self.minutes is None else 10**6


@dataclass(frozen=True)
class Finetuned:
    """What a plugin's ``finetune`` returns: its checkpoint (a name inside ``session.out``) and how it trained."""

    checkpoint: str
    base_weights: str  # FROM_SCRATCH, or the identity of the weights it started from (file and sha256 prefix)
    library: dict[str, Any] = field(default_factory=dict)  # the library's settings: optimiser, lr, schedule, version


@dataclass
class Session:
    """One model's training as its plugin sees it: the data, the settings, where to write, and zoo's callbacks."""

    model_id: str
    dataset: Dataset
    val: Dataset | None
    settings: TrainSettings
    out: Path  # the staging folder: the checkpoint goes here
    log_path: Path  # the library's own output goes here
    evaluate: Callable[[Path], dict[str, Any]] | None = None  # checkpoint -> {map, map50, mean_iou} on ``val``
    progress: Callable[[str, float], None] = lambda text, done: None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, Any] | None = None  # the validation scores of the model before its first step
    started: float = field(default_factory=time.monotonic)
    paused: float = 0.0  # seconds spent measuring validation AP: not part of the time budget

    def elapsed(self) -> float:
        """Seconds of training so far (validation excluded)."""
        return time.monotonic() - self.started - self.paused

    def expired(self) -> bool:
        """Whether the ``--minutes`` budget is spent (never, with ``--epochs``)."""
        return self.settings.minutes is not None and self.elapsed() >= self.settings.minutes * 60

    def start(self, checkpoint: Path) -> None:
        """Record the validation AP of the model the training starts from (the untrained copy, or the base weights
        with the layers rebuilt for the dataset's classes), saved as ``checkpoint``, when ``--val`` was given."""
        if self.evaluate is not None:
            self.before = self._validate(checkpoint, "before training", 0)
            print(f"zoo: before training: val AP {self.before['map']}", flush=True)  # into logs/ID.log

    def epoch_end(self, epoch: int, loss: float | None, checkpoint: Path | None = None, **extra: Any) -> None:
        """Record an epoch: its mean training loss, and the validation AP of ``checkpoint`` when ``--val`` was given."""
        row: dict[str, Any] = {"epoch": epoch, "loss": loss, "seconds": round(self.elapsed(), 2), **extra}
        if self.evaluate is not None and checkpoint is not None:
            row["val"] = self._validate(checkpoint, f"epoch {epoch}: validation", self._done(epoch))
        self.epochs.append(row)
        shown = f"loss {loss:.4g}" if loss is not None else "loss ?"
        if row.get("val", {}).get("map") is not None:
            shown += f", val AP {row['val']['map']:.3f}"
        self.progress(f"epoch {epoch}: {shown}", self._done(epoch))
        print(f"zoo: epoch {epoch}: {shown} ({row['seconds']} s of training)", flush=True)  # into logs/ID.log

    def _validate(self, checkpoint: Path, text: str, done: float) -> dict[str, Any]:
        """``evaluate(checkpoint)``, its time left out of the training's."""
        assert self.evaluate is not None
        begun = time.monotonic()
        self.progress(text, done)
        try:
            return self.evaluate(checkpoint)
        finally:
            self.paused += time.monotonic() - begun

    def _done(self, epoch: int) -> float:
        if self.settings.minutes is not None and not self.settings.epochs:
            return min(1.0, self.elapsed() / (self.settings.minutes * 60))
        return epoch / self.settings.max_epochs


def run_epochs(
    session: Session,
    optimizer: Any,
    rng: np.random.Generator,
    loss_of: Callable[[list[int], int, int], tuple[Any, str]],
    save: Callable[[], Path],
    *,
    epoch_start: Callable[[int], None] = lambda epoch: None,
    clip: tuple[list[Any], float] | None = None,
) -> int:
    """The loop of a training whose library gives the model's losses but no loop (torchvision's detectors; DETR's
    recipe in transformers): every epoch a seeded order (``rng``) of the dataset's images in batches of ``--batch``;
    per batch ``loss_of(indices, epoch, step)`` gives the loss and words on its parts (" (...)" or ""), checked
    finite, then one optimiser step (the gradients of ``clip``'s parameters clipped to its norm); after every epoch
    ``save()`` writes the checkpoint and `Session.epoch_end` records it. Stops when the time budget is spent; returns
    the steps taken."""
    import torch

    settings = session.settings
    count = len(session.dataset.images)
    step = 0
    for epoch in range(1, settings.max_epochs + 1):
        epoch_start(epoch)
        losses = []
        order = rng.permutation(count)
        for start in range(0, count, settings.batch):
            loss, parts = loss_of([int(i) for i in order[start : start + settings.batch]], epoch, step)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at epoch {epoch}, step {step}{parts}")
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(*clip)
            optimizer.step()
            losses.append(value)
            step += 1
            print(f"epoch {epoch} step {step} loss {value:.4f}{parts}", flush=True)
            if session.expired():
                break
        session.epoch_end(epoch, float(np.mean(losses)), save(), steps=step)
        if session.expired():
            break
    return step


def train_model(
    entry: Entry,
    plugins: Plugins,
    dataset: Dataset,
    val: Dataset | None,
    settings: TrainSettings,
    folder: TrainingFolder,
    *,
    shots: int | None = None,
    progress: Callable[[str, float], None] = lambda text, done: None,
    command: str = "",
) -> dict[str, Any]:
    """Fine-tune one model; its row for the folder's index (``status``: ok, failed or unsupported, with the reason).
    Ctrl-C leaves nothing but the staging folder, which nothing reads."""

    row: dict[str, Any] = {"id": entry.id, "model": entry.model, "family": entry.family, "status": OK, "reason": ""}
    try:
        model = build_model(entry, plugins, UNTRAINED if settings.from_scratch else None, {})
    except Exception as error:
        return {**row, "status": FAILED, "reason": f"building the model failed: {type(error).__name__}: {error}"}
    if not callable(getattr(model, "finetune", None)):
        reason = getattr(model, "finetune_unsupported", "") or f"{type(model).__name__} has no finetune()"
        return {**row, "status": UNSUPPORTED, "reason": reason}
    model.device, model.threads = settings.device, settings.threads
    staged = folder.staging(entry.id)
    session = Session(entry.id, dataset, val, settings, staged, folder.log(entry.id), progress=progress)
    if val is not None:
        session.evaluate = lambda path: score_checkpoint(entry, plugins, path, val, settings.device)
    begun = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        with _library_output(session.log_path):
            finetuned = model.finetune(session)
    except Exception as error:
        shutil.rmtree(staged, ignore_errors=True)  # the traceback is in logs/ID.log
        with open(session.log_path, "a", encoding="utf-8") as log:
            traceback.print_exception(error, file=log)
        text = " ".join(str(error).split())
        return {**row, "status": FAILED, "reason": f"training failed: {type(error).__name__}: {text}"[:600]}
    manifest = {
        "model": entry.id,
        "family": entry.family,
        "framework": model.framework,
        "checkpoint": finetuned.checkpoint,
        "base_weights": finetuned.base_weights,
        "from_scratch": finetuned.base_weights == FROM_SCRATCH,
        "dataset": dataset_record(dataset),
        "val": dataset_record(val) if val is not None else None,
        "shots": shots,
        "settings": asdict(settings),
        "library": finetuned.library,
        "epochs_done": len(session.epochs),
        "minutes": round(session.elapsed() / 60, 3),
        "before": session.before,
        "history": session.epochs,
        "started": begun,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "image_digests": image_digests(dataset.images),
    }
    folder.finish(entry.id, staged, manifest)
    last = session.epochs[-1] if session.epochs else {}
    return {
        **row,
        "from_scratch": manifest["from_scratch"],
        "epochs": manifest["epochs_done"],
        "minutes": manifest["minutes"],
        "loss": last.get("loss"),
        "val": last.get("val"),
        "before": session.before,
    }


@contextlib.contextmanager
def _library_output(path: Path) -> Iterator[None]:
    """The library's prints and warnings into ``path`` while it trains (zoo's own bar keeps the real stderr)."""
    with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        print(f"--- training started {datetime.now(timezone.utc).isoformat(timespec='seconds')}", flush=True)
        yield
        print("--- training finished", flush=True)


def real_stderr() -> Any:
    """The terminal's stderr, for zoo's progress bars while the library's output goes to a log."""
    return sys.__stderr__
