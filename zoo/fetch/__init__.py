"""Fetching the files models load: official weights on first use, checked, with progress; offline, bundles and
mirrors for closed networks.

A plugin declares what its model needs with ``Model.remote_files()`` (a list of `RemoteFile`: the official URL,
where the library looks for the file, what is known to check it by). zoo then

- fetches what is missing or corrupt before the model is measured (``zoo run``) or ahead of time (``zoo pull``):
  plain URLs with `zoo.fetch.http`, Hugging Face files with huggingface_hub (`zoo.fetch.huggingface`);
- checks every file before the model loads it (`zoo.fetch.integrity`), so a truncated, tampered or corrupt file
  is never loaded;
- never touches the network when offline (``--offline`` / ``ZOO_OFFLINE=1``), and reads every library's files from
  one folder with ``--weights-dir`` (`zoo.fetch.bundle`). The settings are in `zoo.fetch.config`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from zoo.fetch import config, http, huggingface, pins
from zoo.fetch.integrity import CORRUPT, MISSING, PRESENT, FileState, digest, refusal, state
from zoo.fetch.progress import Counting, Progress
from zoo.fetch.remote import FetchError, HubFile, RemoteFile, with_known

__all__ = [
    "COPIED",
    "CORRUPT",
    "FAILED",
    "FETCHED",
    "MISSING",
    "PRESENT",
    "FetchError",
    "FileState",
    "HubFile",
    "Outcome",
    "Progress",
    "RemoteFile",
    "config",
    "ensure",
    "fetch",
    "refusal",
    "state",
    "with_known",
]

FETCHED, COPIED, FAILED = "fetched", "copied", "failed"


@dataclass(frozen=True)
class Outcome:
    """What `ensure` did for one file."""

    file: RemoteFile
    state: str  # PRESENT, FETCHED, COPIED (into a bundle), FAILED, or MISSING / CORRUPT when offline
    path: Path | None
    detail: str = ""  # the cause of a failure, or what was wrong with a file fetched again
    bytes: int = 0  # transferred
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state in (PRESENT, FETCHED, COPIED)


def fetch(file: RemoteFile, progress: Progress, force: bool = False) -> Path:
    """Download ``file`` to where its library looks for it (or its alternative, when the source lacks it)."""
    if config.offline():
        raise FetchError("zoo is offline (--offline or ZOO_OFFLINE)")
    try:
        if file.hub is not None:
            return huggingface.download(file, progress, force=force)

        return http.download(file, file.path, progress)
    except FetchError as error:
        if error.not_found and file.alternative is not None:
            return fetch(file.alternative, progress, force)
        raise


def ensure(file: RemoteFile, progress: Progress | None = None) -> Outcome:
    """Make ``file`` present and intact: fetched when it is missing or fails its check, unless zoo is offline."""
    found = state(file)
    if found.state == PRESENT:
        return Outcome(file, PRESENT, found.path, _pin(file, found.path, f"found at {found.path}, not fetched by zoo"))
    if config.offline():
        return Outcome(file, found.state, found.path, found.detail)
    counting = _Tee(progress or Progress())
    started = time.perf_counter()
    try:
        path = fetch(file, counting, force=found.state == CORRUPT)
    except FetchError as error:
        return Outcome(file, FAILED, found.path, str(error), counting.transferred, time.perf_counter() - started)
    detail = f"the file there was not the official one ({found.detail}); fetched again" if found.detail else ""
    source = config.source_url(file.url) if file.hub is None else file.url
    detail = "; ".join(filter(None, (detail, _pin(file, path, f"downloaded from {source}"))))
    return Outcome(file, FETCHED, path, detail, counting.transferred, time.perf_counter() - started)


def _pin(file: RemoteFile, path: Path, origin: str) -> str:
    """For a file with no published digest: its sha256 and size pinned now if this is zoo's first time with it
    (`zoo.fetch.pins`), and what was done, in words; "" for every other file."""
    if not file.first_use or file.sha256 is not None:
        return ""
    record = pins.pinned(file.url)
    if record is not None:
        return f"{pins.NO_DIGEST}; it matches the {pins.describe(record)} in {pins.location()}"
    record = pins.pin(file.url, file.name, digest(path.resolve()), path.stat().st_size, origin)
    return f"{pins.NO_DIGEST}; {pins.describe(record)} now, in {pins.location()}, and checked at every later use"


class _Tee(Counting):
    """Counts the bytes and passes everything on to the progress the caller draws."""

    def __init__(self, inner: Progress) -> None:
        super().__init__()
        self.inner = inner

    def begin(self, name: str, total: int | None, done: int = 0) -> None:
        super().begin(name, total, done)
        self.inner.begin(name, total, done)

    def advance(self, count: int) -> None:
        super().advance(count)
        self.inner.advance(count)

    def end(self) -> None:
        self.inner.end()
