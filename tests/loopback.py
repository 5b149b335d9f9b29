"""A file server on 127.0.0.1 that stands in for the internet in the download tests: it serves what the tests put
in it under ``/HOST/PATH`` (as ``ZOO_WEIGHTS_MIRROR`` asks), answers like the Hugging Face Hub under
``/huggingface.co/ORG/NAME/resolve/REVISION/FILE``, honours Range requests, and misbehaves on request: cut a
transfer, answer slowly, fail. Every request is recorded."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    """How the server answers for one path (the default: the file, whole or from a Range)."""

    cut_after: int | None = None  # close the connection after this many body bytes
    cuts: int = 1  # ... for this many requests (then answer normally)
    status: int | None = None  # answer this status instead (e.g. 503), for every request
    then: int | None = None  # once the cuts are used up, answer this status
    delay: float = 0.0  # seconds to wait before sending the body


@dataclass
class Hub:
    """A repository on the emulated Hub: its files and the commit its revisions resolve to."""

    commit: str
    files: dict[str, bytes] = field(default_factory=dict)


class Loopback:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hub: dict[str, Hub] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        server = _Quiet(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.files.clear()
        self.hub.clear()
        self.behaviours.clear()
        self.requests.clear()

    def put(self, url: str, content: bytes) -> None:
        """Serve ``content`` for ``https://HOST/PATH`` at ``/HOST/PATH``."""
        self.files["/" + url.split("://", 1)[1]] = content

    def put_hub(self, repo_id: str, files: dict[str, bytes], commit: str) -> None:
        self.hub[repo_id] = Hub(commit, dict(files))

    def gets(self, suffix: str = "") -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and r[1].endswith(suffix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (a timeout test) closes its end: not the server's problem


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            state.requests.append((self.command, self.path, self.headers.get("Range")))
            behaviour = state.behaviours.get(self.path, Behaviour())
            if behaviour.status or (behaviour.then and behaviour.cuts == 0):
                return self._empty(behaviour.status or behaviour.then)
            content, headers = self._lookup()
            if content is None:
                return self._empty(404, headers)
            start = 0
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes=") and body:
                start = int(wanted[6:].split("-")[0])
                if start >= len(content):
                    return self._empty(416)
            part = content[start:]
            self.send_response(206 if start else 200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(part)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if not body:
                return
            time.sleep(behaviour.delay)
            if behaviour.cut_after is not None and behaviour.cuts > 0:
                behaviour.cuts -= 1
                self.wfile.write(part[: behaviour.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

        def _lookup(self) -> tuple[bytes | None, dict[str, str]]:
            path = self.path.split("?")[0]
            if path.startswith("/huggingface.co/") and "/resolve/" in path:
                repo_id, _, rest = path.removeprefix("/huggingface.co/").partition("/resolve/")
                revision, _, name = rest.partition("/")
                hub = state.hub.get(repo_id)
                if hub is None or revision not in (hub.commit, "main"):
                    return None, {"X-Error-Code": "RepoNotFound" if hub is None else "RevisionNotFound"}
                headers = {"X-Repo-Commit": hub.commit}
                if name not in hub.files:
                    return None, {**headers, "X-Error-Code": "EntryNotFound"}
                content = hub.files[name]
                etag = hashlib.sha256(content).hexdigest()  # as the Hub gives large files: their sha256
                return content, {**headers, "ETag": f'"{etag}"', "X-Linked-Etag": f'"{etag}"'}
            return state.files.get(path), {}

        def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
