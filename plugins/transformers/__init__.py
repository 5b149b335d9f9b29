"""Hugging Face transformers' DETR-style detectors: DETR, Conditional DETR, Deformable DETR, RT-DETR and YOLOS.

Weights come through transformers' own ``from_pretrained`` and the Hugging Face cache (``$HF_HUB_CACHE``, else
``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``; ``huggingface/`` in a ``--weights-dir`` folder), always with
``local_files_only=True``: the model never downloads. zoo fetches the official files (``remote_files``: the config,
the image processor's config and the weights, at the revision zoo pins) with huggingface_hub before the model is
measured, or ahead of time with ``zoo pull``. ``weights:`` in ``registry.yaml`` (or ``--weights ID=PATH``) may name

- nothing: the model's hub id (``facebook/detr-resnet-50``) at its pinned commit (``revision`` below; ``main``
  where none is pinned: the commit ``refs/main`` points to);
- another hub id, optionally at a revision (``facebook/detr-resnet-50@<commit>``), from the cache;
- a local folder written by ``model.save_pretrained(folder)`` and ``image_processor.save_pretrained(folder)``;
- ``untrained``: the architecture built from transformers' config class with random weights and COCO labels,
  without reading the hub or the cache (zoo times it when the weights are missing).

A DETR-family config names a timm ResNet backbone and may ask for its ImageNet weights
(``use_pretrained_backbone``), which would download them: every model is built with that switched off, since the
detector's own checkpoint holds the backbone's weights.

The steps zoo times: ``preprocess`` is the model's own image processor (its native resize, rescale, normalise and
padding), ``forward`` the network under ``torch.inference_mode``, ``postprocess`` the processor's
``post_process_object_detection`` at threshold 0 with the original image sizes, so boxes are ``xyxy`` in the
original pixels. ``imgsz`` sets the processor's size: the shorter side (the longer limit scaled in proportion), or
the fixed square input of RT-DETR. zoo predicts at batch 1 for accuracy: DETR-style models pad a batch to its
largest image (with a pixel mask), which costs DETR some AP, so only throughput is measured at ``--batch``.
"""

from __future__ import annotations

import zoo

from .checkpoints import MODELS
from .detector import TransformersDetector, hub_cache_dir
from .labels import COCO_CLASSES, coco_id2label, labels_from_id2label

__all__ = ["COCO_CLASSES", "MODELS", "TransformersDetector", "coco_id2label", "hub_cache_dir", "labels_from_id2label"]


def _model_class(model_id: str) -> type[TransformersDetector]:
    spec = MODELS[model_id]
    return type(
        model_id.replace("-", "_"),
        (TransformersDetector,),
        {"name": model_id, "__doc__": f"{spec['description']}.", "__module__": __name__, **spec},
    )


@zoo.hookimpl
def register_models(register):
    for model_id in MODELS:
        register(_model_class(model_id))
