"""Finding plugins and the models they register.

Plugins come from four places, loaded in this order and all in the same way:
1. ``plugins/`` in the zoo checkout (the plugins that ship with zoo);
2. installed distributions' entry points in the group ``zoo``;
3. the folders in ``$ZOO_PLUGINS_DIR`` (separated by ``os.pathsep``);
4. the folders given with ``--plugins-dir``.
A plugin that fails to import, implements a hook zoo does not know, or registers a model id that is taken is
reported by name; every other plugin still loads.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pluggy

from zoo import hookspecs
from zoo.model import Model


def _project_root() -> Path:
    """Where the shipped plugins and ``registry.yaml`` are: the checkout (an editable install, or running from it),
    else ``zoo/_shipped/``, where a wheel carries them (setup.py)."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "registry.yaml").is_file() and (checkout / "plugins").is_dir():
        return checkout
    return Path(__file__).resolve().parent / "_shipped"


PROJECT_ROOT = _project_root()
BUILTIN_PLUGINS_DIR = PROJECT_ROOT / "plugins"
ENTRY_POINT_GROUP = "zoo"
PLUGINS_DIR_ENV = "ZOO_PLUGINS_DIR"
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class PluginProblem:
    """Something wrong with one plugin; the plugin is named so its author can fix it."""

    plugin: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r}: {self.message}"


@dataclass(frozen=True)
class RegisteredModel:
    cls: type[Model]
    plugin: str


@dataclass
class Plugins:
    """The loaded plugins: their manager, the models they registered (by id), and what went wrong."""

    manager: pluggy.PluginManager
    models: dict[str, RegisteredModel] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # plugin name -> where it came from
    builtin: set[str] = field(default_factory=set)  # names of the plugins that ship in zoo's plugins/


def load_plugins(
    plugin_dirs: Sequence[str | os.PathLike[str]] = (),
    *,
    extra: Iterable[object] = (),
    builtin: bool = True,
    entry_points: bool = True,
) -> Plugins:
    """Load every plugin, collect the models they register, and report problems instead of raising.

    ``extra`` registers plugin objects directly (tests use it for inline plugins).
    """
    manager = pluggy.PluginManager("zoo")
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager)

    dirs: list[Path] = [BUILTIN_PLUGINS_DIR] if builtin else []
    if entry_points:
        _load_entry_points(plugins)
    env_dirs = [d for d in os.environ.get(PLUGINS_DIR_ENV, "").split(os.pathsep) if d]
    dirs += [Path(d) for d in env_dirs] + [Path(d) for d in plugin_dirs]
    for directory in dirs:
        _load_directory(plugins, directory)
    plugins.builtin = {name for name, source in plugins.sources.items() if _inside(source, BUILTIN_PLUGINS_DIR)}
    for index, plugin in enumerate(extra):
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"
        _register(plugins, plugin, name, "given directly")

    _collect_models(plugins)
    return plugins


def _register(plugins: Plugins, plugin: object, name: str, source: str) -> None:
    try:
        plugins.manager.register(plugin, name=name)
    except ValueError as error:  # the name, or the same object, is registered already
        where = plugins.sources.get(name, "another plugin")
        plugins.problems.append(PluginProblem(name, f"not loaded from {source}: {error} (first from {where})"))
        return
    except pluggy.PluginValidationError as error:
        plugins.problems.append(PluginProblem(name, f"not loaded from {source}: {error}"))
        return
    plugins.sources[name] = source
    callers = plugins.manager.get_hookcallers(plugin) or []
    for caller in callers:
        if caller.spec is None:
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
            plugins.problems.append(
                PluginProblem(name, f"implements unknown hook {caller.name!r} (zoo's hooks: {known}); it is ignored")
            )
    if not callers:  # (a misspelt hook is reported above)
        plugins.problems.append(PluginProblem(name, _no_hook(plugin, source)))


def _no_hook(plugin: object, source: str) -> str:
    """Why a loaded module registers no model, and the fix."""
    if callable(getattr(plugin, "register_models", None)):
        return f"{source}: def register_models(register) lacks the @zoo.hookimpl decorator, so zoo never calls it"
    return (
        f"{source} defines no register_models hook, so it adds no model; add `@zoo.hookimpl` "
        "`def register_models(register): register(MyModel)` (helper modules belong inside a plugin package)"
    )


def _load_entry_points(plugins: Plugins) -> None:
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry_point.value!r}"
        if entry_point.dist is not None:
            source += f" of {entry_point.dist.name}"
        try:
            plugin = entry_point.load()
        except Exception as error:  # a broken plugin must not stop the others
            plugins.problems.append(PluginProblem(entry_point.name, f"failed to import ({source}): {_one_line(error)}"))
            continue
        _register(plugins, plugin, entry_point.name, source)


def _load_directory(plugins: Plugins, directory: Path) -> None:
    """Load each ``*.py`` file and each package folder of ``directory`` as one plugin named after it."""
    if not directory.is_dir():
        plugins.problems.append(PluginProblem(str(directory), _not_a_folder(directory)))
        return
    loaded = 0
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            name, file = path.stem, path
        elif path.is_dir() and (path / "__init__.py").is_file():
            name, file = path.name, path / "__init__.py"
        else:
            continue
        try:
            module = _import_file(name, file)
        except Exception as error:  # a broken plugin must not stop the others
            plugins.problems.append(PluginProblem(name, f"failed to import {file}: {_one_line(error)}"))
            continue
        _register(plugins, module, name, str(file))
        loaded += 1
    if not loaded:
        for scaffold in _scaffolds(directory):
            plugins.problems.append(
                PluginProblem(
                    str(scaffold),
                    f"a plugin package (as zoo plugin new writes it), one level below the folder given: pass "
                    f"--plugins-dir {scaffold} (or pip install -e {scaffold})",
                )
            )


def _not_a_folder(path: Path) -> str:
    """Why ``path`` given as a plugins folder is none, and what to pass instead."""
    if not path.exists():
        return "plugins folder not found; check --plugins-dir or $ZOO_PLUGINS_DIR"
    if path.suffix == ".py" or path.name == "pyproject.toml":
        return f"a file, not a folder of plugins: pass the folder that holds it, --plugins-dir {path.parent}"
    return "a file, not a folder of plugins: pass a folder of plugin .py files or packages to --plugins-dir"


def _scaffolds(directory: Path) -> list[Path]:
    """The folders in ``directory`` that hold a plugin package of their own, as ``zoo plugin new`` writes them
    (``zoo-NAME/`` with ``pyproject.toml`` and a package inside): one level too far down for ``--plugins-dir``."""
    found = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        package = any((inner / "__init__.py").is_file() for inner in folder.iterdir())
        if package and (folder / "pyproject.toml").is_file():
            found.append(folder)
    return found


def _import_file(name: str, file: Path) -> ModuleType:
    module_name = f"zoo_plugin_{name}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _collect_models(plugins: Plugins) -> None:
    """Call each plugin's ``register_models`` on its own, so a failure or a clash is pinned on that plugin."""
    for impl in plugins.manager.hook.register_models.get_hookimpls():
        plugin_name = impl.plugin_name

        def register(cls: type[Model], *, _plugin: str = plugin_name) -> None:
            _add_model(plugins, cls, _plugin)

        available = {"register": register}  # a spec may grow arguments; older plugins take fewer
        try:
            impl.function(**{arg: available[arg] for arg in impl.argnames})
        except Exception as error:  # a broken plugin must not stop the others
            plugins.problems.append(PluginProblem(plugin_name, f"register_models failed: {_one_line(error)}"))


def _add_model(plugins: Plugins, cls: type[Model], plugin: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        plugins.problems.append(PluginProblem(plugin, f"registered {cls!r}, which is not a zoo.Model subclass"))
        return
    if not MODEL_ID.match(cls.name or ""):
        plugins.problems.append(
            PluginProblem(plugin, f"{cls.__name__}.name {cls.name!r} is not a valid id (letters, digits, . _ -)")
        )
        return
    taken = plugins.models.get(cls.name)
    if taken is not None:
        plugins.problems.append(
            PluginProblem(plugin, f"model id {cls.name!r} is already registered by plugin {taken.plugin!r}; ignored")
        )
        return
    plugins.models[cls.name] = RegisteredModel(cls, plugin)


def _inside(source: str, directory: Path) -> bool:
    return Path(source).resolve().is_relative_to(directory.resolve())


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
