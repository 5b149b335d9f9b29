"""Fine-tuning a transformers DETR-style detector on a dataset's classes: the model's own loss (Hungarian matching
inside the model) through ``model(pixel_values, labels=...)``, its own image processor preparing images and COCO
annotations, and DETR's published recipe (AdamW, lr 1e-4 and 1e-5 for the backbone, weight decay 1e-4, gradient
clipping at 0.1, the learning rate divided by 10 at two thirds of the run, horizontal flips).

With the checkpoint on this machine, ``from_pretrained(..., num_labels, id2label, ignore_mismatched_sizes=True)``
keeps every layer but the class head; without it (offline, ``--from-scratch``) the architecture is built from its
config class with the dataset's labels: "from scratch". The checkpoint is a ``save_pretrained`` folder (model and
image processor) the plugin loads as any local folder."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.adapt.folder import FROM_SCRATCH

CHECKPOINT = "model"
RECIPE = {
    "optimizer": "AdamW",
    "lr": 1e-4,
    "lr_backbone": 1e-5,
    "weight_decay": 1e-4,
    "clip_max_norm": 0.1,
    "lr_drop": "x0.1 at 2/3 of the run",
    "source": "DETR (Carion et al. 2020), facebookresearch/detr main.py",
}


def build(detector: Any, session: Any) -> tuple[Any, Any, str]:
    """The module with the dataset's labels, its image processor, and what it started from."""
    import torch

    import transformers

    from .detector import _no_pretrained_backbone

    names = [c.name for c in session.dataset.categories]
    id2label = dict(enumerate(names))
    labels = {"id2label": id2label, "label2id": {n: i for i, n in id2label.items()}}
    torch.manual_seed(session.settings.seed)
    source = detector._source()
    if source.kind != "untrained" and not session.settings.from_scratch:
        found = detector._find(source)
        if found.folder is not None and not found.missing:
            options = {"local_files_only": True, "num_labels": len(names), **labels}
            config = transformers.AutoConfig.from_pretrained(found.folder, **options)
            _no_pretrained_backbone(config)
            module = transformers.AutoModelForObjectDetection.from_pretrained(
                found.folder, config=config, ignore_mismatched_sizes=True, local_files_only=True
            )
            processor = transformers.AutoImageProcessor.from_pretrained(found.folder, local_files_only=True)
            return module, processor, f"{source.name} ({found.folder}); class head rebuilt for {len(names)} classes"
        print(f"base weights not here ({detector._missing_message(source, found)}); training from scratch")
    config = getattr(transformers, detector.config_class)(**detector.architecture, **labels)
    _no_pretrained_backbone(config)
    module = getattr(transformers, detector.model_class)(config)
    processor = getattr(transformers, detector.processor_class)(**detector.processor_options)
    return module, processor, FROM_SCRATCH


def finetune(detector: Any, session: Any) -> Any:
    """Train and save; ``session.epoch_end`` after every epoch with the saved folder."""
    import torch

    import transformers
    from zoo.adapt.training import Finetuned, run_epochs

    settings = session.settings
    module, processor, base = build(detector, session)
    if settings.imgsz or detector.imgsz:
        detector.imgsz = settings.imgsz or detector.imgsz
        detector._resize(processor)
    module.to(settings.device).train()
    backbone = [p for n, p in module.named_parameters() if "backbone" in n and p.requires_grad]
    rest = [p for n, p in module.named_parameters() if "backbone" not in n and p.requires_grad]
    groups = [{"params": rest, "lr": RECIPE["lr"]}, {"params": backbone, "lr": RECIPE["lr_backbone"]}]
    optimizer = torch.optim.AdamW(groups, weight_decay=RECIPE["weight_decay"])
    index = {c.id: i for i, c in enumerate(session.dataset.categories)}
    images = session.dataset.images
    rng = np.random.default_rng(settings.seed)
    path = session.out / CHECKPOINT

    def loss_of(indices: list[int], epoch: int, step: int) -> tuple[Any, str]:
        return module(**_batch(processor, [images[i] for i in indices], index, rng, settings.device)).loss, ""

    def save() -> Any:
        module.save_pretrained(path)
        processor.save_pretrained(path)
        return path

    def set_lr(epoch: int) -> None:
        _set_lr(optimizer, groups, epoch, session)

    session.start(save())  # the model before its first step
    clip = (list(module.parameters()), RECIPE["clip_max_norm"])
    step = run_epochs(session, optimizer, rng, loss_of, save, epoch_start=set_lr, clip=clip)
    library = {**RECIPE, "batch": settings.batch, "steps": step, "processor": type(processor).__name__,
               "size": dict(processor.size), "transformers": transformers.__version__}  # fmt: skip
    return Finetuned(CHECKPOINT, base, library)


def _set_lr(optimizer: Any, groups: list[dict], epoch: int, session: Any) -> None:
    settings = session.settings
    if settings.minutes is not None and not settings.epochs:
        progress = session.elapsed() / (settings.minutes * 60)
    else:
        progress = (epoch - 1) / settings.max_epochs
    factor = 0.1 if progress >= 2 / 3 else 1.0
    for group, base in zip(optimizer.param_groups, (RECIPE["lr"], RECIPE["lr_backbone"])):
        group["lr"] = base * factor


def _batch(processor: Any, records: list, index: dict[int, int], rng: np.random.Generator, device: str) -> dict:
    """The processor's own preparation of images and COCO annotations (resize, normalise, pad, boxes to cxcywh),
    each image flipped horizontally half the time."""
    pictures, annotations = [], []
    for record in records:
        pixels = record.load()
        boxes = record.boxes.copy()
        if rng.random() < 0.5:
            pixels = np.ascontiguousarray(pixels[:, ::-1])
            boxes[:, [0, 2]] = record.width - boxes[:, [2, 0]]
        items = [
            {"bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "category_id": index[int(c)],
             "area": float((x2 - x1) * (y2 - y1)), "iscrowd": 0}
            for (x1, y1, x2, y2), c, crowd in zip(boxes, record.category_ids, record.iscrowd) if not crowd
        ]  # fmt: skip
        pictures.append(pixels)
        annotations.append({"image_id": record.id, "annotations": items})
    encoded = processor(images=pictures, annotations=annotations, return_tensors="pt")
    batch = {"pixel_values": encoded["pixel_values"].to(device)}
    if "pixel_mask" in encoded:
        batch["pixel_mask"] = encoded["pixel_mask"].to(device)
    batch["labels"] = [{k: v.to(device) for k, v in label.items()} for label in encoded["labels"]]
    return batch
