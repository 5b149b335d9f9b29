"""``zoo train regressor``: fit the box regressor to one box per image of any dataset zoo reads, and save it.

- Target: each image's largest box by area (crowd / difficult regions left out), or with ``class_name`` the largest
  box of that category; images without one are skipped and counted.
- Hold-out: every 5th image with a target (the 5th, 10th, ... in the dataset's order) is kept for validation,
  whatever the seed; the validation mean IoU on those images is printed after every epoch.
- Input: every image is stretched to ``imgsz`` once, up front, and kept in memory as ``uint8`` (27 KiB an image at
  96 px), through the same `network.resize` the model's ``preprocess`` uses.
- Loss: L2 (mean squared error) between the sigmoid outputs and the target's (cx, cy, w, h) fractions.
- Augmentation: horizontal flips, vertical flips and transposes (the 8 flips and quarter turns of the square),
  each drawn per image from the seed; a box transforms exactly with its image.
- Optimiser: AdamW (lr 3e-3, weight decay 1e-4), batches of 32, a short linear warm-up then a cosine decay to 0 over
  the whole run (over the time budget with ``minutes``).
- Deterministic: the same seed, data, settings, torch version and thread count give the same checkpoint; with
  ``minutes`` the number of steps depends on the machine's speed, so only ``epochs`` runs repeat exactly.

The checkpoint is ``{"model": state_dict, "meta": {...}}`` written with ``torch.save``; the metadata holds only
strings, numbers, lists, dicts and None, so ``torch.load(path, weights_only=True)`` reads all of it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import zoo
from zoo.data import Dataset, ImageRecord
from zoo.errors import ZooError
from zoo.labels import normalise as normalise_name

from . import network

DEFAULT_EPOCHS = 20
DEFAULT_SEED = 0
BATCH = 32
LR = 3e-3
WEIGHT_DECAY = 1e-4
WARMUP_STEPS = 50
HOLDOUT_EVERY = 5
MIN_SIZE = 32  # smallest --imgsz


def pick_target(record: ImageRecord, category_id: int | None = None) -> np.ndarray | None:
    """The box the regressor learns for this image: the largest by area (of ``category_id`` if given), ignoring
    crowd / difficult regions; the first of equal ones; None when the image has no such box."""
    keep = ~record.iscrowd
    if category_id is not None:
        keep &= record.category_ids == category_id
    boxes = record.boxes[keep]
    if not len(boxes):
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[int(np.argmax(areas))]


def find_category(dataset: Dataset, name: str) -> tuple[int, str]:
    """The dataset category ``--class NAME`` means (case, ``_`` and ``-`` ignored): its id and its own spelling."""
    for category in dataset.categories:
        if normalise_name(category.name) == normalise_name(name):
            return category.id, category.name
    names = ", ".join(c.name for c in dataset.categories[:30]) + (" ..." if len(dataset.categories) > 30 else "")
    raise ZooError(f"--class {name}: {dataset.name} has no such category; its categories: {names}")


@dataclass(frozen=True)
class Targets:
    """The images that have a target, in dataset order, and the target box of each (absolute xyxy)."""

    records: list[ImageRecord]
    boxes: list[np.ndarray]
    skipped: int  # images without a target

    def split(self) -> tuple[list[int], list[int]]:
        """Positions of the training and the held-out validation images (every 5th)."""
        positions = range(len(self.records))
        val = [i for i in positions if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
        return [i for i in positions if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1], val


def select_targets(dataset: Dataset, category_id: int | None = None, class_name: str | None = None) -> Targets:
    """Each image's target; a dataset too small to hold out a validation image is a `ZooError`."""
    records, boxes = [], []
    for record in dataset.images:
        box = pick_target(record, category_id)
        if box is not None:
            records.append(record)
            boxes.append(box)
    skipped = len(dataset.images) - len(records)
    what = f"a {class_name!r} box" if class_name else "a box"
    if not records:
        raise ZooError(
            f"--data {dataset.source}: none of its {len(dataset.images)} images has {what} to train on; "
            "give a dataset with annotated boxes" + (" or another --class" if class_name else "")
        )
    if len(records) < HOLDOUT_EVERY:
        raise ZooError(
            f"--data {dataset.source}: only {len(records)} image(s) have {what}; training needs at least "
            f"{HOLDOUT_EVERY} (every {HOLDOUT_EVERY}th is held out for validation)"
        )
    return Targets(records, boxes, skipped)


def default_checkpoint_name(dataset: Dataset, class_name: str | None) -> str:
    """``regressor-shapes.pt`` for any shapes dataset, else ``regressor-<dataset>.pt``; ``-<class>`` when one class."""
    stem = "shapes" if dataset.format == "shapes" else dataset.name
    parts = ["regressor", stem] + ([class_name] if class_name else [])
    text = "-".join(parts)
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)
    return "-".join(filter(None, safe.split("-"))) + ".pt"


def augment(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips and transposes of a ``uint8 (N, 3, S, S)`` batch and its (cx, cy, w, h) targets."""
    x, y = x.clone(), y.clone()
    hflip, vflip, transpose = (torch.rand(len(x), generator=generator) < 0.5 for _ in range(3))
    x[hflip] = x[hflip].flip(-1)
    y[hflip, 0] = 1 - y[hflip, 0]
    x[vflip] = x[vflip].flip(-2)
    y[vflip, 1] = 1 - y[vflip, 1]
    x[transpose] = x[transpose].transpose(-1, -2)
    y[transpose] = y[transpose][:, [1, 0, 3, 2]]
    return x, y


def learning_rate(progress: float, step: int) -> float:
    """Linear warm-up over the first steps, then a cosine from ``LR`` to 0 as ``progress`` goes from 0 to 1."""
    return LR * min(1.0, (step + 1) / WARMUP_STEPS) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def validation_iou(
    net: torch.nn.Module, images: torch.Tensor, targets_xyxy: torch.Tensor, device: str = "cpu"
) -> float:
    """Mean IoU of the predicted box with the target box over the held-out images."""
    net.eval()
    with torch.inference_mode():
        predicted = torch.cat(
            [
                network.decode(net(network.normalise(images[i : i + 128].to(device)))).cpu()
                for i in range(0, len(images), 128)
            ]
        )
    net.train()
    return float(network.box_iou(predicted, targets_xyxy).mean())


def train(
    dataset: Dataset,
    *,
    class_name: str | None = None,
    epochs: int | None = None,
    minutes: float | None = None,
    imgsz: int | None = None,
    out: str | os.PathLike | None = None,
    seed: int | None = None,
    device: str = "cpu",
    console: Console | None = None,
    default_dir: Callable[[], Path],
) -> Path:
    """Train the regressor on ``dataset`` and save the checkpoint; return its path."""
    console = console or Console(stderr=True, highlight=False, emoji=False)
    if epochs is not None and minutes is not None:
        raise ZooError("give --epochs or --minutes, not both")
    if epochs is not None and epochs < 1:
        raise ZooError(f"--epochs {epochs}: give 1 or more")
    if minutes is not None and not minutes > 0:
        raise ZooError(f"--minutes {minutes}: give a positive number of minutes")
    imgsz = network.DEFAULT_IMGSZ if imgsz is None else imgsz
    if imgsz < MIN_SIZE or imgsz % network.STRIDE or imgsz > 1024:
        raise ZooError(f"--imgsz {imgsz}: give a multiple of {network.STRIDE} from {MIN_SIZE} to 1024 (default 96)")
    epochs = DEFAULT_EPOCHS if epochs is None and minutes is None else epochs
    seed = DEFAULT_SEED if seed is None else seed
    category_id = None
    if class_name is not None:
        category_id, class_name = find_category(dataset, class_name)
    targets = select_targets(dataset, category_id, class_name)
    path = Path(out).expanduser() if out else default_dir() / default_checkpoint_name(dataset, class_name)
    train_at, val_at = targets.split()
    rule = f"largest {class_name!r} box" if class_name else "largest box"
    console.print(
        f"zoo: training regressor on {dataset.name}: target = {rule} of each image; {len(train_at)} training and "
        f"{len(val_at)} held-out images" + (f", {targets.skipped} without a target skipped" if targets.skipped else ""),
        markup=False,
    )

    started = time.perf_counter()
    images, cxcywh = _prepare(targets, imgsz, console)
    xyxy = torch.cat([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1)
    train_images, train_targets = images[train_at], cxcywh[train_at]
    val_images, val_xyxy = images[val_at], xyxy[val_at]

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    arch = network.architecture(imgsz)
    net = network.build(arch).to(device)
    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    batch = min(BATCH, len(train_at))
    per_epoch = math.ceil(len(train_at) / batch)
    total_steps = epochs * per_epoch if epochs else None
    budget = minutes * 60 if minutes else None

    history: list[dict] = []
    step = 0
    fit_started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("training", total=total_steps)
        epoch, done = 0, False
        while not done:
            epoch += 1
            order = torch.randperm(len(train_at), generator=generator)
            losses = []
            for first in range(0, len(order), batch):
                elapsed = time.perf_counter() - fit_started
                if budget is not None and elapsed >= budget:
                    done = True
                    break
                progress_fraction = elapsed / budget if budget else step / total_steps
                for group in optimiser.param_groups:
                    group["lr"] = learning_rate(progress_fraction, step)
                chosen = order[first : first + batch]
                x, y = augment(train_images[chosen], train_targets[chosen], generator)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                loss = F.mse_loss(torch.sigmoid(net(network.normalise(x))), y)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
                step += 1
                label = f"epoch {epoch}" + (f"/{epochs}" if epochs else "") + f"  loss {np.mean(losses):.5f}"
                progress.update(task, completed=step, description=label)
            if epochs is not None and epoch >= epochs:
                done = True
            if not losses:  # the time ran out before this epoch took a step
                epoch -= 1
                break
            iou = validation_iou(net, val_images, val_xyxy, device)
            history.append(
                {"epoch": epoch, "steps": len(losses), "train_loss": float(np.mean(losses)), "val_mean_iou": iou}
            )
            console.print(
                f"  epoch {epoch}" + (f"/{epochs}" if epochs else "") + f"  train loss {np.mean(losses):.5f}  "
                f"val mean IoU {iou:.3f} ({len(val_at)} held-out images)  {time.perf_counter() - fit_started:.0f} s",
                markup=False,
            )
    if not history:
        raise ZooError(f"--minutes {minutes}: too short for a single training step; give more time")

    net.eval()
    final = history[-1]
    meta = {
        "format": network.FORMAT,
        "architecture": arch,
        "input_size": imgsz,
        "output": network.OUTPUT,
        "target": rule,
        "class": class_name,
        "dataset": {
            "source": dataset.source,
            "name": dataset.name,
            "format": dataset.format,
            "fingerprint": dataset.fingerprint,
            "images": len(dataset.images),
            "skipped_without_target": targets.skipped,
            "train_images": len(train_at),
            "val_images": len(val_at),
            "holdout": f"every {HOLDOUT_EVERY}th image with a target",
        },
        "epochs": len(history),
        "steps": step,
        "minutes_budget": minutes,
        "seed": seed,
        "batch": batch,
        "optimiser": f"AdamW lr {LR} weight decay {WEIGHT_DECAY}, {WARMUP_STEPS}-step warm-up, cosine to 0",
        "loss": "L2 (mean squared error) on sigmoid(cx, cy, w, h)",
        "augment": "random horizontal flip, vertical flip, transpose",
        "train_loss": final["train_loss"],
        "val_mean_iou": final["val_mean_iou"],
        "history": history,
        "train_seconds": round(time.perf_counter() - fit_started, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "device": device,
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "zoo": zoo.__version__,
    }
    save_checkpoint(path, {name: value.cpu() for name, value in net.state_dict().items()}, meta)
    console.print(
        f"zoo: saved {path} after {len(history)} epoch(s), {step} steps, {meta['train_seconds']:.0f} s of training: "
        f"train loss {final['train_loss']:.5f}, val mean IoU {final['val_mean_iou']:.3f}",
        markup=False,
    )
    return path


def _prepare(targets: Targets, imgsz: int, console: Console) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image with a target, stretched to ``imgsz`` as ``uint8``, and its target as (cx, cy, w, h) fractions."""
    images = torch.empty((len(targets.records), 3, imgsz, imgsz), dtype=torch.uint8)
    cxcywh = np.empty((len(targets.records), 4), dtype=np.float32)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        for i in progress.track(range(len(targets.records)), description=f"Resizing images to {imgsz}x{imgsz}"):
            record = targets.records[i]
            images[i] = network.resize(record.load(), imgsz)
            cxcywh[i] = network.to_cxcywh(targets.boxes[i], record.width, record.height)[0]
    return images, torch.from_numpy(cxcywh)


def save_checkpoint(path: Path, state_dict: dict, meta: dict) -> None:
    """Write ``{"model": state_dict, "meta": meta}`` atomically: a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"model": state_dict, "meta": meta}, partial)
    os.replace(partial, path)
