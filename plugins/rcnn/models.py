"""R-CNN (Girshick et al., CVPR 2014) and Fast R-CNN (Girshick, ICCV 2015), rebuilt from torchvision's parts.

No library ships either model, so both are put together from torchvision's COCO Faster R-CNN ResNet-50 FPN
(``fasterrcnn_resnet50_fpn``) — its CNN, its box head and predictor, its RoI pooling and its postprocessing — with
selective-search proposals (``selective_search.py``) in place of the region proposal network. They carry real COCO
weights, and differ from Faster R-CNN, and from each other, only in where the proposals come from and where the CNN
runs:

- **R-CNN** warps every proposal, dilated by 16 px of context at the warped size (the paper's appendix A; outside
  the image the mean pixel), to a fixed square and runs the CNN on each warped region, in chunks. The region's
  features are pooled to the box head's 7×7 input by RoIAlign over the whole warped region, from the FPN level
  torchvision's ``MultiScaleRoIAlign`` picks for a box that size; the box head and predictor give class scores
  and box deltas, decoded against the box the head saw (the context-dilated proposal), then torchvision's
  ``RoIHeads.postprocess_detections`` does per-class NMS.
- **Fast R-CNN** runs the CNN once on the whole image, through torchvision's own ``GeneralizedRCNNTransform``,
  and hands the proposals to the model's own ``roi_heads`` (``MultiScaleRoIAlign`` pooling from the shared
  feature maps, box head, predictor, postprocessing) exactly where Faster R-CNN hands it the RPN's.

Weights: the torchvision checkpoint where torchvision caches it (``$TORCH_HOME/hub/checkpoints``), fetched by zoo
when missing; ``weights:`` may also be ``COCO_V1``, ``DEFAULT``, a local ``.pth`` state dict, or ``untrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import zoo
from zoo.torchvision_support import TorchvisionWeights, input_size, set_input_size

from .selective_search import FAST, selective_search

BUILDER = "fasterrcnn_resnet50_fpn"
SCORE_THRESH = 0.0  # zoo scores every detection: no threshold before AP
DETECTIONS_PER_IMAGE = 100
# Selective search runs with the image's longer side at most this (k scaled to match): its cost grows with the
# pixels, and on shapes 640x480 recall@300 at IoU 0.5 was 0.98 at 400 as at full size, for 1/3 of the time.
SEARCH_MAX_SIDE = 400


def propose(image: np.ndarray, top: int) -> np.ndarray:
    """The ``top`` best-ranked selective-search proposals ("fast" mode) of an RGB image, in its pixels."""
    return selective_search(image, max_side=SEARCH_MAX_SIDE, top=top)


@dataclass
class Batch:
    """What ``preprocess`` hands ``forward``: each image as a float tensor and its proposals (original pixels)."""

    images: list[Any]  # (3, H, W) float tensors on the model's device
    proposals: list[Any]  # (N, 4) float tensors x1, y1, x2, y2


class _ProposalDetector(zoo.Model):
    """What R-CNN and Fast R-CNN share: torchvision's Faster R-CNN weights, labels, proposals, description."""

    framework = "torchvision"
    finetune_unsupported = (
        "R-CNN and Fast R-CNN reuse Faster R-CNN's COCO head on selective-search proposals; fine-tuning them "
        "means training their SVMs / heads per proposal, which zoo does not do (fine-tune a Faster R-CNN instead)"
    )

    def __init__(self, *, weights: str | None = None, proposals: int) -> None:
        super().__init__(weights=weights)
        if int(proposals) < 1:
            raise ValueError(f"proposals must be at least 1, got {proposals}")
        self.proposals = int(proposals)
        self.module = None

    def check_weights(self) -> zoo.WeightsCheck:
        return TorchvisionWeights(BUILDER, self.weights).check()

    def remote_files(self) -> list[zoo.RemoteFile]:
        return TorchvisionWeights(BUILDER, self.weights).remote_files()

    def load(self, device: str) -> None:
        options = {"box_score_thresh": SCORE_THRESH, "box_detections_per_img": DETECTIONS_PER_IMAGE}
        loaded = TorchvisionWeights(BUILDER, self.weights).build(self.name, **options)
        self.labels, self.identity, module = loaded.labels, loaded.identity, loaded.module
        module.rpn = None  # the region proposal network is what these models do without
        self.module = module.eval().to(device)
        self.device = device
        self._configure()

    def _configure(self) -> None:
        """Model-specific setup once the module is loaded."""

    def set_score_threshold(self, conf: float) -> bool:
        """The threshold of torchvision's ``RoIHeads.postprocess_detections``, which both models' forward ends
        with (before its per-class NMS): ``SCORE_THRESH`` for accuracy."""
        self.module.roi_heads.score_thresh = float(conf)
        return True

    def _settings(self) -> dict[str, Any]:
        heads = self.module.roi_heads
        return {
            "proposals": self.proposals,
            "proposal_method": "selective search, fast mode (Uijlings et al. 2013)",
            "selective_search": {
                "colour_spaces": list(FAST["colour_spaces"]),
                "k": list(FAST["ks"]),
                "similarities": list(FAST["strategies"]),
                "sigma": FAST["sigma"],
                "max_side": SEARCH_MAX_SIDE,
                "ranking": "RND x position from the top of each hierarchy, seed 0; duplicates dropped after",
            },
            "backbone_and_head": f"torchvision {BUILDER}",
            "score_thresh": heads.score_thresh,
            "nms_thresh": heads.nms_thresh,
            "detections_per_img": heads.detections_per_img,
        }

    def _params(self, *parts) -> int:
        return sum(p.numel() for part in parts for p in part.parameters())

    def _batch(self, images: list[np.ndarray]) -> Batch:
        """The images as ``(3, H, W)`` float tensors in 0..1 and their selective-search proposals."""
        import torch

        tensors = [torch.from_numpy(image).to(self.device).permute(2, 0, 1).float().div_(255) for image in images]
        proposals = [torch.from_numpy(propose(image, self.proposals)).to(self.device) for image in images]
        return Batch(tensors, proposals)

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        return [
            zoo.Detections(out["boxes"].cpu().numpy(), out["scores"].cpu().numpy(), out["labels"].cpu().numpy())
            for out in outputs
        ]


class RCNN(_ProposalDetector):
    """R-CNN: the CNN runs on every proposal, warped to ``warp`` × ``warp`` with ``context`` px of context."""

    name = "rcnn"
    family = "rcnn"
    description = "R-CNN (2014): selective search, CNN per warped region; torchvision Faster R-CNN R50-FPN parts"

    def __init__(
        self,
        *,
        weights: str | None = None,
        proposals: int = 300,
        warp: int = 224,
        context: int = 16,
        chunk: int = 16,
    ) -> None:
        super().__init__(weights=weights, proposals=proposals)
        self.warp, self.context, self.chunk = int(warp), int(context), int(chunk)
        if self.warp <= 2 * self.context or self.context < 0:
            raise ValueError(f"warp ({warp}) must exceed twice the context padding ({context}) and context be ≥ 0")
        if self.chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")

    def _configure(self) -> None:
        import torch
        from torchvision.ops import MultiScaleRoIAlign

        pool = self.module.roi_heads.box_roi_pool
        # a pooler of its own: the roi_heads' one keeps the scales of the first image it saw
        self.pool = MultiScaleRoIAlign(pool.featmap_names, pool.output_size, pool.sampling_ratio)
        transform = self.module.transform
        self.mean = torch.tensor(transform.image_mean, device=self.device).view(3, 1, 1)
        self.std = torch.tensor(transform.image_std, device=self.device).view(3, 1, 1)

    def info(self) -> zoo.ModelInfo:
        module = self.module
        settings = self._settings()
        settings.update(
            warp=self.warp,
            context_padding=self.context,
            chunk=self.chunk,
            pooling="RoIAlign 7x7 over the whole warped region, FPN level by torchvision's LevelMapper",
            box_regression_reference="the context-dilated proposal (the region the CNN saw)",
            outside_image="mean pixel (0 after normalisation)",
        )
        return zoo.ModelInfo(
            num_params=self._params(module.backbone, module.roi_heads),
            input_size=f"{self.warp}x{self.warp} per region ({self.context} px context), {self.proposals} regions",
            weights=self.identity,
            settings=settings,
        )

    def preprocess(self, images: list[np.ndarray]) -> Batch:
        batch = self._batch(images)
        batch.images = [(image - self.mean) / self.std for image in batch.images]  # as the model's transform does
        return batch

    def context_boxes(self, proposals):
        """Each proposal dilated so that, warped to ``warp`` × ``warp``, ``context`` px surround the proposal."""
        import torch

        half = (proposals[:, 2:] - proposals[:, :2]) * (self.context / (self.warp - 2 * self.context))
        return torch.cat([proposals[:, :2] - half, proposals[:, 2:] + half], dim=1)

    def score_regions(self, image, proposals):
        """Class logits and box deltas of each proposal of one normalised ``(3, H, W)`` image, and the box (the
        context-dilated proposal, image pixels) the CNN saw for each; the CNN runs on ``chunk`` regions at a time."""
        import math

        import torch
        from torchvision.ops import roi_align

        regions = self.context_boxes(proposals)
        # outside the image: zeros, the mean pixel once normalised (paper, appendix A)
        height, width = image.shape[-2:]
        overhang = torch.cat([-regions[:, :2], regions[:, 2:3] - width, regions[:, 3:4] - height], dim=1)
        margin = max(0, math.ceil(float(overhang.max()))) + 1 if len(regions) else 0
        padded = torch.nn.functional.pad(image, (margin, margin, margin, margin))[None]
        whole = torch.tensor([[0.0, 0.0, self.warp, self.warp]], device=image.device)
        logits, deltas = [], []
        heads = self.module.roi_heads
        for start in range(0, len(regions), self.chunk):
            part = regions[start : start + self.chunk]
            # warp: bilinear samples (averaged over each output pixel's footprint when shrinking)
            crops = roi_align(padded, [part + margin], (self.warp, self.warp), spatial_scale=1.0, aligned=True)
            features = self.module.backbone(crops)
            pooled = self.pool(features, [whole] * len(part), [(self.warp, self.warp)] * len(part))
            scores, boxes = heads.box_predictor(heads.box_head(pooled))
            logits.append(scores)
            deltas.append(boxes)
        return torch.cat(logits), torch.cat(deltas), regions

    def forward(self, batch: Batch):
        import torch

        outputs = []
        with torch.inference_mode():
            for image, proposals in zip(batch.images, batch.proposals):
                logits, deltas, regions = self.score_regions(image, proposals)
                boxes, scores, labels = self.module.roi_heads.postprocess_detections(
                    logits, deltas, [regions], [tuple(image.shape[-2:])]
                )
                outputs.append({"boxes": boxes[0], "scores": scores[0], "labels": labels[0]})
        return outputs


class FastRCNN(_ProposalDetector):
    """Fast R-CNN: the CNN runs once per image; every proposal is pooled from the shared feature maps."""

    name = "fast-rcnn"
    family = "fast-rcnn"
    description = "Fast R-CNN (2015): selective search + RoI pooling on shared features; torchvision R50-FPN parts"

    def __init__(self, *, weights: str | None = None, proposals: int = 1000, imgsz: int | None = None) -> None:
        super().__init__(weights=weights, proposals=proposals)
        self.imgsz = imgsz

    def _configure(self) -> None:
        if self.imgsz is not None:
            set_input_size(self.module.transform, self.imgsz)

    def info(self) -> zoo.ModelInfo:
        module = self.module
        transform = module.transform
        settings = self._settings()
        settings.update(
            min_size=transform.min_size[0],
            max_size=transform.max_size,
            pooling="torchvision MultiScaleRoIAlign (the model's roi_heads.box_roi_pool)",
        )
        return zoo.ModelInfo(
            num_params=self._params(module.backbone, module.roi_heads),
            input_size=input_size(transform),
            weights=self.identity,
            settings=settings,
        )

    def preprocess(self, images: list[np.ndarray]) -> Batch:
        return self._batch(images)

    def forward(self, batch: Batch):
        """Faster R-CNN's forward pass with the proposals given instead of the RPN's."""
        import torch
        from torchvision.models.detection.transform import resize_boxes

        module = self.module
        with torch.inference_mode():
            original_sizes = [tuple(image.shape[-2:]) for image in batch.images]
            images, _ = module.transform(batch.images)
            proposals = [
                resize_boxes(boxes, original, resized)
                for boxes, original, resized in zip(batch.proposals, original_sizes, images.image_sizes)
            ]
            features = module.backbone(images.tensors)
            detections, _ = module.roi_heads(features, proposals, images.image_sizes)
            return module.transform.postprocess(detections, images.image_sizes, original_sizes)
