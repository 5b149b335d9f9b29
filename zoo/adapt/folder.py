"""The training folder ``zoo train`` writes, and reading it back for ``zoo run --trained``.

Layout of DIR (default ``$ZOO_HOME/trained/<name>``)::

    manifest.json        the training run: command, settings, dataset, and one row per model (status, reason)
    <id>/manifest.json   one model: base weights, dataset fingerprint and classes, settings, seed, epochs, minutes,
                         loss per epoch, validation AP per epoch, the checkpoint's name and sha256
    <id>/<checkpoint>    in its library's own format (a torchvision state dict, an ultralytics .pt, a
                         save_pretrained folder)
    logs/<id>.log        the library's output while it trained

A model is trained in ``.<id>.partial`` and renamed to ``<id>`` only once its checkpoint and manifest are complete,
so a killed training leaves no folder a later run could take for a finished one (the partial one is removed by the
next ``zoo train`` into DIR, and ignored by every reader).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from zoo.data import Dataset, ImageRecord
from zoo.errors import ZooError
from zoo.fetch.config import home
from zoo.files import atomic_write, to_json

MANIFEST = "manifest.json"
FROM_SCRATCH = "from scratch (untrained copy)"


def default_folder(name: str) -> Path:
    """``$ZOO_HOME/trained/<name>``, the name made safe for a folder."""
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-.") or "training"
    return home() / "trained" / safe


def write_json(path: Path, data: Any) -> None:
    """``data`` as JSON at ``path``, atomically (a temporary file renamed into place)."""
    atomic_write(path, to_json(data, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{path}: not found; is this a folder `zoo train` wrote?") from None
    except (OSError, ValueError) as error:
        raise ZooError(f"{path}: unreadable ({error}); train again into a new --out") from None


def image_digest(record: ImageRecord) -> str:
    """The sha256 of an image: its file's bytes, or for a drawn image (shapes) its pixels'."""
    if isinstance(record.source, Path):
        return hashlib.sha256(record.source.read_bytes()).hexdigest()
    return hashlib.sha256(record.load().tobytes()).hexdigest()


def image_digests(images: Iterable[ImageRecord]) -> list[str]:
    return [image_digest(record) for record in images]


def dataset_record(dataset: Dataset) -> dict[str, Any]:
    """What a manifest says about the training set: name, source, fingerprint, classes, sizes."""
    return {
        "name": dataset.name,
        "source": dataset.source,
        "format": dataset.format,
        "fingerprint": dataset.fingerprint,
        "classes": [category.name for category in dataset.categories],
        "images": len(dataset.images),
        "boxes": dataset.num_boxes,
    }


class TrainingFolder:
    """DIR: where each model's training is staged, made final, and listed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ZooError(f"--out {path}: exists and is not a folder; give a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "logs").mkdir(exist_ok=True)

    def staging(self, model_id: str) -> Path:
        """An empty ``.<id>.partial`` folder to train into (whatever a killed run left there is removed)."""
        partial = self.path / f".{model_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        return partial

    def log(self, model_id: str) -> Path:
        return self.path / "logs" / f"{model_id}.log"

    def finish(self, model_id: str, staged: Path, manifest: dict[str, Any]) -> Path:
        """Write the model's manifest into its staging folder, then move the folder to ``<id>`` in one rename (an
        earlier ``<id>`` is replaced)."""
        write_json(staged / MANIFEST, manifest)
        final = self.path / model_id
        if final.exists():
            old = self.path / f".{model_id}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(staged, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staged, final)
        return final

    def write_index(self, index: dict[str, Any]) -> None:
        write_json(self.path / MANIFEST, index)


def trained_models(path: Path) -> dict[str, dict[str, Any]]:
    """Model id -> its manifest (with ``checkpoint_path`` absolute), for every finished model in DIR; a folder
    without any is a one-line error."""
    path = Path(path)
    if not path.is_dir():
        raise ZooError(f"--trained {path}: no such folder; give a folder `zoo train` or `zoo fewshot` wrote")
    found = {}
    for manifest_path in sorted(path.glob(f"*/{MANIFEST}")):
        if manifest_path.parent.name.startswith("."):
            continue
        manifest = read_json(manifest_path)
        checkpoint = manifest_path.parent / manifest["checkpoint"]
        if not checkpoint.exists():
            raise ZooError(f"{manifest_path}: its checkpoint {checkpoint.name} is missing; train that model again")
        found[manifest_path.parent.name] = {**manifest, "checkpoint_path": str(checkpoint)}
    if not found:
        raise ZooError(f"--trained {path}: no finished model in it (no <id>/{MANIFEST}); run `zoo train` first")
    return found


def trained_on(manifest: dict[str, Any]) -> dict[str, Any]:
    """The ``trained_on`` record of a result row: the training set, its fingerprint, shots and seed, base weights."""
    dataset = manifest["dataset"]
    return {
        "dataset": dataset["name"],
        "fingerprint": dataset["fingerprint"],
        "shots": manifest.get("shots"),
        "seed": manifest["settings"]["seed"],
        "base_weights": manifest["base_weights"],
        "from_scratch": manifest["from_scratch"],
        "epochs": manifest["epochs_done"],
        "manifest": manifest.get("manifest_path"),
    }


def trained_entries(path: Path, catalogue: dict) -> dict:
    """A catalogue of DIR's models, keyed by the id they were trained from: each entry the base model with the
    checkpoint as its weights, its id ``<id>-trained`` (``<id>-<K>shot-s<seed>`` for a few-shot sample)."""
    entries = {}
    for model_id, manifest in trained_models(path).items():
        base = catalogue.get(manifest["model"])
        if base is None:
            raise ZooError(f"--trained {path}: {model_id} was trained from {manifest['model']!r}, not in the catalogue")
        shots = manifest.get("shots")
        suffix = f"{shots}shot-s{manifest['settings']['seed']}" if shots else "trained"
        record = trained_on({**manifest, "manifest_path": str(Path(path) / model_id / MANIFEST)})
        scratch = " from scratch" if manifest["from_scratch"] else ""
        entries[model_id] = replace(
            base,
            id=f"{manifest['model']}-{suffix}",
            weights=manifest["checkpoint_path"],
            notes=f"fine-tuned{scratch} on {manifest['dataset']['name']} ({manifest['dataset']['fingerprint']})",
            where=str(Path(path) / model_id / MANIFEST),
            in_all=True,
            meta={**base.meta, "trained_on": record},
            published={},
        )
    return entries


def check_overlap(path: Path, test: Dataset) -> None:
    """Refuse a test set that shares an image (by file digest) with the images any model in DIR trained on."""
    trained = set()
    for manifest in trained_models(path).values():
        trained.update(manifest.get("image_digests") or [])
    for record in test.images:
        if image_digest(record) in trained:
            raise ZooError(
                f"--data {test.source}: image {record.file_name} is one the models in {path} were trained on (same "
                "file digest); score them on images they did not see"
            )


def check_disjoint(train: Dataset, test: Dataset) -> None:
    """Refuse a test set that shares an image (by digest) with the training set."""
    seen = set(image_digests(train.images))
    for record in test.images:
        if image_digest(record) in seen:
            raise ZooError(
                f"--test {test.source}: image {record.file_name} is also in --data {train.source} (same digest); "
                "give a test set disjoint from the training set"
            )
