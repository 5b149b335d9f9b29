"""No network during a run unless the user allows it: the model libraries' offline switches, and a socket guard
that turns any connection attempt into an immediate, explained error instead of a hang."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub / transformers: cache only
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "YOLO_OFFLINE": "1",  # ultralytics: skip online checks
}
MESSAGE = "zoo: network access is off during a run (tried {address}); pass --allow-network to allow it"


def block_network() -> None:
    """Set the offline switches and refuse every internet connection and name lookup in this process."""
    os.environ.update(OFFLINE_ENV)
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:
            return connect(self, address)
        raise ConnectionRefusedError(MESSAGE.format(address=address))

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if self.family == socket.AF_UNIX:
            return connect_ex(self, address)
        raise ConnectionRefusedError(MESSAGE.format(address=address))

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        raise socket.gaierror(socket.EAI_NONAME, MESSAGE.format(address=host))

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]


@contextlib.contextmanager
def offline(enabled: bool = True) -> Iterator[None]:
    """`block_network` for the duration of a ``with`` block, then everything as it was."""
    if not enabled:
        yield
        return
    saved_env = {key: os.environ.get(key) for key in OFFLINE_ENV}
    saved = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    block_network()
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved  # type: ignore[method-assign]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
