"""The catalogue's weights: which files the selected models need from the network, where each goes and under which
licence — worked out without loading any model, for ``zoo run``, ``zoo pull``, ``zoo models`` and ``zoo weights``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from zoo.errors import ZooError
from zoo.fetch import RemoteFile, with_known
from zoo.model import Model
from zoo.plugins import Plugins
from zoo.registry import Entry, build_model


@dataclass
class Need:
    """One file, and the catalogue entries that load it (R-CNN, Fast R-CNN and Faster R-CNN share one)."""

    file: RemoteFile
    models: list[str] = field(default_factory=list)
    licence: str = ""


def declared_files(entry: Entry, model: Model) -> list[RemoteFile]:
    """What ``model`` declares it fetches, with the sizes and checksums the entry's ``meta.files`` records."""
    return with_known(model.remote_files(), entry.meta.get("files"))


def entry_files(entry: Entry, plugins: Plugins, weights: str | None = None) -> list[RemoteFile]:
    """`declared_files` of the entry's model, built with ``weights`` (default: the entry's)."""
    return declared_files(entry, build_model(entry, plugins, weights))


def plan(
    entries: Iterable[Entry], plugins: Plugins, weights: Mapping[str, str] | None = None
) -> tuple[list[Need], dict[str, str]]:
    """Every file the entries need, once each; and, per entry id, why zoo could not ask its model (no plugin, a
    failing plugin), so one broken entry never hides the others' files."""
    needs: dict[str, Need] = {}
    problems: dict[str, str] = {}
    for entry in entries:
        try:
            files = entry_files(entry, plugins, (weights or {}).get(entry.id))
        except ZooError as error:
            problems[entry.id] = str(error)
            continue
        except Exception as error:  # a plugin's bug must not stop the others
            problems[entry.id] = f"remote_files() failed: {type(error).__name__}: {error}"
            continue
        for file in files:
            need = needs.setdefault(file.key, Need(file, licence=entry.licence))
            need.models.append(entry.id)
            if entry.licence and entry.licence not in need.licence.split(", "):
                need.licence = ", ".join(filter(None, (need.licence, entry.licence)))
    return list(needs.values()), problems
