"""A weights bundle: a folder ``zoo pull --to DIR`` writes for a machine without network, used there with
``--weights-dir DIR`` (or ``ZOO_WEIGHTS_DIR``).

Inside, each library's files keep its own cache layout — ``torch/hub/checkpoints/``, ``ultralytics/``,
``huggingface/models--ORG--NAME/snapshots/COMMIT/``, benchmarks unpacked under ``data/NAME/`` — and ``manifest.json``
lists every file: the models that use it, its source URL, sha256, size, licence and what it was checked by
(``digest``: a recorded sha256, the Hub's digest, or one pinned on first use); and every benchmark. A file
whose sha256 differs from the manifest's is not loaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.fetch import config
from zoo.files import atomic_write, read_json, to_json

MANIFEST = "manifest.json"
FORMAT = "zoo-weights-bundle/1"


@dataclass(frozen=True)
class Record:
    """One file of a bundle, as the manifest lists it."""

    path: str  # relative to the bundle, with "/"
    file: str
    models: list[str]
    url: str
    sha256: str
    size: int
    licence: str
    digest: str = ""  # what the file was checked by: a recorded sha256, the Hub's, or one pinned on first use


def write_manifest(
    folder: Path, zoo_version: str, *, files: list[Record] | None = None, datasets: list[dict] | None = None
) -> Path:
    """Write the manifest's ``files`` (weights) or ``datasets`` (benchmarks, ``data/NAME``), keeping the other part
    a previous ``zoo pull --to`` into the same folder wrote."""
    path = folder / MANIFEST
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    data = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "zoo": zoo_version,
        "use": f"zoo run --weights-dir {folder}  (or ZOO_WEIGHTS_DIR={folder})",
        "files": previous.get("files", []),
        "datasets": previous.get("datasets", []),
    }
    if files is not None:
        data["files"] = [asdict(record) for record in sorted(files, key=lambda r: r.path)]
    if datasets is not None:
        kept = [d for d in data["datasets"] if d.get("name") not in {n["name"] for n in datasets}]
        data["datasets"] = sorted(kept + datasets, key=lambda d: d["name"])
    atomic_write(path, to_json(data))
    return path


def recorded_sha256(path: Path) -> str | None:
    """The sha256 the manifest of the weights folder in use records for ``path`` (None when there is none)."""
    folder = config.weights_dir()
    if folder is None:
        return None
    try:
        relative = path.absolute().relative_to(folder).as_posix()
    except ValueError:
        return None
    return _manifest(folder).get(relative)


def _manifest(folder: Path) -> dict[str, str]:
    try:
        return read_json(folder / MANIFEST, _digests) or {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _digests(data: Any) -> dict[str, str]:
    return {item["path"]: item["sha256"] for item in data.get("files", []) if item.get("sha256")}
