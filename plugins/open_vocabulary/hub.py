"""Where a checkpoint's files are: the Hugging Face cache at a pinned revision, or a local folder — found without
the network, declared for zoo to fetch (``zoo pull``), and a stand-in tokenizer for untrained copies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import zoo
from zoo.fetch import huggingface

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Checkpoint:
    """An official checkpoint on the hub: its repository, the revision zoo pins ("main" where no public record of a
    commit was found), and the files ``from_pretrained`` reads (the weights file last)."""

    hub_id: str
    revision: str
    files: tuple[str, ...]
    weights_file: str = "model.safetensors"

    def remote_files(self) -> list[zoo.RemoteFile]:
        """The files zoo fetches into the Hugging Face cache; the weights fall back to ``pytorch_model.bin`` where
        the hub has no safetensors file."""
        files = [huggingface.remote(self.hub_id, name, self.revision) for name in self.files]
        weights = huggingface.remote(self.hub_id, self.weights_file, self.revision)
        legacy = huggingface.remote(self.hub_id, "pytorch_model.bin", self.revision)
        if self.weights_file != legacy.name:
            weights = replace(weights, alternative=legacy)
        return [*files, weights]


@dataclass(frozen=True)
class Found:
    """The folder to load and what it lacks (empty: complete)."""

    folder: Path | None
    missing: list[str] = field(default_factory=list)
    commit: str | None = None


def find_cached(checkpoint: Checkpoint) -> Found:
    """The checkpoint's snapshot in the Hugging Face cache, looked up without the network."""
    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> Path | None:
        path = try_to_load_from_cache(
            checkpoint.hub_id, name, cache_dir=huggingface.cache_dir(), revision=checkpoint.revision
        )
        return Path(path) if isinstance(path, str) else None

    config = cached("config.json")
    if config is None:
        return Found(None, [f"{checkpoint.hub_id}@{checkpoint.revision}"])
    missing = [name for name in checkpoint.files if cached(name) is None]
    if not any(cached(name) is not None for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    return Found(config.parent, missing, commit=config.parent.name)


def find_folder(folder: Path, files: Sequence[str]) -> Found:
    """A local folder written by ``save_pretrained`` (the model and its processor)."""
    if not folder.is_dir():
        return Found(None, [str(folder)])
    present = {path.name for path in folder.iterdir()}
    missing = [] if "config.json" in present else ["config.json"]
    processors = {"preprocessor_config.json", "processor_config.json"}  # older and newer save_pretrained
    if "preprocessor_config.json" in files and not present & processors:
        missing.append(" or ".join(sorted(processors)))
    if not present & set(WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    return Found(folder, missing)


class WordTokenizer:
    """The stand-in tokenizer of an untrained copy (the checkpoint's vocabulary is not on this machine): one token
    per word or punctuation mark, ids fixed by the words' order of first appearance. Used only to time an untrained
    copy, whose text encoder is random anyway; its token counts are close to, not equal to, the real tokenizer's."""

    description = "zoo's stand-in (one token per word; the checkpoint's tokenizer is not on this machine)"

    def __init__(self, first_id: int, vocab_size: int) -> None:
        self.first_id, self.vocab_size = first_id, vocab_size
        self.ids: dict[str, int] = {}

    def words(self, text: str) -> list[str]:
        return re.findall(r"\w+|[^\w\s]", text.lower())

    def encode(self, text: str) -> list[int]:
        span = self.vocab_size - self.first_id
        return [self.first_id + self.ids.setdefault(word, len(self.ids)) % span for word in self.words(text)]
