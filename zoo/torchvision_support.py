"""For plugins built on torchvision's detection models: their weights, found where torchvision caches them and never
downloaded, and their input size.

``weights`` may name a member of the builder's weights enum (``COCO_V1``; ``DEFAULT`` or nothing for the default),
a local ``.pth`` state dict, or ``untrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.files import sha256_prefix
from zoo.model import UNTRAINED, WeightsCheck, WeightsUnavailable


def checkpoint_dir() -> Path:
    """Where torchvision looks for downloaded weights: ``$TORCH_HOME/hub/checkpoints``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


@dataclass(frozen=True)
class Loaded:
    """A torchvision detection model as `TorchvisionWeights.build` returns it."""

    module: Any
    identity: str  # what was loaded: the enum member and file, a file and its hash, or "untrained"
    labels: list[str]  # COCO's 91 categories as torchvision numbers them (with "__background__" and "N/A")
    published_map: float | None  # torchvision's COCO val2017 box AP for these weights, 0..1


@dataclass(frozen=True)
class TorchvisionWeights:
    """What a ``weights`` value means for the torchvision builder ``builder``, and how to build the model with it."""

    builder: str
    value: str | None

    def _enum(self) -> Any:
        from torchvision.models import get_model_weights

        return get_model_weights(self.builder)

    def source(self) -> tuple[str, Any]:
        """("untrained", None), ("file", Path) or ("enum", the enum member)."""
        value = self.value or "DEFAULT"
        if value == UNTRAINED:
            return "untrained", None
        enum = self._enum()
        if value == "DEFAULT":
            return "enum", enum.DEFAULT
        if value in enum.__members__:
            return "enum", enum[value]
        return "file", Path(value).expanduser()

    def check(self) -> WeightsCheck:
        kind, source = self.source()
        if kind == "untrained":
            return WeightsCheck("none", hint="untrained: random initialisation")
        path = source if kind == "file" else checkpoint_dir() / Path(source.url).name
        if path.is_file():
            return WeightsCheck("found", str(path))
        hint = f"put {source.url} at {path}" if kind == "enum" else f"no file at {path}"
        return WeightsCheck("missing", str(path), hint)

    def build(self, model_id: str, **options: Any) -> Loaded:
        """The model with its weights loaded (``options`` go to the builder); `WeightsUnavailable` when the file is
        not on this machine. State dicts are loaded with ``weights_only=True``."""
        import torch
        import torchvision

        kind, source = self.source()
        labels = list(self._enum().DEFAULT.meta["categories"])
        if kind == "enum":
            path = checkpoint_dir() / Path(source.url).name
            if not path.is_file():
                raise WeightsUnavailable(
                    f"{path.name} is not in {path.parent}; download {source.url} there on a connected machine, "
                    f"or give a local file with --weights {model_id}=PATH"
                )
            module = torchvision.models.get_model(self.builder, weights=source, **options)
            published = source.meta.get("_metrics", {}).get("COCO-val2017", {}).get("box_map")
            return Loaded(
                module,
                f"torchvision {source} ({path.name})",
                list(source.meta["categories"]),
                published / 100 if published is not None else None,
            )
        module = torchvision.models.get_model(self.builder, weights=None, weights_backbone=None, **options)
        if kind == "untrained":
            return Loaded(module, UNTRAINED, labels, None)
        if not source.is_file():
            raise WeightsUnavailable(f"weights file {source} not found; check the path")
        state = torch.load(source, map_location="cpu", weights_only=True)
        module.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
        return Loaded(module, f"{source} (sha256 {sha256_prefix(source)})", labels, None)


def set_input_size(transform: Any, imgsz: int) -> None:
    """``imgsz`` for torchvision's ``GeneralizedRCNNTransform``: a fixed square input where the model has one (SSD),
    else the shorter side, the longer limit scaled in proportion."""
    if getattr(transform, "fixed_size", None):
        transform.fixed_size = (imgsz, imgsz)
        transform.min_size, transform.max_size = (imgsz,), imgsz
    else:
        ratio = transform.max_size / transform.min_size[0]
        transform.min_size, transform.max_size = (imgsz,), round(imgsz * ratio)


def input_size(transform: Any) -> str:
    """The native input size a ``GeneralizedRCNNTransform`` resizes to, in words."""
    if getattr(transform, "fixed_size", None):
        return "x".join(str(s) for s in transform.fixed_size)
    return f"shorter side {transform.min_size[0]}, longer ≤ {transform.max_size}"
