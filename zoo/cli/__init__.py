"""The ``zoo`` command: one module per subcommand (``run``, ``pull``, ``models`` and ``weights``, ``train``,
``fewshot``, ``report``, ``export``, ``plugin``, ``track``), assembled here.

User errors end with a one-line ``zoo: error: ...`` and exit status 2, never a traceback.

A command imports what it runs inside its function (the runner, the executors, torch through them), so that
``zoo --help``, ``zoo models`` and a user error answer without importing torch; below the CLI, zoo's modules import
each other at the top, and only optional or heavy libraries (torch, ultralytics, transformers, huggingface_hub,
mlflow, ...) inside functions.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from zoo import __version__
from zoo.cli import export, fewshot, models, plugin, pull, report, run, track, train
from zoo.cli.common import console, plugin_options, safe, weights_environment, weights_options
from zoo.errors import ZooError


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with weights_environment(args):
            return args.command(args)
    except ZooError as error:
        console.print(f"zoo: error: {safe(error)}", markup=False)
        return 2
    except KeyboardInterrupt:
        console.print("zoo: interrupted", markup=False)
        return 130
    except BrokenPipeError:  # `zoo weights | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Compare object localization and detection models.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    common, weights = plugin_options(), weights_options()
    run.add(commands, common, weights)
    pull.add(commands, common, weights)
    models.add(commands, common, weights)
    track.add(commands, common, weights)
    train.add(commands)
    fewshot.add(commands, common)
    report.add(commands)
    export.add(commands)
    plugin.add(commands)
    return parser
