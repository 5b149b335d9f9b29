"""``zoo run --runtimes ... [--calibration DATA]``: the options, and the run's entries expanded with them."""

from __future__ import annotations

import argparse
import copy
from typing import Any

from zoo import runtimes


def add_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--runtimes",
        default=runtimes.TORCH,
        help="torch (the default) and/or " + ", ".join(runtimes.RUNTIMES) + ", comma-separated: each model that can "
        "be exported also gets a row ID@RUNTIME, with its agreement to the torch row",
    )
    run.add_argument(
        "--calibration",
        metavar="DATA",
        help="images the int8 rows calibrate on (a dataset as --data takes; 'scored': the run's own images). "
        "Default: the run's dataset's images that --limit leaves out",
    )


def expand_for_run(args: argparse.Namespace, entries: list, weights: dict, dataset: Any) -> tuple[list, dict, dict]:
    """The entries and ``--weights`` with the runtime rows added, and what the run's context records about them."""
    names = runtimes.parse(args.runtimes)
    images: tuple = ()
    source = None
    if any(name.endswith("-int8") for name in names):
        images, source = runtimes.calibration_images(args.calibration, dataset, lambda spec: _load(args, spec))
    entries, weights = runtimes.expand(entries, args.runtimes, weights, images)
    context = {"runtimes": names}
    if source is not None:
        context["calibration"] = {"source": source, "images": [f"{i.id}:{i.file_name}" for i in images]}
    return entries, weights, context


def _load(args: argparse.Namespace, spec: str | None) -> Any:
    """``spec`` (or the run's ``--data`` without ``--limit``) loaded as ``zoo run`` loads its dataset."""
    from zoo.cli.common import load_dataset

    other = copy.copy(args)
    other.data, other.limit = spec or args.data, None
    if spec:
        other.images = None
    return load_dataset(other)
