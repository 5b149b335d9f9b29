"""What a model declares it needs from the network, and what zoo knows about each file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zoo.fetch import config


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face repository, fetched by huggingface_hub into its cache."""

    repo_id: str  # "facebook/detr-resnet-50"
    filename: str  # "model.safetensors"
    revision: str  # a commit (pinned) or a branch such as "main"

    def locate(self) -> Path | None:
        """Where huggingface_hub's cache holds the file at that revision (None when it does not)."""
        from huggingface_hub import try_to_load_from_cache  # huggingface_hub is slow to import: only when asked

        found = try_to_load_from_cache(self.repo_id, self.filename, cache_dir=hub_cache_dir(), revision=self.revision)
        return Path(found) if isinstance(found, str) else None

    @property
    def folder(self) -> Path:
        """The repository's folder in the cache."""
        return hub_cache_dir() / f"models--{self.repo_id.replace('/', '--')}"


def _default_hub_cache() -> Path:
    env = os.environ
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return Path(os.path.expandvars(env[name])).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def hub_cache_dir() -> Path:
    """The Hugging Face cache zoo reads and fills, from the environment now (not when a library was imported)."""
    return config.library_cache("huggingface", _default_hub_cache)


@dataclass(frozen=True)
class RemoteFile:
    """One file zoo can fetch (a model's weights, a benchmark's archive): where it comes from, where it goes, how to
    check it. ``sha256`` may be the full digest or a prefix of it (torchvision's file names carry the first 8 hex
    digits); ``md5`` is for sources that publish only that (the COCO and VOC archives); ``size`` is exact (checked),
    ``size_estimate`` only for showing how much a fetch will take; ``first_use`` marks a file whose publisher gives
    no digest: it is checked against the sha256 and size zoo pinned when it first had the file (`zoo.fetch.pins`)."""

    url: str  # the official https:// URL
    path: Path | None  # where the library looks for it (None: huggingface_hub decides, see ``hub``)
    sha256: str | None = None
    size: int | None = None
    size_estimate: int | None = None
    md5: str | None = None
    hub: HubFile | None = None  # fetched with huggingface_hub instead of plain HTTP
    alternative: RemoteFile | None = None  # fetched instead when the source has no such file (HTTP 404)
    first_use: bool = False  # no published digest: its sha256 and size are pinned when zoo first has it (`pins`)

    @property
    def name(self) -> str:
        return self.hub.filename if self.hub else Path(self.url.split("?")[0]).name

    @property
    def key(self) -> str:
        """What makes two declarations the same file (R-CNN and Faster R-CNN share a checkpoint)."""
        return self.url if self.path is None else str(self.path)

    @property
    def expected_bytes(self) -> int | None:
        return self.size if self.size is not None else self.size_estimate

    def locate(self) -> Path | None:
        """The file's place on this machine (where it is, or where it will go when that is known beforehand)."""
        return self.path if self.hub is None else self.hub.locate()

    @property
    def destination(self) -> Path:
        """Where the file is or goes, for people to read: its path, or its repository's folder in the hub cache."""
        path = self.locate()
        return path if path is not None or self.hub is None else self.hub.folder


class FetchError(Exception):
    """A file could not be fetched or verified; the message is the cause, in one line."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found  # the source answered that it has no such file


def with_known(files: Iterable[RemoteFile], known: Mapping[str, Any] | None) -> list[RemoteFile]:
    """``files`` with the size and sha256 the catalogue records (``meta: files:`` in ``registry.yaml``, by file name)
    filled in where the plugin gave none."""
    known = known or {}
    completed = []
    for file in files:
        record = known.get(file.name) or {}
        completed.append(
            replace(
                file,
                sha256=file.sha256 or record.get("sha256"),
                size=file.size if file.size is not None else record.get("size"),
            )
        )
    return completed
