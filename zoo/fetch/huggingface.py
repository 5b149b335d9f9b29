"""Hugging Face files: found in, and fetched into, huggingface_hub's own cache by huggingface_hub itself
(``hf_hub_download`` at the model's revision), which honours ``HF_ENDPOINT`` and resumes interrupted transfers.

The cache is ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub`` — or ``huggingface/`` in a
weights folder (``--weights-dir``). huggingface_hub names each stored file by its digest (sha256 for large files,
git's blob sha1 for small ones); zoo checks the content against that name before a model loads it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.fetch import config
from zoo.fetch.http import reach
from zoo.fetch.integrity import mismatch
from zoo.fetch.progress import Progress
from zoo.fetch.remote import FetchError, HubFile, RemoteFile, hub_cache_dir

cache_dir = hub_cache_dir  # the cache zoo reads and fills (its place is the file's to say: `zoo.fetch.remote`)

HUB = "https://huggingface.co"


def remote(repo_id: str, filename: str, revision: str) -> RemoteFile:
    """A file of a hub repository at a revision, as a model declares it."""
    return RemoteFile(
        url=f"{HUB}/{repo_id}/resolve/{revision}/{filename}", path=None, hub=HubFile(repo_id, filename, revision)
    )


def download(file: RemoteFile, progress: Progress, force: bool = False) -> Path:
    """Fetch the file with ``hf_hub_download``; `FetchError` with the cause in one line when it cannot be done."""
    from huggingface_hub import hf_hub_download  # imported when a file is fetched: huggingface_hub is slow to import

    hub = file.hub
    assert hub is not None
    endpoint = config.hub_endpoint()
    reach(endpoint or HUB)
    try:
        with _settings(config.timeout()):
            path = Path(
                hf_hub_download(
                    hub.repo_id,
                    hub.filename,
                    revision=hub.revision,
                    cache_dir=cache_dir(),
                    endpoint=endpoint,
                    etag_timeout=config.timeout(),
                    force_download=force,
                    tqdm_class=_bridge(progress, hub.filename),
                )
            )
    except Exception as error:
        raise FetchError(_describe(error, file, endpoint), not_found=_not_found(error)) from None
    problem = mismatch(path, file)
    if problem:
        _discard(path)
        raise FetchError(f"{problem}; the download from {endpoint or HUB}/{hub.repo_id} was discarded")
    return path


@contextlib.contextmanager
def _settings(timeout: float) -> Iterator[None]:
    """huggingface_hub reads its offline switch and download timeout when imported; zoo sets them for this call
    (the offline switch as the environment says now: a user's ``HF_HUB_OFFLINE=1`` is respected)."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, constants.HF_HUB_DOWNLOAD_TIMEOUT
    offline = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    constants.HF_HUB_OFFLINE = offline.strip().upper() in {"1", "ON", "YES", "TRUE"}
    constants.HF_HUB_DOWNLOAD_TIMEOUT = timeout
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, constants.HF_HUB_DOWNLOAD_TIMEOUT = saved


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' progress bars off while it loads a checkpoint from the cache (one place for both plugins that
    load through transformers), then as they were."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def _describe(error: BaseException, file: RemoteFile, endpoint: str | None) -> str:
    from huggingface_hub import errors

    hub = file.hub
    where = f"{endpoint or HUB}/{hub.repo_id}/resolve/{hub.revision}/{hub.filename}"
    if isinstance(error, errors.LocalEntryNotFoundError):  # no answer from the hub (not a 404)
        return f"{where} could not be reached, and the file is not in the cache ({config.hub_endpoint() or HUB})"
    if isinstance(error, errors.OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, so huggingface_hub does not download; unset it or use zoo pull elsewhere"
    if isinstance(error, (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError)):
        status = getattr(getattr(error, "response", None), "status_code", None) or 404
        return f"HTTP {status}: {hub.repo_id}@{hub.revision} has no {hub.filename} at {where}"
    if isinstance(error, errors.FileMetadataError):
        return f"{where} is not served like the Hugging Face Hub ({_first_line(error)})"
    cause = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    name = type(cause).__name__
    if "Timeout" in name:
        return f"{where} sent nothing for {config.timeout():g} s (timed out; ZOO_FETCH_TIMEOUT sets the limit)"
    if "Connect" in name:
        return f"could not connect to {where}: {_first_line(cause)}"
    return f"{name}: {_first_line(cause)} ({where})"


def _not_found(error: BaseException) -> bool:
    from huggingface_hub import errors

    return isinstance(error, errors.EntryNotFoundError) and not isinstance(error, errors.LocalEntryNotFoundError)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _discard(path: Path) -> None:
    """Remove a stored file that failed its check: the snapshot's link and the blob it points to."""
    target = Path(os.path.realpath(path))
    path.unlink(missing_ok=True)
    if target != path:
        target.unlink(missing_ok=True)


def copy_into(file: RemoteFile, source: Path, folder: Path) -> Path:
    """Put a cached hub file into another cache folder (a bundle's ``huggingface/``) as a plain file in its
    snapshot, with the ref that names the snapshot's commit, which huggingface_hub reads like its own layout."""
    hub = file.hub
    commit = source.parent.name
    repo = folder / f"models--{hub.repo_id.replace('/', '--')}"
    target = repo / "snapshots" / commit / hub.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if hub.revision != commit:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / hub.revision).write_text(commit)
    temporary = target.with_name(f".{target.name}.zoo-part")
    shutil.copyfile(os.path.realpath(source), temporary)
    os.replace(temporary, target)
    return target


def _bridge(progress: Progress, name: str) -> Any:
    """A tqdm class that reports huggingface_hub's progress to zoo's instead of drawing its own bar."""
    from huggingface_hub.utils import tqdm

    class Bridge(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            progress.begin(name, kwargs.get("total"), int(kwargs.get("initial") or 0))

        def update(self, n: float | None = 1) -> bool | None:
            progress.advance(int(n or 0))
            return None

        def close(self) -> None:
            if not getattr(self, "_zoo_closed", False):
                self._zoo_closed = True
                progress.end()
            super().close()

    return Bridge
