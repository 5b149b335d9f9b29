"""The regressor's network and the two steps training and prediction must share: the input transform and the
decoding of the four outputs into a box.

The network is a compact conv stack: five stages, each a stride-2 3x3 convolution then a stride-1 one (both with
batch norm and ReLU), so a 96 px input ends as a 3x3 grid; the grid is flattened — keeping where each feature is —
into a 256-unit layer and a last linear layer with four outputs. A sigmoid maps them to (cx, cy, w, h), the box's
centre and size as fractions of the image's width and height.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FORMAT = "zoo-regressor/1"  # the checkpoint layout this module reads and writes
OUTPUT = "sigmoid(cx, cy, w, h): box centre and size as fractions of the image width and height"
DEFAULT_IMGSZ = 96
STRIDE = 32  # five stride-2 stages


def architecture(imgsz: int = DEFAULT_IMGSZ) -> dict:
    """The architecture as a JSON-able dict: what a checkpoint records and `build` reads back."""
    return {"name": "convstack", "channels": [16, 32, 64, 128, 128], "hidden": 256, "imgsz": imgsz}


def build(arch: dict) -> nn.Sequential:
    """The network `architecture` describes, randomly initialised (from torch's current seed)."""
    if arch.get("name") != "convstack":
        raise ValueError(f"unknown regressor architecture {arch.get('name')!r}")
    layers: list[nn.Module] = []
    width = 3
    for channels in arch["channels"]:
        for stride, inputs in ((2, width), (1, channels)):
            layers += [nn.Conv2d(inputs, channels, 3, stride, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
        width = channels
    grid = arch["imgsz"] // 2 ** len(arch["channels"])
    layers += [
        nn.Flatten(),
        nn.Linear(width * grid * grid, arch["hidden"]),
        nn.ReLU(),
        nn.Linear(arch["hidden"], 4),
    ]
    return nn.Sequential(*layers)


def resize(image: np.ndarray, imgsz: int) -> torch.Tensor:
    """An RGB ``uint8 (H, W, 3)`` image stretched to ``imgsz x imgsz`` (bilinear, antialiased), as ``uint8 (3, S, S)``.

    The aspect ratio is not kept: the outputs are fractions of the width and height, so stretching keeps them exact.
    """
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    resized = F.interpolate(pixels, size=(imgsz, imgsz), mode="bilinear", antialias=True, align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8)[0]


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


def normalise(batch: torch.Tensor) -> torch.Tensor:
    """``uint8 (N, 3, S, S)`` -> the network's float input (ImageNet mean and std)."""
    return (batch.float() - MEAN.to(batch.device)) / STD.to(batch.device)


def decode(outputs: torch.Tensor) -> torch.Tensor:
    """The network's ``(N, 4)`` outputs -> ``(N, 4)`` xyxy boxes as fractions of the image, inside [0, 1]."""
    cx, cy, w, h = torch.sigmoid(outputs.float()).unbind(1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).clamp(0, 1)


def to_cxcywh(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Absolute xyxy boxes -> the training target: (cx, cy, w, h) as fractions of the image."""
    x1, y1, x2, y2 = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).T
    return np.stack([(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height], 1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of paired xyxy boxes ``a[i]`` and ``b[i]``."""
    top_left, bottom_right = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(1)
    union = (a[:, 2:] - a[:, :2]).prod(1) + (b[:, 2:] - b[:, :2]).prod(1) - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(union))
