"""The options of ``zoo run`` that set its isolation, its executor and its runtimes, and their checks (the
protocol's options are generated from `zoo.settings.Settings`)."""

from __future__ import annotations

import argparse
import copy
from typing import Any

from zoo import runtimes
from zoo.cli.common import load_dataset
from zoo.errors import ZooError


def isolation_options(run: argparse.ArgumentParser) -> None:
    """When a model's worker is stopped."""
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="stop a model after this long (default: none)")
    run.add_argument(
        "--stall-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="stop a model that makes no progress (loads, or finishes a call) this long (default 600)",
    )
    run.add_argument(
        "--memory-limit",
        type=float,
        metavar="GB",
        help="stop a model whose worker uses more memory (default: 80%% of this machine's)",
    )
    run.add_argument(
        "--no-isolation",
        dest="isolation",
        action="store_false",
        help="run models in this process instead of one worker process each (faster start, unprotected)",
    )


def check_limits(args: argparse.Namespace) -> None:
    """The isolation limits in range (the protocol's settings are checked by `zoo.settings.check`)."""
    for name in ("timeout", "stall_timeout", "memory_limit"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ZooError(f"--{name.replace('_', '-')} {value}: give 0 or more")


def executor_options(run: argparse.ArgumentParser, shards: bool = True) -> None:
    """Where the models run: this machine, one at a time, or a Ray cluster, side by side (``zoo run`` and ``zoo
    track``; ``shards``: whether a model's pass may be split, ``--shards``, which ``zoo track``'s timed pass is not)."""
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: one model at a time on this machine (the default); ray: models side by side on a Ray cluster, "
        "each as a task asking for --model-resources (needs pip install 'zoo[ray]')",
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="with --executor ray: the cluster to join (auto: the one `ray start` runs on this machine; HOST:PORT or "
        "ray://HOST:PORT); default: start a local Ray instance for this run",
    )
    run.add_argument(
        "--model-resources",
        metavar="CPU=N,GPU=N,...",
        help="with --executor ray: what each model (each shard) asks the cluster for (default: GPU=1,CPU=1 with "
        "--device cuda, else CPU=--threads or 1); other names are the cluster's custom resources",
    )
    if not shards:
        return
    run.add_argument(
        "--shards",
        type=int,
        default=1,
        metavar="N",
        help="with --executor ray: split each model's accuracy pass over N workers, merged and scored once (the "
        "same numbers as one pass); speed is timed on the first shard's worker only",
    )


def check_executor(args: argparse.Namespace) -> dict[str, float] | None:
    """The executor options checked together; with ``--executor ray``, what each model asks the cluster for (and
    ``--threads`` defaults to its CPUs, so the run's record says what every model ran with)."""
    if args.executor != "ray":
        for name in ("ray_address", "model_resources"):
            if getattr(args, name) is not None:
                raise ZooError(f"--{name.replace('_', '-')} is for --executor ray; add --executor ray, or drop it")
        if getattr(args, "shards", 1) != 1:
            raise ZooError(f"--shards {args.shards} is for --executor ray; add --executor ray, or drop it")
        return None
    if getattr(args, "shards", 1) < 1:
        raise ZooError(f"--shards {args.shards}: give 1 or more")
    resources = parse_resources(args.model_resources, args.device, args.threads)
    if args.threads is None and resources.get("CPU", 0) >= 1:
        args.threads = int(resources["CPU"])
    return resources


def parse_resources(text: str | None, device: str, threads: int | None = None) -> dict[str, float]:
    """``CPU=4,GPU=1,name=1`` as Ray resources; the default asks for one GPU on CUDA, else ``threads`` CPUs (1)."""
    if text is None:
        return {"CPU": 1.0, "GPU": 1.0} if device.startswith("cuda") else {"CPU": float(threads or 1)}
    resources: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = -1.0
        if not name or amount < 0 or amount != amount:
            raise ZooError(f"--model-resources {text}: {item!r} is not NAME=NUMBER; e.g. CPU=2,GPU=1")
        resources[name.strip()] = amount
    if not resources:
        raise ZooError(f"--model-resources {text!r}: give NAME=NUMBER pairs, e.g. CPU=2,GPU=1")
    return resources


def default_memory_limit() -> float:
    """80% of this machine's memory: a runaway model is stopped before the system's OOM killer picks a victim."""
    import psutil

    return round(psutil.virtual_memory().total / 2**30 * 0.8, 1)


def runtime_options(run: argparse.ArgumentParser) -> None:
    """Which runtimes every exportable model also runs under (`zoo.runtimes`)."""
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
    other = copy.copy(args)
    other.data, other.limit = spec or args.data, None
    if spec:
        other.images = None
    return load_dataset(other)
