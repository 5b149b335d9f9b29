"""Fine-tuning torchvision's detectors the way torchvision's detection references train them
(``references/detection/train.py`` and its README): the model's own losses in train mode, SGD with momentum 0.9,
the learning rate of the reference command scaled linearly to zoo's batch, a linear warm-up over the first epoch
(factor 1/1000, at most 1000 iterations) and the reference schedule (steps at the same fractions of the run, or
cosine for SSDlite), random horizontal flips. The layers whose shape depends on the number of classes are built for
the dataset's classes (background first, as torchvision counts); every other layer starts from the COCO weights
when they are on this machine, else from an untrained copy ("from scratch")."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from zoo.adapt.folder import FROM_SCRATCH
from zoo.adapt.training import Finetuned, Session, run_epochs
from zoo.model import WeightsUnavailable
from zoo.torchvision_support import TorchvisionWeights, set_input_size

CHECKPOINT = "model.pth"

# builder prefix -> the reference command's lr, total batch (8 GPUs), weight decay, schedule; from
# torchvision/references/detection/README.md
RECIPES = {
    "fasterrcnn": {"lr": 0.02, "batch": 16, "weight_decay": 1e-4, "schedule": "multistep", "steps": (16 / 26, 22 / 26)},
    "retinanet": {"lr": 0.01, "batch": 16, "weight_decay": 1e-4, "schedule": "multistep", "steps": (16 / 26, 22 / 26)},
    "fcos": {"lr": 0.01, "batch": 16, "weight_decay": 1e-4, "schedule": "multistep", "steps": (16 / 26, 22 / 26)},
    "ssd300": {"lr": 0.002, "batch": 32, "weight_decay": 5e-4, "schedule": "multistep", "steps": (80 / 120, 110 / 120)},
    "ssdlite": {"lr": 0.15, "batch": 192, "weight_decay": 4e-5, "schedule": "cosine", "steps": ()},
}


def finetune_recipe(builder: str, batch: int) -> dict[str, Any]:
    """The reference recipe for ``builder``, its learning rate scaled to ``batch`` images per step."""
    recipe = next(value for prefix, value in RECIPES.items() if builder.startswith(prefix))
    return {**recipe, "lr": recipe["lr"] * batch / recipe["batch"], "reference_lr": recipe["lr"],
            "reference_batch": recipe["batch"], "momentum": 0.9, "optimizer": "SGD"}  # fmt: skip


def build(model: Any, session: Session, keep_all: str) -> tuple[Any, str, list[str]]:
    """The module with the dataset's classes, its base weights' identity, and its labels (background first)."""
    import torch
    import torchvision

    labels = ["__background__", *(c.name for c in session.dataset.categories)]
    options = {keep_all: 0.0, "num_classes": len(labels)}
    torch.manual_seed(session.settings.seed)
    module = torchvision.models.get_model(model.builder, weights=None, weights_backbone=None, **options)
    base = FROM_SCRATCH
    if model.weights != "untrained" and not session.settings.from_scratch:
        try:
            loaded = TorchvisionWeights(model.builder, model.weights).build(model.name, **{keep_all: 0.0})
        except WeightsUnavailable as error:
            print(f"base weights not here ({error}); training from scratch", flush=True)
        else:
            own = module.state_dict()
            shared = {k: v for k, v in loaded.module.state_dict().items() if k in own and own[k].shape == v.shape}
            module.load_state_dict(shared, strict=False)
            base = f"{loaded.identity}; {len(own) - len(shared)} tensors rebuilt for {len(labels) - 1} classes"
    return module, base, labels


def finetune(model: Any, session: Session, keep_all: str) -> Finetuned:
    """Train ``model`` (a `TorchvisionDetector` not yet loaded) on the session's dataset; the checkpoint is
    ``{"model": state_dict, "zoo": {"builder", "labels", "imgsz"}}``, which the plugin's ``load`` reads."""
    import torch

    settings = session.settings
    module, base, labels = build(model, session, keep_all)
    imgsz = settings.imgsz or model.imgsz
    if imgsz is not None:
        set_input_size(module.transform, imgsz)
    module.to(settings.device).train()
    recipe = finetune_recipe(model.builder, settings.batch)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=recipe["lr"], momentum=0.9, weight_decay=recipe["weight_decay"])
    images = session.dataset.images
    steps_per_epoch = max(1, math.ceil(len(images) / settings.batch))
    warmup = min(1000, steps_per_epoch - 1)
    rng = np.random.default_rng(settings.seed)
    path = session.out / CHECKPOINT
    meta = {"builder": model.builder, "labels": labels, "imgsz": imgsz}
    index = {c.id: i + 1 for i, c in enumerate(session.dataset.categories)}

    def loss_of(indices: list[int], epoch: int, step: int) -> tuple[Any, str]:
        batch = [_sample(images[i], index, rng, settings.device) for i in indices]
        for group in optimizer.param_groups:
            group["lr"] = recipe["lr"] * _factor(recipe, step, warmup, epoch, settings.max_epochs, session)
        parts = module([image for image, _ in batch], [target for _, target in batch])
        return sum(parts.values()), f" ({_show(parts)})"

    def save() -> Any:
        _save(module, meta, path)
        module.train()
        return path

    session.start(save())  # the model before its first step
    step = run_epochs(session, optimizer, rng, loss_of, save)
    library = {**recipe, "batch": settings.batch, "warmup_iters": warmup, "augmentation": "random horizontal flip",
               "steps": step, "torch": torch.__version__}  # fmt: skip
    return Finetuned(CHECKPOINT, base, library)


def _factor(recipe: dict[str, Any], step: int, warmup: int, epoch: int, epochs: int, session: Session) -> float:
    """The learning-rate factor: warm-up in the first epoch, then the reference's steps (0.1 each) or cosine, over
    the run's epochs (over the time budget with ``--minutes``)."""
    if epoch == 1 and step < warmup:
        alpha = step / warmup
        return 0.001 * (1 - alpha) + alpha
    minutes = session.settings.minutes
    progress = min(1.0, session.elapsed() / (minutes * 60)) if minutes and not session.settings.epochs else (
        (epoch - 1) / epochs)  # fmt: skip
    if recipe["schedule"] == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return 0.1 ** sum(progress >= s for s in recipe["steps"])


def _sample(record: Any, index: dict[int, int], rng: np.random.Generator, device: str) -> tuple[Any, dict]:
    """One image and its target as torchvision's detection models take them, flipped horizontally half the time."""
    import torch

    pixels = record.load()
    keep = ~record.iscrowd
    boxes = record.boxes[keep].astype(np.float32).copy()
    labels = np.array([index[int(c)] for c in record.category_ids[keep]], dtype=np.int64)
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
        boxes[:, [0, 2]] = record.width - boxes[:, [2, 0]]
    image = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float().div_(255).to(device)
    target = {"boxes": torch.from_numpy(boxes).reshape(-1, 4).to(device), "labels": torch.from_numpy(labels).to(device)}
    return image, target


def _save(module: Any, meta: dict[str, Any], path: Any) -> None:
    """The checkpoint, written under a temporary name and renamed into place."""
    import torch

    temporary = path.with_name(f".{path.name}.tmp")
    torch.save({"model": module.state_dict(), "zoo": meta}, temporary)
    os.replace(temporary, path)
    module.eval()


def _show(parts: dict[str, Any]) -> str:
    return ", ".join(f"{name} {float(value.detach()):.3f}" for name, value in parts.items())
