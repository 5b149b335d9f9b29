"""The settings of fetching, read from the environment at the moment they are needed (the CLI's ``--offline`` and
``--weights-dir`` set the same variables, so worker processes see them too).

- ``ZOO_HOME=DIR``: where zoo keeps what it fetches or makes (default ``$XDG_CACHE_HOME/zoo`` or ``~/.cache/zoo``);
  benchmarks go to ``DIR/data``.
- ``ZOO_OFFLINE=1``: never touch the network; what is not on this machine stays missing.
- ``ZOO_WEIGHTS_DIR=DIR``: a weights folder (a bundle from ``zoo pull --to``) used instead of every library's cache
  and of zoo's data folder.
- ``ZOO_WEIGHTS_MIRROR=URL``: fetch ``https://HOST/PATH`` from ``URL/HOST/PATH`` (a static server or a pull-through
  cache); Hugging Face files from ``URL/huggingface.co`` unless ``HF_ENDPOINT`` names another endpoint.
- ``ZOO_FETCH_TIMEOUT=SECONDS``: how long a connection may take to open, or go without sending a byte (default 10).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from zoo.errors import ZooError

OFFLINE, WEIGHTS_DIR, MIRROR, TIMEOUT = "ZOO_OFFLINE", "ZOO_WEIGHTS_DIR", "ZOO_WEIGHTS_MIRROR", "ZOO_FETCH_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
TRUE = {"1", "true", "yes", "on"}


def offline() -> bool:
    return os.environ.get(OFFLINE, "").strip().lower() in TRUE


def weights_dir() -> Path | None:
    value = os.environ.get(WEIGHTS_DIR, "").strip()
    return Path(value).expanduser().absolute() if value else None


def home() -> Path:
    """Where zoo keeps what it fetches or makes: ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get("ZOO_HOME", "").strip():
        return Path(os.environ["ZOO_HOME"].strip()).expanduser().absolute()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser().absolute() / "zoo"


def data_dir() -> Path:
    """Where named benchmarks are unpacked: ``<weights dir>/data`` when a bundle is in use, else ``$ZOO_HOME/data``."""
    return library_cache("data", lambda: home() / "data")


def library_cache(library: str, default: Callable[[], Path]) -> Path:
    """Where ``library`` ("torch", "ultralytics", "huggingface", zoo's "data") keeps its files:
    ``<weights dir>/<library>`` when a weights folder is in use, else the library's own cache, ``default()``."""
    folder = weights_dir()
    return folder / library if folder is not None else default()


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (a value) or unset (None) these variables for the duration of a ``with`` block, then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def timeout() -> float:
    value = os.environ.get(TIMEOUT, "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ZooError(f"{TIMEOUT}={value!r}: give a number of seconds greater than 0")
    return seconds


def mirror() -> str | None:
    value = os.environ.get(MIRROR, "").strip().rstrip("/")
    if not value:
        return None
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ZooError(f"{MIRROR}={value!r}: give the mirror's URL, e.g. http://cache.example:8080/weights")
    return value


def source_url(url: str) -> str:
    """Where ``url`` is fetched from: the URL itself, or its copy on the mirror (``MIRROR/HOST/PATH``)."""
    base = mirror()
    if base is None:
        return url
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{base}/{parts.netloc}{parts.path}{query}"


def hub_endpoint() -> str | None:
    """The Hugging Face endpoint to use: ``HF_ENDPOINT`` when set, else the mirror's ``/huggingface.co``, else None
    (huggingface_hub's default)."""
    if os.environ.get("HF_ENDPOINT", "").strip():
        return os.environ["HF_ENDPOINT"].strip().rstrip("/")
    base = mirror()
    return f"{base}/huggingface.co" if base else None
