"""``registry.yaml``: the catalogue of named model entries, and choosing among them with ``--models``.

Each entry names a model id registered by a plugin, with the weights and options to build it with. ``--models all``
means every entry of ``registry.yaml`` plus every model that a plugin you added (an entry point, ``--plugins-dir``)
registers and no entry uses — so a third-party plugin joins the comparison without editing the file. Models of the
plugins shipped in ``plugins/`` that the registry does not list can still be chosen by id.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import ZooError
from zoo.model import Model
from zoo.plugins import MODEL_ID, PROJECT_ROOT, Plugins
from zoo.runtimes import wrap

DEFAULT_REGISTRY = PROJECT_ROOT / "registry.yaml"
ENTRY_KEYS = ("plugin", "model", "family", "weights", "licence", "options", "notes", "published", "meta")
PUBLISHED_KEYS = ("box_ap", "split", "source", "url", "checkpoint", "protocol", "reason")


@dataclass(frozen=True)
class Entry:
    """One model of the catalogue: which registered model to build, with which weights and options."""

    id: str
    model: str
    family: str = ""
    plugin: str = ""
    weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    licence: str = ""  # the weights' licence (SPDX id where there is one), from the model card or release
    where: str = ""  # "registry.yaml:12", or the plugin that registered it
    in_all: bool = True  # whether --models all includes it
    meta: dict[str, Any] = field(default_factory=dict)  # measured by `python -m tools.catalogue`: framework, params...
    # the box AP its authors publish for these weights: box_ap (0..1 or None), split, source, url, checkpoint (the
    # exact weights the number is for), protocol, reason
    published: dict[str, Any] = field(default_factory=dict)
    # a runtime row (zoo.runtimes.expand): the runtime that runs this model's export, and int8's calibration images
    runtime: str = ""
    calibration: tuple = ()


def load_registry(path: str | Path = DEFAULT_REGISTRY) -> list[Entry]:
    """Read ``registry.yaml``; any problem is a `ZooError` naming the file, line and entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ZooError(f"{path}: registry not found; pass --registry PATH or restore registry.yaml") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ZooError(f"{path}{line}: not valid YAML ({problem}); fix the syntax there") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ZooError(f"{path}:1: expected a top-level 'models:' mapping of id -> entry; see the README")

    lines = _entry_lines(root)
    entries = []
    for entry_id, body in data["models"].items():
        where = f"{path}:{lines.get(str(entry_id), 1)}"
        entries.append(_parse_entry(str(entry_id), body, where))
    return entries


def _entry_lines(root: yaml.Node | None) -> dict[str, int]:
    """Line number of each entry under ``models:``, for error messages."""
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if key.value == "models" and isinstance(value, yaml.MappingNode):
            return {k.value: k.start_mark.line + 1 for k, _ in value.value}
    return {}


def _parse_entry(entry_id: str, body: Any, where: str) -> Entry:
    def fail(message: str) -> ZooError:
        return ZooError(f"{where}: entry {entry_id!r}: {message}")

    if not MODEL_ID.match(entry_id):
        raise fail("ids may hold only letters, digits, '.', '_' and '-'; rename it")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise fail(f"expected a mapping of {', '.join(ENTRY_KEYS)}; got {type(body).__name__}")
    unknown = sorted(set(body) - set(ENTRY_KEYS))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}; the keys are {', '.join(ENTRY_KEYS)}")
    for key in ("plugin", "model", "family", "notes", "licence"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise fail(f"{key!r} must be text, got {type(body[key]).__name__}")
    weights = body.get("weights")
    if weights is not None and not isinstance(weights, str):
        raise fail(f"'weights' must be text (a name, a path or 'untrained'), got {type(weights).__name__}")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise fail(f"'options' must be a mapping of option -> value, got {type(options).__name__}")
    meta = body.get("meta") or {}
    if not isinstance(meta, dict):
        raise fail(f"'meta' must be a mapping (written by python -m tools.catalogue), got {type(meta).__name__}")
    published = _parse_published(body.get("published"), fail)
    return Entry(
        id=entry_id,
        model=body.get("model") or entry_id,
        family=body.get("family") or "",
        plugin=body.get("plugin") or "",
        weights=weights,
        options={str(k): v for k, v in options.items()},
        notes=(body.get("notes") or "").strip(),
        licence=(body.get("licence") or "").strip(),
        where=where,
        meta=meta,
        published=published,
    )


def _parse_published(published: Any, fail: Callable[[str], ZooError]) -> dict[str, Any]:
    """The entry's ``published:`` mapping, checked: box_ap null or a fraction in [0, 1], with split and source."""
    if published is None:
        return {}
    if not isinstance(published, dict):
        raise fail(f"'published' must be a mapping of {', '.join(PUBLISHED_KEYS)}; got {type(published).__name__}")
    unknown = sorted(set(published) - set(PUBLISHED_KEYS), key=str)
    if unknown:
        raise fail(f"'published' has unknown key {unknown[0]!r}; the keys are {', '.join(PUBLISHED_KEYS)}")
    box_ap = published.get("box_ap")
    if box_ap is not None:
        if isinstance(box_ap, bool) or not isinstance(box_ap, (int, float)):
            raise fail(f"'published.box_ap' must be a number in [0, 1] or null, got {type(box_ap).__name__}")
        if box_ap > 1:
            raise fail(f"'published.box_ap' is {box_ap}: give AP as a fraction, e.g. 0.37 for 37.0")
        if box_ap < 0:
            raise fail(f"'published.box_ap' is {box_ap}: AP is a fraction in [0, 1]")
        for key in ("split", "source"):
            if not isinstance(published.get(key), str) or not published[key].strip():
                raise fail(f"'published.{key}' is required text when box_ap is a number (where the AP comes from)")
    for key in ("split", "source", "url", "checkpoint", "reason"):
        if published.get(key) is not None and not isinstance(published[key], str):
            raise fail(f"'published.{key}' must be text, got {type(published[key]).__name__}")
    protocol = published.get("protocol")
    if protocol is not None and not isinstance(protocol, dict):
        raise fail(f"'published.protocol' must be a mapping (input_size, conf, ...), got {type(protocol).__name__}")
    return dict(published)


def build_catalogue(entries: list[Entry], plugins: Plugins) -> dict[str, Entry]:
    """Every registry entry (family filled in from its model class), then the plugins' models no entry uses."""
    catalogue: dict[str, Entry] = {}
    for entry in entries:
        registered = plugins.models.get(entry.model)
        family = entry.family or (registered.cls.family if registered else "")
        plugin = entry.plugin or (registered.plugin if registered else "")
        catalogue[entry.id] = Entry(**{**entry.__dict__, "family": family, "plugin": plugin})
    used = {entry.model for entry in entries}
    for model_id, registered in plugins.models.items():
        if model_id not in used and model_id not in catalogue:
            catalogue[model_id] = Entry(
                id=model_id,
                model=model_id,
                family=registered.cls.family,
                plugin=registered.plugin,
                notes=registered.cls.description,
                where=f"plugin {registered.plugin!r}",
                in_all=registered.plugin not in plugins.builtin,
            )
    return catalogue


def select(spec: str, catalogue: dict[str, Entry], problems: Sequence[object] = ()) -> list[Entry]:
    """Entries chosen by ``--models``: ``all``, ids, globs (``yolo*``) and ``family:NAME``, comma-separated.
    ``problems``: the plugins that failed to load, named when an id is unknown (its plugin may be one of them)."""
    chosen: dict[str, Entry] = {}
    terms = [term.strip() for term in spec.split(",") if term.strip()]
    if not terms:
        raise ZooError("--models is empty; give 'all', ids, globs or family:NAME (zoo models lists them)")
    for term in terms:
        if term == "all":
            matched = [model_id for model_id, entry in catalogue.items() if entry.in_all]
        elif term.startswith("family:"):
            family = term.removeprefix("family:")
            matched = [i for i, entry in catalogue.items() if entry.family == family]
            if not matched:
                families = ", ".join(sorted({e.family for e in catalogue.values() if e.family}))
                raise ZooError(f"--models {term}: no model of family {family!r}; the families are {families}")
        elif any(char in term for char in "*?["):
            matched = fnmatch.filter(catalogue, term)
            if not matched:
                raise ZooError(f"--models {term}: the pattern matches no model id; zoo models lists them")
        elif term in catalogue:
            matched = [term]
        else:
            closest = difflib.get_close_matches(term, list(catalogue), n=3, cutoff=0.4)
            hint = f"closest: {', '.join(closest)}" if closest else "zoo models lists the ids"
            if problems:
                hint += f"; {len(problems)} plugin(s) failed to load (warnings above), first: {problems[0]}"
            hint += "; a model of your own plugin needs --plugins-dir DIR (or an installed entry point)"
            raise ZooError(f"--models {term}: unknown model id; {hint}")
        for model_id in matched:
            chosen.setdefault(model_id, catalogue[model_id])
    return [catalogue[model_id] for model_id in catalogue if model_id in chosen]


def accepts_option(entry: Entry, plugins: Plugins, option: str) -> bool:
    """Whether the entry's model class takes ``option`` (False when no plugin registers the model)."""
    registered = plugins.models.get(entry.model)
    if registered is None:
        return False
    accepted = registered.cls.option_names()
    return accepted is None or option in accepted


def build_model(
    entry: Entry, plugins: Plugins, weights: str | None = None, options: dict[str, Any] | None = None
) -> Model:
    """Instantiate the entry's model class with its options; ``weights`` overrides the entry's weights and
    ``options`` add to (and override) the entry's options."""
    registered = plugins.models.get(entry.model)
    if registered is None:
        reason = f"no plugin registers model {entry.model!r}"
        broken = [p for p in plugins.problems if entry.plugin and p.plugin == entry.plugin]
        if broken:
            reason += f" ({broken[0]})"
        elif entry.plugin:
            reason += f" (plugin {entry.plugin!r} is not installed or does not register it)"
        raise ZooError(f"{entry.where}: entry {entry.id!r}: {reason}")
    cls = registered.cls
    accepted = cls.option_names()
    options = {**entry.options, **(options or {})}
    for option in options:
        if accepted is not None and option not in accepted:
            choices = ", ".join(accepted) or "none"
            raise ZooError(
                f"{entry.where}: entry {entry.id!r}: option {option!r} is not accepted by {cls.__name__}"
                f" (options: {choices})"
            )
    model = cls(weights=weights if weights is not None else entry.weights, **options)
    if entry.runtime:  # a runtime row: the plugin's model inside the runtime's wrapper
        return wrap(model, entry)
    return model
