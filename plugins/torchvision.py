"""torchvision's COCO detectors: Faster R-CNN, SSD, RetinaNet and FCOS, through one wrapper.

Weights come through torchvision's own weight enums and cache (``$TORCH_HOME/hub/checkpoints``): zoo fetches the
official checkpoint before a run measures the model (or ``zoo pull`` ahead of time) and checks it against the hash
in its name; the model itself never touches the network. ``weights:`` in
``registry.yaml`` (or ``--weights ID=PATH``) may name an enum value (``COCO_V1``, ``DEFAULT``), a local
``.pth`` state-dict file, or ``untrained``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

import zoo
from zoo.torchvision_support import TorchvisionWeights, input_size, set_input_size, set_score_thresh

# builder name -> (family, the builder's argument that keeps every score: zoo scores at confidence 0)
BUILDERS = {
    "fasterrcnn_resnet50_fpn": ("faster-rcnn", "box_score_thresh"),
    "fasterrcnn_resnet50_fpn_v2": ("faster-rcnn", "box_score_thresh"),
    "fasterrcnn_mobilenet_v3_large_fpn": ("faster-rcnn", "box_score_thresh"),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("faster-rcnn", "box_score_thresh"),
    "ssd300_vgg16": ("ssd", "score_thresh"),
    "ssdlite320_mobilenet_v3_large": ("ssd", "score_thresh"),
    "retinanet_resnet50_fpn": ("retinanet", "score_thresh"),
    "retinanet_resnet50_fpn_v2": ("retinanet", "score_thresh"),
    "fcos_resnet50_fpn": ("fcos", "score_thresh"),
}


class TorchvisionDetector(zoo.Model):
    framework = "torchvision"
    builder: ClassVar[str]

    def __init__(self, *, weights: str | None = None, imgsz: int | None = None) -> None:
        super().__init__(weights=weights)
        self.imgsz = imgsz
        self.module = None

    def _weights(self) -> TorchvisionWeights:
        return TorchvisionWeights(self.builder, self.weights)

    def check_weights(self) -> zoo.WeightsCheck:
        return self._weights().check()

    def remote_files(self) -> list[zoo.RemoteFile]:
        return self._weights().remote_files()

    def load(self, device: str) -> None:
        keep_all = BUILDERS[self.builder][1]
        loaded = self._weights().build(self.name, **{keep_all: 0.0})
        self.labels, self.identity, self.published = loaded.labels, loaded.identity, loaded.published_map
        imgsz = self.imgsz or loaded.meta.get("imgsz")  # a fine-tuned checkpoint runs at the size it trained at
        if imgsz is not None:
            set_input_size(loaded.module.transform, imgsz)
        self.module = loaded.module.eval().to(device)

    def set_score_threshold(self, conf: float) -> bool:
        """torchvision's own threshold, the one the builder's argument set to 0 for accuracy: Faster R-CNN's
        ``roi_heads.score_thresh``, SSD's, RetinaNet's and FCOS's ``score_thresh``, applied before their NMS."""
        set_score_thresh(self.module, conf)
        return True

    def info(self) -> zoo.ModelInfo:
        return zoo.ModelInfo(
            num_params=sum(p.numel() for p in self.module.parameters()),
            input_size=input_size(self.module.transform),
            weights=self.identity,
            published_map=self.published,
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

    def finetune(self, session):
        """Fine-tune on the session's dataset with torchvision's detection references' recipe (`finetune_recipe`):
        the class-dependent layers rebuilt for the dataset's classes, the rest from the COCO weights when they are
        here (else an untrained copy: "from scratch"), the model's own losses in train mode."""
        from zoo.adapt.torchvision_training import finetune

        return finetune(self, session, BUILDERS[self.builder][1])


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
