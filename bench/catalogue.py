"""zoo's plugins and catalogue, loaded as ``zoo run`` loads them."""

from __future__ import annotations

from zoo.plugins import Plugins, load_plugins
from zoo.registry import Entry, build_catalogue, load_registry, select


def load_catalogue() -> tuple[Plugins, dict[str, Entry]]:
    plugins = load_plugins()
    return plugins, build_catalogue(load_registry(), plugins)


def selected_ids(spec: str) -> list[str]:
    """The ids ``--models SPEC`` selects (``all``, ids, globs, ``family:NAME``)."""
    plugins, catalogue = load_catalogue()
    return [entry.id for entry in select(spec, catalogue, plugins.problems)]
