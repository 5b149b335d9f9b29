"""torchvision's COCO detectors: Faster R-CNN, SSD, RetinaNet and FCOS, through one wrapper.

Weights come through torchvision's own weight enums and cache (``$TORCH_HOME/hub/checkpoints``); zoo never
downloads during a run: a missing file is reported with the URL to fetch and where to put it. ``weights:`` in
``registry.yaml`` (or ``--weights ID=PATH``) may name an enum value (``COCO_V1``, ``DEFAULT``), a local
``.pth`` state-dict file, or ``untrained``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np

import zoo

# builder name -> (family, weights enum name, the builder's "keep every score" argument)
BUILDERS = {
    "fasterrcnn_resnet50_fpn": ("faster-rcnn", "FasterRCNN_ResNet50_FPN_Weights", "box_score_thresh"),
    "fasterrcnn_resnet50_fpn_v2": ("faster-rcnn", "FasterRCNN_ResNet50_FPN_V2_Weights", "box_score_thresh"),
    "fasterrcnn_mobilenet_v3_large_fpn": (
        "faster-rcnn",
        "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
        "box_score_thresh",
    ),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (
        "faster-rcnn",
        "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
        "box_score_thresh",
    ),
    "ssd300_vgg16": ("ssd", "SSD300_VGG16_Weights", "score_thresh"),
    "ssdlite320_mobilenet_v3_large": ("ssd", "SSDLite320_MobileNet_V3_Large_Weights", "score_thresh"),
    "retinanet_resnet50_fpn": ("retinanet", "RetinaNet_ResNet50_FPN_Weights", "score_thresh"),
    "retinanet_resnet50_fpn_v2": ("retinanet", "RetinaNet_ResNet50_FPN_V2_Weights", "score_thresh"),
    "fcos_resnet50_fpn": ("fcos", "FCOS_ResNet50_FPN_Weights", "score_thresh"),
}


def checkpoint_dir() -> Path:
    """Where torchvision looks for downloaded weights: ``$TORCH_HOME/hub/checkpoints``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


class TorchvisionDetector(zoo.Model):
    framework = "torchvision"
    builder: ClassVar[str]

    def __init__(self, *, weights: str | None = None, imgsz: int | None = None) -> None:
        super().__init__(weights=weights)
        self.imgsz = imgsz
        self.module = None

    def _enum(self):
        from torchvision.models import get_model_weights

        return get_model_weights(self.builder)

    def _source(self):
        """What ``weights`` names: ("untrained", None), ("file", Path) or ("enum", enum member)."""
        value = self.weights or "DEFAULT"
        if value == zoo.UNTRAINED:
            return "untrained", None
        enum = self._enum()
        if value in enum.__members__ or value == "DEFAULT":
            return "enum", enum[value] if value != "DEFAULT" else enum.DEFAULT
        return "file", Path(value).expanduser()

    def check_weights(self) -> zoo.WeightsCheck:
        kind, source = self._source()
        if kind == "untrained":
            return zoo.WeightsCheck("none", hint="untrained: random initialisation")
        path = source if kind == "file" else checkpoint_dir() / Path(source.url).name
        if path.is_file():
            return zoo.WeightsCheck("found", str(path))
        hint = f"put {source.url} at {path}" if kind == "enum" else f"no file at {path}"
        return zoo.WeightsCheck("missing", str(path), hint)

    def load(self, device: str) -> None:
        import torch
        import torchvision

        kind, source = self._source()
        family, _, keep_all = BUILDERS[self.builder]
        options = {keep_all: 0.0}
        self.published = None
        self.labels = list(self._enum().DEFAULT.meta["categories"])
        if kind == "enum":
            path = checkpoint_dir() / Path(source.url).name
            if not path.is_file():
                raise zoo.WeightsUnavailable(
                    f"{path.name} is not in {path.parent}; download {source.url} there on a connected machine, "
                    f"or give a local file with --weights {self.name}=PATH"
                )
            module = torchvision.models.get_model(self.builder, weights=source, **options)
            self.labels = list(source.meta["categories"])
            self.published = source.meta.get("_metrics", {}).get("COCO-val2017", {}).get("box_map")
            self.identity = f"torchvision {source} ({path.name})"
        else:
            module = torchvision.models.get_model(self.builder, weights=None, weights_backbone=None, **options)
            if kind == "file":
                if not source.is_file():
                    raise zoo.WeightsUnavailable(f"weights file {source} not found; check the path")
                state = torch.load(source, map_location="cpu", weights_only=True)
                module.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
                digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
                self.identity = f"{source} (sha256 {digest})"
            else:
                self.identity = zoo.UNTRAINED
        if self.imgsz is not None:
            self._resize(module.transform)
        self.module = module.eval().to(device)

    def _resize(self, transform) -> None:
        """``imgsz``: a fixed square input for SSD; else the shorter side, the longer scaled in proportion."""
        if getattr(transform, "fixed_size", None):
            transform.fixed_size = (self.imgsz, self.imgsz)
            transform.min_size, transform.max_size = (self.imgsz,), self.imgsz
        else:
            ratio = transform.max_size / transform.min_size[0]
            transform.min_size, transform.max_size = (self.imgsz,), round(self.imgsz * ratio)

    def info(self) -> zoo.ModelInfo:
        transform = self.module.transform
        if getattr(transform, "fixed_size", None):
            size = "x".join(str(s) for s in transform.fixed_size)
        else:
            size = f"shorter side {transform.min_size[0]}, longer ≤ {transform.max_size}"
        params = sum(p.numel() for p in self.module.parameters())
        return zoo.ModelInfo(
            num_params=params,
            input_size=size,
            weights=self.identity,
            published_map=self.published / 100 if self.published is not None else None,
            published_source="torchvision weights metadata, COCO val2017" if self.published is not None else None,
        )

    def preprocess(self, images: list[np.ndarray]):
        import torch

        return [torch.from_numpy(image).to(self.device).permute(2, 0, 1).float().div_(255) for image in images]

    def forward(self, batch):
        import torch

        with torch.inference_mode():
            return self.module(batch)

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        return [
            zoo.Detections(out["boxes"].cpu().numpy(), out["scores"].cpu().numpy(), out["labels"].cpu().numpy())
            for out in outputs
        ]


def _model_class(builder: str) -> type[TorchvisionDetector]:
    family = BUILDERS[builder][0]
    return type(
        builder,
        (TorchvisionDetector,),
        {
            "name": builder,
            "builder": builder,
            "family": family,
            "description": f"torchvision {builder} (COCO)",
            "__doc__": f"torchvision's {builder}.",
        },
    )


@zoo.hookimpl
def register_models(register):
    for builder in BUILDERS:
        register(_model_class(builder))
