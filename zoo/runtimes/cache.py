"""Exported files, cached under ``$ZOO_HOME/exports``: one folder per (model, weights, runtime, input, settings in
the graph, library versions), so a second run reuses the file instead of exporting again, and any change makes a
new one. The weights are identified by a hash of the tensors exported (an untrained copy's random weights too)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from zoo.fetch import config


def root() -> Path:
    """``$ZOO_HOME/exports``."""
    return config.home() / "exports"


def weights_hash(module: Any) -> str:
    """sha256 (first 16 hex digits) of a torch module's state dict: names, shapes, dtypes and bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        if not isinstance(tensor, torch.Tensor):
            continue
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]


def folder(key: dict[str, Any]) -> Path:
    """The cache folder of ``key`` (a JSON-able mapping), named by the model and a hash of the whole key."""
    text = json.dumps(key, sort_keys=True, default=str)
    name = f"{key.get('model', 'model')}-{key.get('runtime', '')}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return root() / name


def lookup(key: dict[str, Any], filename: str) -> Path | None:
    """The cached file for ``key``, if a complete one is there (``key.json`` is written last)."""
    path = folder(key) / filename
    return path if path.is_file() and (folder(key) / "key.json").is_file() else None


def store(key: dict[str, Any], staging: Path) -> Path:
    """Move a finished export (a folder of files) into the cache for ``key``, whole or not at all."""
    target = folder(key)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    (staging / "key.json").write_text(json.dumps(key, sort_keys=True, indent=1, default=str), encoding="utf-8")
    staging.rename(target)
    return target


def size_mb(path: Path) -> float:
    """Size of an exported model in MB (10^6 bytes): the file and its side files (``.bin``, external data)."""
    files = [p for p in path.parent.iterdir() if p.is_file() and p.name != "key.json" and p.suffix != ".json"]
    return round(sum(p.stat().st_size for p in files) / 1e6, 3)
