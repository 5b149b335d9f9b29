"""``zoo models`` (the catalogue, each model's weights and licence) and ``zoo weights`` (where each model's weights
are looked for, and what was found there)."""

from __future__ import annotations

import argparse

from zoo.cli.common import load_catalogue, print_columns, safe
from zoo.errors import ZooError


def add(commands, common: argparse.ArgumentParser, weights: argparse.ArgumentParser) -> None:
    models = commands.add_parser(
        "models",
        parents=[common, weights],
        help="list the catalogue",
        description="List the catalogue: family, plugin, weight status, published AP and licence of each model.",
    )
    models.set_defaults(command=cmd_models)
    where = commands.add_parser(
        "weights",
        parents=[common, weights],
        help="where each model's weights are looked for",
        description="Per model: where zoo looks for its weights, what it found there, and how to get what is missing.",
    )
    where.set_defaults(command=cmd_weights)


def _checks(args: argparse.Namespace):
    """Each catalogue entry with its weights check, without loading anything; a file zoo fetches that is there but
    fails its size or sha256 check makes the state "corrupt"."""
    from zoo import fetch
    from zoo.model import WeightsCheck
    from zoo.registry import build_model
    from zoo.weights import declared_files

    plugins, catalogue = load_catalogue(args)
    for entry in catalogue.values():
        try:
            model = build_model(entry, plugins)
            check = model.check_weights()
            states = [fetch.state(file) for file in declared_files(entry, model)]
        except ZooError as error:
            check, states = WeightsCheck("unavailable", hint=str(error)), []
        except Exception as error:  # a plugin's check must not break the listing
            check, states = WeightsCheck("unavailable", hint=f"check failed: {type(error).__name__}: {error}"), []
        bad = next((s for s in states if s.state == fetch.CORRUPT), None)
        if bad is not None:
            hint = f"{bad.path} is not the official file: {bad.detail}; `zoo pull --models {entry.id}` fetches it again"
            check = WeightsCheck("corrupt", str(bad.path), hint)
        yield entry, check


def cmd_models(args: argparse.Namespace) -> int:
    rows = [("id", "family", "plugin", "weights", "published AP", "licence")]
    for entry, check in _checks(args):
        state = {"none": "not needed"}.get(check.state, check.state)
        box_ap = entry.published.get("box_ap")
        published = "—" if box_ap is None else f"{100 * box_ap:.1f} ({entry.published.get('split')})"
        rows.append((entry.id, entry.family, entry.plugin, state, published, entry.licence or "—"))
    print_columns(rows)
    print("\n`zoo weights` says where each model's weights are looked for; `zoo pull` fetches them ahead of a run.")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    for entry, check in _checks(args):
        if check.state == "found":
            print(f"{entry.id}: found {check.location}")
        elif check.state == "none":
            print(f"{entry.id}: no weights needed ({safe(check.hint)})")
        else:
            print(f"{entry.id}: {safe(check.state)}: {safe(check.hint)}")
    return 0
