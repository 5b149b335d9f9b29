"""Plain HTTP(S) downloads for files with a fixed URL (torchvision's and ultralytics' checkpoints).

A file is written to a hidden ``.NAME.zoo-part`` beside its destination and moved into place only when it is
complete and matches what is known of it (size, sha256), so the library never sees half a file. A transfer the
server cuts is resumed with a Range request (at once, and by the next ``zoo pull`` or ``zoo run``); a part that
fails its check, or a full disk, leaves nothing behind. Connections time out after ``ZOO_FETCH_TIMEOUT`` seconds
without a byte; a host that cannot be reached at all is not tried again in this process.
"""

from __future__ import annotations

import os
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from zoo.fetch import config
from zoo.fetch.errors import describe, disk_full, unreachable
from zoo.fetch.integrity import mismatch
from zoo.fetch.progress import Progress
from zoo.fetch.remote import FetchError, RemoteFile

CHUNK = 1 << 20
RESUMES = 3  # immediate Range retries after a transfer was cut, as long as each one made progress
_unreachable: dict[str, str] = {}  # host -> why, for this process


def reach(url: str) -> None:
    """`FetchError` at once when ``url``'s host is known to be unreachable in this process, or cannot be connected
    to now (for libraries that retry with back-off before they give up: huggingface_hub waits 23 s per file)."""
    parts = urlsplit(url)
    host = parts.netloc
    if host in _unreachable:
        raise FetchError(_unreachable[host])
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=config.timeout()).close()
    except OSError as error:
        cause = describe(urllib.error.URLError(error), url, config.timeout())
        _unreachable[host] = cause
        raise FetchError(cause) from None


def part_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.zoo-part")


def download(file: RemoteFile, target: Path, progress: Progress) -> Path:
    """Fetch ``file`` to ``target``; `FetchError` with the cause in one line when it cannot be done."""
    url = config.source_url(file.url)
    host = urlsplit(url).netloc
    if host in _unreachable:
        raise FetchError(_unreachable[host])
    target.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(target)
    _check_space(target.parent, (file.expected_bytes or 0) - (part.stat().st_size if part.exists() else 0))
    timeout = config.timeout()
    for attempt in range(RESUMES + 1):
        before = part.stat().st_size if part.exists() else 0
        try:
            _transfer(url, part, file, progress, timeout)
            break
        except FetchError:
            raise
        except Exception as error:
            if disk_full(error):
                part.unlink(missing_ok=True)
                raise FetchError(f"the disk is full at {target.parent}; free some space and try again") from None
            if isinstance(error, urllib.error.HTTPError) and error.code == 416 and attempt < RESUMES:
                continue  # the part was as long as the file, or longer: it is gone, start again
            cause = describe(error, url, timeout)
            if isinstance(error, urllib.error.HTTPError) and error.code in (404, 410):
                raise FetchError(cause, not_found=True) from None
            if unreachable(error):
                _unreachable[host] = cause
                raise FetchError(cause) from None
            grew = part.exists() and part.stat().st_size > before
            if not grew or attempt == RESUMES:
                kept = part.stat().st_size if part.exists() else 0
                note = f"; {kept} bytes kept, the next fetch resumes there" if kept else ""
                raise FetchError(cause + note) from None
    problem = mismatch(part, file)
    if problem:
        part.unlink()
        raise FetchError(f"{problem}; the download from {url} was discarded")
    os.replace(part, target)
    return target


def _transfer(url: str, part: Path, file: RemoteFile, progress: Progress, timeout: float) -> None:
    """One request: the whole file, or its remainder after the bytes already in ``part``."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "zoo (object detection benchmark)", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the part is as long as the file, or longer: start again
            part.unlink()
        raise
    with response:
        if have and response.status != 206:  # the server ignored the Range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if file.size is not None and total is not None and total != file.size:
            part.unlink(missing_ok=True)
            raise FetchError(f"{url} offers {total} bytes where {file.size} are expected; not the official file")
        progress.begin(file.name, total or file.expected_bytes, have)
        try:
            with open(part, "ab" if have else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    progress.advance(len(chunk))
        finally:
            progress.end()
    if total is not None and part.stat().st_size < total:
        raise ConnectionResetError(f"{part.stat().st_size} of {total} bytes")


def _check_space(folder: Path, needed: int) -> None:
    if needed <= 0:
        return
    free = shutil.disk_usage(folder).free
    if free < needed + (64 << 20):
        raise FetchError(
            f"{needed / 2**20:.0f} MiB are needed at {folder} and {free / 2**20:.0f} MiB are free; free some space"
        )
