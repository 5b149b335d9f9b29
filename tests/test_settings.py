"""Every protocol default is written once, on `zoo.settings.Settings`: ``zoo run``'s options, their help and their
range checks come from it, and the README says the same defaults. And the house has no import loops."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from zoo import settings as protocol
from zoo.errors import ZooError
from zoo.settings import DEFAULTS, OPTIONS, Settings

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def parser() -> argparse.ArgumentParser:
    run = argparse.ArgumentParser()
    protocol.add_options(run)
    return run


def test_the_options_are_generated_from_the_settings_with_their_defaults_and_help():
    run = parser()
    args = run.parse_args([])
    assert protocol.from_args(args) == DEFAULTS, "no option given: the settings' defaults"
    helps = {action.dest: action.help for action in run._actions}
    for name in OPTIONS:
        default = getattr(DEFAULTS, name)
        assert getattr(args, name) == default
        if default is not None and not isinstance(default, bool):
            shown = default if isinstance(default, str) else f"{default:g}"
            assert f"(default {shown})" in helps[name], helps[name]
    given = run.parse_args(["--speed-budget", "7", "--iters", "9", "--no-untrained-speed", "--threads", "2"])
    assert protocol.from_args(given) == Settings(speed_budget=7.0, iters=9, untrained_speed=False, threads=2)


def test_the_readme_states_the_defaults_the_settings_have():
    usage = README.split("## Commands", 1)[1].split("zoo pull", 1)[0]
    shown = dict(re.findall(r"\[--([a-z-]+) ([0-9.]+)\]", usage))
    prose = dict(re.findall(r"`--([a-z-]+)` \(default ([0-9.]+)", README))
    checked = 0
    for name, value in {**shown, **prose}.items():
        field = name.replace("-", "_")
        if field in OPTIONS:
            assert float(value) == getattr(DEFAULTS, field), f"README says --{name} {value}"
            checked += 1
    assert checked >= 6, "the README's usage line and protocol section name the defaults"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--iters", "0"], "--iters 0: give 1 or more"),
        (["--speed-conf", "1.5"], "--speed-conf 1.5: give a score between 0 and 1"),
        (["--iou-conf", "-0.1"], "--iou-conf -0.1: give a score between 0 and 1"),
        (["--imgsz", "16"], "--imgsz 16: give 32 pixels or more"),
        (["--speed-budget", "-1"], "--speed-budget -1.0: give 0 or more"),
    ],
)
def test_a_setting_out_of_range_is_one_line_naming_the_option(argv, message):
    with pytest.raises(ZooError, match=re.escape(message)):
        protocol.check(parser().parse_args(argv))


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The zoo modules ``path`` imports anywhere (inside functions and TYPE_CHECKING blocks too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo"):
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {name if name in modules else node.module for name in names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("zoo")}
    return {_owner(name, modules) for name in found} - {""}


def _owner(name: str, modules: set[str]) -> str:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def test_the_package_has_no_import_loops_and_nothing_below_the_cli_imports_it():
    files = {}
    for path in (ROOT / "zoo").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        files[name] = path
    graph = {name: _imports(path, set(files)) - {name} for name, path in files.items()}
    upward = [f"{name} imports {target}" for name in graph for target in graph[name]
              if target.startswith("zoo.cli") and not name.startswith("zoo.cli")]  # fmt: skip
    assert not upward, upward

    def loop_from(start: str) -> list[str] | None:
        path, seen = [start], set()

        def walk(node: str) -> list[str] | None:
            for target in sorted(graph[node]):
                if target == start:
                    return [*path, start]
                if target not in seen:
                    seen.add(target)
                    path.append(target)
                    found = walk(target)
                    if found:
                        return found
                    path.pop()
            return None

        return walk(start)

    loops = [loop for loop in map(loop_from, sorted(graph)) if loop]
    assert not loops, " ; ".join(" -> ".join(loop) for loop in loops[:3])
