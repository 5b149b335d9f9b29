"""How a model's worker process is born: forked from a fork server that has imported the heavy libraries once
(`zoo.preload`), so each model still gets a process of its own — a crash, a hang or a runaway allocation costs its
row and nothing else — without paying torch's, torchvision's, ultralytics' and transformers' imports again.

The server is `multiprocessing`'s own forkserver, started by the first worker (or by `start_early`, while zoo reads
the dataset) with the environment the workers need: the run's offline switches set when the network is off, so that
the libraries' import-time checks stay offline. When the environment changes (another run in the same process, with
other settings), the server is replaced, since what the libraries read at import time would be stale; variables
zoo's own plugins and offline switch set around each model do not count. Each worker also takes the parent's
environment as it is when it starts.

``ZOO_WORKER_START=spawn`` (or a platform without fork) falls back to a fresh interpreter per worker, as before.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from zoo.offline import OFFLINE_ENV

OFFLINE_FLAG = "ZOO_FORKSERVER_OFFLINE"  # "1" in the server's environment when its workers run offline
LIBRARIES_ENV = "ZOO_FORKSERVER_LIBRARIES"  # the optional libraries the server preloads, comma-separated
OPTIONAL = {"ultralytics": "ultralytics", "transformers": "transformers"}
"""Plugin → the library the server preloads only when a model of that plugin is selected (torch and torchvision,
which every worker imports with the built-in plugins, are always preloaded)."""
START_ENV = "ZOO_WORKER_START"  # "forkserver" (the default where available) or "spawn"
PRELOAD = ["zoo.preload"]
VOLATILE = ("YOLO_", "OMP_NUM_THREADS", "ULTRALYTICS_", OFFLINE_FLAG, LIBRARIES_ENV, *OFFLINE_ENV)
"""Variables that do not make a server stale: set by zoo's offline switch and its plugins around every model."""

_lock = threading.Lock()
_server_key: tuple[Any, ...] | None = None
_libraries: tuple[str, ...] = tuple(sorted(OPTIONAL.values()))  # all, unless `start_early` was told the plugins


def start_method() -> str:
    """``forkserver`` where this platform has it and ``ZOO_WORKER_START`` does not say ``spawn``, else ``spawn``."""
    wanted = os.environ.get(START_ENV, "forkserver")
    if wanted == "forkserver" and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


def context(allow_network: bool) -> Any:
    """The multiprocessing context a worker starts from; with a fork server, one that is running, preloaded and
    started with the environment ``allow_network`` asks for."""
    method = start_method()
    if method == "forkserver":
        _ensure_server(allow_network)
    return multiprocessing.get_context(method)


def start_early(allow_network: bool, plugins: Iterable[str] | None = None) -> None:
    """Start the fork server now: starting it takes milliseconds, and its imports then run in the server while the
    parent does what it does before its first worker (reading the dataset, opening the run folder). ``plugins``: the
    plugins of the selected models, so that the server imports only the optional libraries they use (None: all).
    Nothing happens with ``spawn``."""
    global _libraries
    if plugins is not None:
        _libraries = tuple(sorted({OPTIONAL[name] for name in plugins if name in OPTIONAL}))
    if start_method() == "forkserver":
        _ensure_server(allow_network)


def environment() -> dict[str, str]:
    """The parent's environment now: what a worker applies first (the server's is from when it started)."""
    return dict(os.environ)


def apply_environment(env: dict[str, str] | None) -> None:
    """In a worker: take the parent's environment (``environment()``) as its own."""
    if env is not None and env != dict(os.environ):
        os.environ.clear()
        os.environ.update(env)


def detach_from_server() -> None:
    """In a worker forked from the server: let go of the server's "alive" pipe. multiprocessing hands it to every
    child so that the server outlives them; zoo needs the opposite — the server ends when zoo ends, and its workers
    with it (their parent-death signal, `zoo.isolation`) — which a worker holding the pipe open would prevent."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def _key(allow_network: bool) -> tuple[Any, ...]:
    stable = tuple(sorted((k, v) for k, v in os.environ.items() if not k.startswith(VOLATILE)))
    return allow_network, _libraries, tuple(sys.path), stable


def _ensure_server(allow_network: bool) -> None:
    """A fork server started with this environment (and preload), replacing one started with another."""
    global _server_key
    from multiprocessing import forkserver

    with _lock:
        key = _key(allow_network)
        if _server_key is not None and key != _server_key:
            stop = getattr(forkserver._forkserver, "_stop", None)  # replaced: a server is per process
            if stop is not None:
                stop()
        forkserver.set_forkserver_preload(PRELOAD)
        with _server_environment(allow_network):
            forkserver.ensure_running()
        _server_key = key


@contextlib.contextmanager
def _server_environment(allow_network: bool) -> Iterator[None]:
    """The environment a server starts with: this one, and the offline switches when the network is off."""
    extra = {LIBRARIES_ENV: ",".join(_libraries)}
    if not allow_network:
        extra.update({**OFFLINE_ENV, OFFLINE_FLAG: "1"})
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
