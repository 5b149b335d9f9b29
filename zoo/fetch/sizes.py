"""A file's size asked of its source without fetching it (a HEAD request; the hub's file metadata), for
``zoo pull --dry-run`` where the catalogue records no size."""

from __future__ import annotations

import urllib.request

from zoo.fetch import config
from zoo.fetch.http import reach
from zoo.fetch.huggingface import _settings
from zoo.fetch.remote import FetchError, RemoteFile


def probe(file: RemoteFile) -> int | None:
    """The size the source announces, or None when it cannot be asked (offline, unreachable, no length)."""
    if config.offline():
        return None

    try:
        reach(config.source_url(file.url) if file.hub is None else (config.hub_endpoint() or file.url))
        if file.hub is not None:
            from huggingface_hub import get_hf_file_metadata, hf_hub_url

            hub = file.hub
            url = hf_hub_url(hub.repo_id, hub.filename, revision=hub.revision, endpoint=config.hub_endpoint())
            with _settings(config.timeout()):
                return get_hf_file_metadata(url, timeout=config.timeout()).size
        request = urllib.request.Request(config.source_url(file.url), method="HEAD")
        with urllib.request.urlopen(request, timeout=config.timeout()) as response:
            length = response.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None
    except (FetchError, Exception):
        return None
