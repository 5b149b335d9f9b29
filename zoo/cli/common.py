"""What the commands share: the console, progress, loading plugins, the catalogue and the dataset with their
warnings printed, and the options that say where weights come from (``--offline``, ``--weights-dir``)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from rich.markup import escape
from rich.progress import track as rich_track

from zoo.console import console, safe  # noqa: F401 - the CLI's kit: every command prints through them
from zoo.errors import ZooError
from zoo.fetch import config

T = TypeVar("T")


def plugin_options() -> argparse.ArgumentParser:
    """``--plugins-dir`` and ``--registry``, for the commands that load the catalogue."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugins-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also load the plugins in DIR (repeatable; also $ZOO_PLUGINS_DIR)",
    )
    common.add_argument("--registry", metavar="PATH", help="the catalogue to use (default: zoo's registry.yaml)")
    return common


def weights_options() -> argparse.ArgumentParser:
    """``--offline`` and ``--weights-dir``, for the commands that find or fetch weights."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--offline",
        action="store_true",
        help="never touch the network: use only what is on this machine (also ZOO_OFFLINE=1)",
    )
    options.add_argument(
        "--weights-dir",
        metavar="DIR",
        help="read every model's weights from DIR (a bundle from `zoo pull --to DIR`) instead of the libraries' "
        "caches (also ZOO_WEIGHTS_DIR)",
    )
    return options


@contextlib.contextmanager
def weights_environment(args: argparse.Namespace) -> Iterator[None]:
    """``--offline`` and ``--weights-dir`` as the environment variables zoo and its worker processes read, for the
    duration of the command."""
    wanted: dict[str, str] = {}
    if getattr(args, "offline", False):
        wanted[config.OFFLINE] = "1"
    folder = getattr(args, "weights_dir", None)
    if folder:
        path = Path(folder).expanduser().absolute()
        if path.exists() and not path.is_dir():
            raise ZooError(f"--weights-dir {folder}: exists and is not a folder; give a bundle's folder")
        if not path.exists():
            raise ZooError(f"--weights-dir {folder}: no such folder; make one with `zoo pull --to {folder}`")
        wanted[config.WEIGHTS_DIR] = str(path)
    with config.environment(**wanted):
        config.mirror(), config.timeout()  # a malformed setting is a user error now, not in the middle of a run
        yield


def track(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    return rich_track(
        items,
        description=escape(safe(description)),
        total=total,
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def load_plugins(args: argparse.Namespace):
    """The plugins, each one's problems printed as a warning (the others still load)."""
    from zoo.plugins import load_plugins as load

    plugins = load(args.plugins_dir)
    for problem in plugins.problems:
        console.print(f"zoo: warning: {safe(problem)}", markup=False)
    return plugins


def load_dataset(args: argparse.Namespace):
    """The dataset ``--data`` names (a benchmark fetched first when it is not here), its counted warnings printed."""
    from zoo.data import benchmarks
    from zoo.data import load_dataset as load

    benchmark = benchmarks.get(args.data)
    if benchmark is not None and benchmark.format == "mot":
        raise ZooError(f"--data {args.data}: a tracking benchmark (video sequences); use it with `zoo track --data "
                       f"{args.data}`")  # fmt: skip
    if benchmark is not None:
        from zoo.cli.downloads import fetch_benchmark

        fetch_benchmark(benchmark)
    dataset = load(args.data, images_dir=args.images, split=args.split, limit=args.limit, track=track)
    for line in dataset.issues.lines():
        console.print(f"zoo: warning: {safe(dataset.source)}: {safe(line)}", markup=False)
    return dataset


def load_catalogue(args: argparse.Namespace):
    from zoo.registry import DEFAULT_REGISTRY, build_catalogue, load_registry

    plugins = load_plugins(args)
    entries = load_registry(args.registry or DEFAULT_REGISTRY)
    return plugins, build_catalogue(entries, plugins)


def parse_weights(values: list[str], catalogue: dict) -> dict[str, str]:
    """``--weights ID=PATH`` values, checked against the catalogue."""
    weights = {}
    for value in values:
        model_id, sep, path = value.partition("=")
        if not sep or not model_id or not path:
            raise ZooError(f"--weights {value}: expected ID=PATH")
        if model_id not in catalogue:
            raise ZooError(f"--weights {value}: unknown model id {model_id!r}; zoo models lists them")
        weights[model_id] = path
    return weights


def cell(value: Any) -> str:
    """A value as short text for a terminal table (text shown as `safe` shows it)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return safe(value)


def print_columns(rows: list[tuple[str, ...]]) -> None:
    """Rows of text as aligned columns on standard output (the last column is not padded), each shown as `safe`
    shows it."""
    rows = [tuple(safe(text) for text in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(text.ljust(width) for text, width in zip(row, widths)) + "  " + row[-1])
