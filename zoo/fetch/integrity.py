"""Whether a file a model needs is on this machine, complete and the one it should be — before anything loads it.

A file is checked against everything known about it: its exact size, its sha256 (or the prefix torchvision puts
in its file names) or md5, the digest a Hugging Face cache names its blobs by (sha256 for large files, git's blob
sha1 for small ones), the sha256 a bundle's manifest records, and — for a file with no published digest — the sha256
and size zoo pinned when it first had the file (`zoo.fetch.pins`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from zoo.fetch import bundle, pins
from zoo.fetch.remote import RemoteFile

PRESENT, MISSING, CORRUPT = "present", "missing", "corrupt"
_digests: dict[tuple[str, int, int, str], str] = {}  # (path, size, mtime_ns, kind) -> hex digest, per process


@dataclass(frozen=True)
class FileState:
    state: str  # PRESENT, MISSING or CORRUPT
    path: Path | None  # where it is (or would go, when known)
    detail: str = ""  # for CORRUPT: what does not match


def digest(path: Path, kind: str = "sha256") -> str:
    """The file's sha256 (or ``md5``, or ``git-sha1``, git's blob hash), read in 1 MiB chunks and remembered while
    the file's size and modification time stay the same."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, kind)
    if key not in _digests:
        if kind == "git-sha1":
            hasher = hashlib.sha1(f"blob {stat.st_size}\0".encode())
        else:
            hasher = hashlib.new(kind)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(chunk)
        _digests[key] = hasher.hexdigest()
    return _digests[key]


def mismatch(path: Path, file: RemoteFile) -> str | None:
    """What about ``path`` contradicts what is known of ``file`` (None when nothing does)."""
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        return f"{size} bytes where {file.size} were expected (truncated or replaced)"
    named = file.sha256 is not None and len(file.sha256) < 64  # torchvision's prefix, in the file's name
    expected = (
        ("the hash in its name" if named else "the recorded sha256", file.sha256),
        ("the bundle's manifest", bundle.recorded_sha256(path)),
    )
    for what, value in expected:
        if value and not digest(path).startswith(value.lower()):
            return f"sha256 {digest(path)[:16]}… does not match {what} ({value[:16]}…)"
    pinned = pins.pinned(file.url) if file.first_use and file.sha256 is None else None
    if pinned is not None and pins.mismatch(pinned, size, digest(path)):
        return pins.mismatch(pinned, size, digest(path))
    if file.md5 and digest(path, "md5") != file.md5.lower():
        return f"md5 {digest(path, 'md5')} does not match the published md5 ({file.md5})"
    blob = _blob_digest(path)
    if blob:
        kind = "sha256" if len(blob) == 64 else "git-sha1"
        if digest(path.resolve(), kind) != blob:
            return f"its content does not match the digest huggingface_hub stored it under ({blob[:16]}…)"
    return None


def _blob_digest(path: Path) -> str | None:
    """For a file in a Hugging Face cache snapshot that links to ``blobs/<etag>``: the etag, a content digest."""
    if not path.is_symlink():
        return None
    target = Path(os.path.realpath(path))
    if target.parent.name != "blobs":
        return None
    name = target.name
    return name if len(name) in (40, 64) and all(c in "0123456789abcdef" for c in name) else None


def state(file: RemoteFile) -> FileState:
    """Where ``file`` is and whether it can be loaded."""
    path = file.locate()
    if path is None or not path.is_file():
        return FileState(MISSING, path)
    problem = mismatch(path, file)
    return FileState(CORRUPT, path, problem) if problem else FileState(PRESENT, path)


def refusal(files: list[RemoteFile], model_id: str) -> str | None:
    """Why ``files`` must not be loaded (None when none fails its check): the first file that is there but is not the
    official one, and what to do. (A missing file is the plugin's to report: it knows where else it looked.)"""
    for file in files:
        found = state(file)
        if found.state == CORRUPT:
            return (
                f"{found.path} is not the official file: {found.detail}; it was not loaded. "
                f"`zoo pull --models {model_id}` fetches it again"
            )
    return None
