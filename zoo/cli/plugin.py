"""``zoo plugin new`` (write a working plugin to start from) and ``zoo plugin check`` (check that a plugin's models
keep zoo's model contract, with the fix for each failure)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from zoo.cli.common import console, safe
from zoo.errors import ZooError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATES = {
    "numpy": {
        "dependencies": ["zoo", "numpy", "scipy"],
        "package_data": [],
        "what": "a colour-saturation threshold and connected components in numpy",
    },
    "torch": {
        "dependencies": ["zoo", "numpy", "scipy", "torch"],
        "package_data": [],
        "what": "a small torch network (colour saturation against a learned threshold) and connected components",
    },
    "onnx": {
        "dependencies": ["zoo", "numpy", "scipy", "onnxruntime>=1.17", "onnx>=1.15"],
        "package_data": ["model.onnx"],
        "what": "an ONNX graph run by ONNX Runtime (colour saturation) and connected components",
    },
}


def add(commands) -> None:
    plugin = commands.add_parser(
        "plugin",
        help="write a new plugin, or check that a plugin keeps zoo's model contract",
        description="Write a new plugin from a template (new), or check a plugin's models (check).",
    )
    actions = plugin.add_subparsers(title="plugin commands", required=True, metavar="ACTION")
    new = actions.add_parser(
        "new",
        help="write a plugin that works on --data shapes at once",
        description="Write DIR/zoo-NAME/: the plugin (zoo_NAME/__init__.py, with any - in NAME as _), pyproject.toml "
        "with its entry point, a README and a test that checks the model with zoo.testing.",
    )
    new.add_argument("name", metavar="NAME", help="the model id (letters, digits, '-' and '_'; a letter first)")
    new.add_argument("--template", choices=list(TEMPLATES), default="numpy", help="what runs the model (numpy)")
    new.add_argument("--to", metavar="DIR", default=".", help="where to write zoo-NAME/ (default: here)")
    new.set_defaults(command=cmd_new)
    check = actions.add_parser(
        "check",
        help="check a plugin's models against zoo's model contract",
        description="Build, load (with its own weights, and untrained) and run each model on generated images, "
        "offline, and check every part of the contract; print what passes and the fix for what fails. Exit status "
        "1 when a check fails.",
    )
    check.add_argument(
        "target", metavar="ID|PATH", help="a model id, or a plugin file, package folder or scaffold (zoo-NAME/)"
    )
    check.add_argument(
        "--plugins-dir", action="append", default=[], metavar="DIR", help="also load the plugins in DIR (repeatable)"
    )
    check.set_defaults(command=cmd_check)


def cmd_new(args: argparse.Namespace) -> int:
    name, template = args.name, args.template
    module = "zoo_" + name.replace("-", "_")
    _check_name(name)
    root = Path(args.to).expanduser() / f"zoo-{name}"
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ZooError(f"{root}: already exists and is not empty; pick another NAME or --to DIR")
    if template == "onnx":
        _require_onnx()
    files = render(template, name)
    try:
        for relative, text in files.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text, encoding="utf-8")
    except OSError as error:
        raise ZooError(f"{root}: could not write the plugin: {error.strerror or error}") from None
    if template == "onnx":
        _write_onnx_model(root / module)
    print(f"wrote {root}/ (template {template}):")
    for relative in [*files, *([f"{module}/model.onnx"] if template == "onnx" else [])]:
        print(f"  {root / relative}")
    print("next:")
    print(f"  zoo plugin check {root}")
    print(f"  zoo run --plugins-dir {root} --models {name} --data shapes")
    print(f"  pip install -e {root}   # then zoo finds it without --plugins-dir")
    return 0


def _check_name(name: str) -> None:
    """NAME is the model id, and with '-' as '_' a Python name; an id a plugin already registers would be refused."""
    from zoo.plugins import MODEL_ID, load_plugins

    if not MODEL_ID.match(name) or not name.replace("-", "_").isidentifier():
        raise ZooError(
            f"plugin name {name!r}: give letters, digits, '-' and '_', starting with a letter (it is the model id, "
            "and with '-' as '_' a Python name)"
        )
    taken = load_plugins().models.get(name)
    if taken is not None:
        raise ZooError(f"plugin name {name!r}: already a model id (of plugin {taken.plugin!r}); pick another name")


def render(template: str, name: str) -> dict[str, str]:
    """The scaffold's files (path relative to zoo-NAME/ -> text) for ``template``, with NAME filled in."""
    module = "zoo_" + name.replace("-", "_")
    settings = TEMPLATES[template]
    values = {
        "name": name,
        "module": module,
        "class": "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part),
        "template": template,
        "what": settings["what"],
        "dependencies": ", ".join(f'"{d}"' for d in settings["dependencies"]),
        "package_data": ", ".join(f'"{d}"' for d in settings["package_data"]),
    }
    values["weights"] = _fill((TEMPLATES_DIR / template / "weights.md.tmpl").read_text(encoding="utf-8"), values)
    common = TEMPLATES_DIR / "common"
    sources = {
        f"{module}/__init__.py": TEMPLATES_DIR / template / "plugin.py.tmpl",
        "pyproject.toml": common / "pyproject.toml.tmpl",
        "README.md": common / "README.md.tmpl",
        f"tests/test_{module}.py": common / "test_plugin.py.tmpl",
    }
    return {relative: _fill(source.read_text(encoding="utf-8"), values) for relative, source in sources.items()}


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _require_onnx() -> None:
    missing = [n for n in ("onnx", "onnxruntime") if importlib.util.find_spec(n) is None]
    if missing:
        raise ZooError(f"--template onnx needs {' and '.join(missing)}: pip install onnxruntime onnx (or zoo[onnx])")


def _write_onnx_model(package: Path) -> None:
    """``model.onnx``, written by the new plugin's own ``export()`` so that the plugin can write it again."""
    spec = importlib.util.spec_from_file_location(f"_zoo_new_{package.name}", package / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        module.export(package / "model.onnx")
    except Exception as error:  # an onnx too old for opset 18, a full disk: one line, the rest of the plugin stays
        text = " ".join(str(error).split())
        raise ZooError(f"{package / 'model.onnx'}: could not write it: {type(error).__name__}: {text}") from None


def cmd_check(args: argparse.Namespace) -> int:
    from zoo.testing import check_model

    target = args.target
    if _is_path(target):
        reports, problems = _check_path(Path(target).expanduser(), args.plugins_dir)
    else:
        reports, problems = [check_model(target, plugins_dir=args.plugins_dir)], []
    for problem in problems:
        print(f"✗ {safe(problem)}")
    for report in reports:
        print(safe(report.model))
        for line in report.lines():
            print(f"  {safe(line)}")
    failed = [report.model for report in reports if not report.ok]
    if failed or problems:
        what = f"{', '.join(failed)}: does not keep zoo's model contract" if failed else "the plugin has problems"
        console.print(f"zoo: {what} (fixes above)", markup=False)
        return 1
    console.print(f"zoo: {len(reports)} model(s) keep zoo's model contract", markup=False)
    return 0


def _is_path(target: str) -> bool:
    return Path(target).expanduser().exists() or "/" in target or target.endswith(".py")


def _check_path(path: Path, plugin_dirs: list[str]):
    """Load ``path`` as ``--plugins-dir`` would (a .py file's folder; a package's parent folder; a scaffold or plugins
    folder itself) and check each model its plugins register; the problems of its plugins come back too."""
    from zoo.plugins import load_plugins
    from zoo.testing import check_model

    if not path.exists():
        raise ZooError(f"{path}: no such file or folder; give a plugin file, its folder, or a model id")
    one = path.suffix == ".py" or (path / "__init__.py").is_file()  # one plugin: a file or a package
    if path.is_file() and path.suffix != ".py":
        raise ZooError(f"{path}: not a plugin; give a .py file, a plugin package folder, or a zoo-NAME/ folder")
    plugins = load_plugins([path.parent if one else path, *plugin_dirs], builtin=False, entry_points=False)
    if one:
        mine = {path.stem if path.is_file() else path.name}
        problems = [str(problem) for problem in plugins.problems if problem.plugin in mine]
    else:
        inside = path.resolve()
        mine = {name for name, source in plugins.sources.items() if Path(source).resolve().is_relative_to(inside)}
        problems = [str(problem) for problem in plugins.problems]
    models = [registered.cls for registered in plugins.models.values() if registered.plugin in mine]
    if not models and not problems:
        problems.append(f"{path}: no plugin here registers a model; implement register_models and call register()")
    return [check_model(cls) for cls in models], problems
