"""One line for what went wrong with a transfer: no network, refused, not found, too slow, cut off, disk full."""

from __future__ import annotations

import errno
import http.client
import socket
import urllib.error
from urllib.parse import urlsplit


def describe(error: BaseException, url: str, timeout: float) -> str:
    host = urlsplit(url).netloc or url
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason} from {url}"
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, socket.gaierror):
        return f"the name {host} could not be resolved (no network, or no DNS)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"{host} sent nothing for {timeout:g} s (timed out; ZOO_FETCH_TIMEOUT sets the limit)"
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} refused the connection"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no route to {host} (no network)"
    if isinstance(reason, (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionResetError)):
        return f"{host} closed the connection before the file was complete"
    text = " ".join(str(reason).split()) or type(reason).__name__
    return f"{type(reason).__name__}: {text} ({url})"


def unreachable(error: BaseException) -> bool:
    """Whether the error says the host cannot be reached at all (so other files from it need not be tried)."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(error, urllib.error.HTTPError):
        return False
    if isinstance(reason, (socket.gaierror, ConnectionRefusedError)):
        return True
    if isinstance(error, urllib.error.URLError) and isinstance(reason, (TimeoutError, socket.timeout)):
        return True  # the connection did not open in time
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
