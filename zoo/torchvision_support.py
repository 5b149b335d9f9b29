"""For plugins built on torchvision's detection models: their weights — fetched by zoo on first use into the place
torchvision looks (``$TORCH_HOME/hub/checkpoints``, or ``torch/hub/checkpoints`` in a ``--weights-dir`` folder),
checked against the sha256 prefix torchvision puts in each file name, and loaded by torchvision itself — and their
input size.

``weights`` may name a member of the builder's weights enum (``COCO_V1``; ``DEFAULT`` or nothing for the default),
a local ``.pth`` state dict, or ``untrained``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.fetch import RemoteFile, config
from zoo.files import sha256_prefix
from zoo.model import UNTRAINED, WeightsCheck, WeightsUnavailable


def hub_dir() -> Path:
    """torch.hub's folder: ``$TORCH_HOME/hub``, or ``torch/hub`` in the weights folder in use."""

    def default() -> Path:
        import torch

        return Path(torch.hub.get_dir()).parent

    return config.library_cache("torch", default) / "hub"


def checkpoint_dir() -> Path:
    """Where torchvision looks for downloaded weights: ``hub_dir()/checkpoints``."""
    return hub_dir() / "checkpoints"


def remote_file(weights: Any) -> RemoteFile:
    """A torchvision weights enum member's checkpoint: its URL, its place, the sha256 prefix in its name, and its
    size as torchvision's metadata gives it (in MiB, rounded: an estimate)."""
    import torch

    name = Path(weights.url).name
    match = torch.hub.HASH_REGEX.search(name)
    size = weights.meta.get("_file_size")
    return RemoteFile(
        url=weights.url,
        path=checkpoint_dir() / name,
        sha256=match.group(1) if match else None,
        size_estimate=round(size * 2**20) if size else None,
    )


@dataclass(frozen=True)
class Loaded:
    """A torchvision detection model as `TorchvisionWeights.build` returns it."""

    module: Any
    identity: str  # what was loaded: the enum member and file, a file and its hash, or "untrained"
    labels: list[str]  # COCO's 91 categories as torchvision numbers them (with "__background__" and "N/A")
    published_map: float | None  # torchvision's COCO val2017 box AP for these weights, 0..1
    meta: dict[str, Any] = field(default_factory=dict)  # a fine-tuned checkpoint's "zoo" record: labels, imgsz


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

    def remote_files(self) -> list[RemoteFile]:
        kind, source = self.source()
        return [remote_file(source)] if kind == "enum" else []

    def check(self) -> WeightsCheck:
        kind, source = self.source()
        if kind == "untrained":
            return WeightsCheck("none", hint="untrained: random initialisation")
        path = source if kind == "file" else checkpoint_dir() / Path(source.url).name
        if path.is_file():
            return WeightsCheck("found", str(path))
        hint = f"`zoo pull` fetches {source.url} to {path}" if kind == "enum" else f"no file at {path}"
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
                    f"{path.name} is not in {path.parent}; `zoo pull --models {model_id}` fetches it, "
                    f"or give a local file with --weights {model_id}=PATH"
                )
            with _hub_dir_set(hub_dir()):  # torchvision loads the file from there (a weights folder, maybe)
                module = torchvision.models.get_model(self.builder, weights=source, **options)
            published = source.meta.get("_metrics", {}).get("COCO-val2017", {}).get("box_map")
            return Loaded(
                module,
                f"torchvision {source} ({path.name})",
                list(source.meta["categories"]),
                published / 100 if published is not None else None,
            )
        num_params = self._enum().DEFAULT.meta.get("num_params")
        if kind == "untrained":
            module = torchvision.models.get_model(self.builder, weights=None, weights_backbone=None, **options)
            freeze_as_published(module, num_params)
            return Loaded(module, UNTRAINED, labels, None)
        if not source.is_file():
            raise WeightsUnavailable(f"weights file {source} not found; check the path")
        state = torch.load(source, map_location="cpu", weights_only=True)
        meta = state.get("zoo", {}) if isinstance(state, dict) else {}
        if meta.get("labels"):  # fine-tuned by zoo: the dataset's label space, background first
            labels = list(meta["labels"])
            options = {**options, "num_classes": len(labels)}
        module = torchvision.models.get_model(self.builder, weights=None, weights_backbone=None, **options)
        freeze_as_published(module, num_params)  # not for a fine-tuned one: its classes change the count
        module.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
        return Loaded(module, f"{source} (sha256 {sha256_prefix(source)})", labels, None, meta)


def freeze_as_published(module: Any, published_params: int | None) -> None:
    """Build the copy without official weights as torchvision builds the published ones: its detectors freeze
    BatchNorm (``FrozenBatchNorm2d``: the affine terms are buffers, not parameters) when they load trained weights,
    and only then. Where the weights metadata's ``num_params`` counts them frozen, they are frozen here too, so the
    architecture and its parameter count are the publisher's (in eval mode both compute the same)."""
    from torch import nn
    from torchvision.ops.misc import FrozenBatchNorm2d

    norms = [m for m in module.modules() if type(m) is nn.BatchNorm2d and m.affine]
    params = sum(p.numel() for p in module.parameters())
    affine = sum(m.weight.numel() + m.bias.numel() for m in norms)
    if not norms or published_params is None or params - affine != published_params:
        return

    def replace(parent: Any) -> None:
        for name, child in parent.named_children():
            if type(child) is nn.BatchNorm2d:
                setattr(parent, name, FrozenBatchNorm2d(child.num_features, eps=child.eps))
            else:
                replace(child)

    replace(module)


@contextlib.contextmanager
def _hub_dir_set(folder: Path) -> Iterator[None]:
    """torch.hub's folder set to ``folder`` for a moment, then as it was (unset: ``$TORCH_HOME`` read anew)."""
    import torch.hub

    saved = getattr(torch.hub, "_hub_dir", None)
    torch.hub.set_dir(str(folder))
    try:
        yield
    finally:
        torch.hub._hub_dir = saved


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


def set_score_thresh(module: Any, conf: float) -> None:
    """The score threshold of a torchvision detection model, where its post-processing applies it (before NMS, with
    its NMS and detections per image unchanged): ``roi_heads.score_thresh`` for Faster R-CNN, ``score_thresh`` for
    SSD, RetinaNet and FCOS."""
    holder = getattr(module, "roi_heads", None) or module
    if not hasattr(holder, "score_thresh"):
        raise AttributeError(f"{type(module).__name__} has no score_thresh to set")
    holder.score_thresh = float(conf)
