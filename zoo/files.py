"""Writing files so that a crash never leaves half of one, JSON that never holds NaN, and files' digests."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_parsed: dict[tuple[Path, Callable], tuple[int, Any]] = {}


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: Path, parse: Callable[[Any], T]) -> T | None:
    """``parse`` of the JSON in ``path``, read again only when the file changed (its mtime); None when there is no
    file. What reading or ``parse`` raises reaches the caller."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    key = (path, parse)
    if _parsed.get(key, (None,))[0] != mtime:
        _parsed[key] = (mtime, parse(json.loads(path.read_text(encoding="utf-8"))))
    return _parsed[key][1]


def sha256_prefix(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256, read in 1 MiB chunks: a weights file's identity in results."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def to_json(data: Any, indent: int | None = 1) -> str:
    return json.dumps(_finite(data), indent=indent, ensure_ascii=False)


def _finite(value: Any) -> Any:
    """JSON has no NaN: a value that is not a finite number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
