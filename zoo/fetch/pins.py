"""zoo's pins: the sha256 and size of each file whose publisher gives no digest (a weights file with
``RemoteFile.first_use``, a benchmark archive such as MOT17.zip), pinned when zoo first has the file — trust on first
use — and checked at every later use, fetch and copy.

The pins are ``$ZOO_HOME/pins.json`` (`zoo.fetch.config.home`), keyed by the file's official URL. A
pin says only that the file is the one zoo saw first, not that it is the publisher's: the first download is trusted.
A bundle's ``manifest.json`` records the sha256 of each file it holds, so a closed machine checks the bundled copy
against the digest pinned where the bundle was made. Delete the file's record here to trust a new file.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fetch import config
from zoo.files import atomic_write, read_json, to_json

FILE = "pins.json"
FORMAT = "zoo-weights-pins/1"
NO_DIGEST = "no published digest: trusted on first use"


def location() -> Path:
    return config.home() / FILE


def pinned(url: str) -> dict[str, Any] | None:
    """The pin of the file at ``url`` (``sha256``, ``size``, ``pinned`` date, ``origin``), None before its first use."""
    return _pins().get(url)


def pin(url: str, name: str, sha256: str, size: int, origin: str) -> dict[str, Any]:
    """Record ``url``'s digest unless it is pinned already; the pin in force either way."""
    pins = _pins()
    if url in pins:
        return pins[url]
    record = {
        "file": name,
        "sha256": sha256,
        "size": size,
        "pinned": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "origin": origin,
    }
    data = {
        "format": FORMAT,
        "about": f"sha256 and size of files with no published digest, pinned at first use ({NO_DIGEST})",
        "files": {**pins, url: record},
    }
    atomic_write(location(), to_json(data))
    return record


def describe(record: dict[str, Any]) -> str:
    """The pin in words: ``sha256 1234abcd… (N bytes), pinned DATE``."""
    return f"sha256 {record['sha256'][:16]}… ({record['size']} bytes), pinned {record['pinned']}"


def mismatch(record: dict[str, Any], size: int, sha256: str) -> str | None:
    """What contradicts the pin ``record`` (None when the file matches it)."""
    if size != record["size"]:
        pinned_size = record["size"]
        return f"{size} bytes do not match the size pinned at its first use ({pinned_size}; {NO_DIGEST}, {location()})"
    if sha256 != record["sha256"]:
        return (
            f"sha256 {sha256[:16]}… does not match the one pinned at its first use ({record['sha256'][:16]}…, "
            f"{record['pinned']}; {NO_DIGEST}, {location()})"
        )
    return None


def _pins() -> dict[str, dict[str, Any]]:
    path = location()
    try:
        return dict(read_json(path, _valid) or {})
    except (OSError, ValueError, AttributeError) as error:  # never start over silently: the pins would be lost
        raise ZooError(
            f"{path} could not be read ({type(error).__name__}: {error}); restore it, or delete it to trust the "
            "files it pinned again at their next use"
        ) from None


def _valid(data: Any) -> dict[str, dict[str, Any]]:
    files = data.get("files", {})
    return {
        url: item
        for url, item in files.items()
        if isinstance(item, dict) and isinstance(item.get("sha256"), str) and isinstance(item.get("size"), int)
    }
