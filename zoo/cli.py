"""The ``zoo`` command: ``zoo run``, ``zoo models``, ``zoo report``.

User errors end with a one-line ``zoo: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import track as rich_track
from rich.table import Table
from rich.text import Text

from zoo import __version__
from zoo.errors import ZooError

T = TypeVar("T")
console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except ZooError as error:
        console.print(f"zoo: error: {error}", markup=False)
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
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugins-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also load the plugins in DIR (repeatable; also $ZOO_PLUGINS_DIR)",
    )
    common.add_argument("--registry", metavar="PATH", help="the catalogue to use (default: zoo's registry.yaml)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run models on a dataset and write a report",
        description="Run models on one dataset with one protocol; write a run folder.",
    )
    run.add_argument("--models", default="all", help="all, ids, globs (yolo*) or family:NAME, comma-separated")
    run.add_argument(
        "--data",
        default="sample",
        help="sample (the default: real photographs that installed packages ship, with COCO classes), "
        "shapes[:count=N,size=WxH,seed=N], a COCO .json, a YOLO data.yaml or a VOC folder",
    )
    run.add_argument("--images", metavar="DIR", help="folder the dataset's image paths are relative to")
    run.add_argument("--split", default="val", help="YOLO / VOC split to use (default: val)")
    run.add_argument("--limit", type=int, metavar="N", help="use only the first N images")
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    run.add_argument("--out", metavar="DIR", help="run folder to write (default: reports/<date-time>)")
    run.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="ID=PATH",
        help="load model ID's weights from PATH (repeatable)",
    )
    run.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed calls before timing (default 3)")
    run.add_argument("--iters", type=int, default=30, metavar="N", help="at least N timed batch-1 calls (default 30)")
    run.add_argument("--batch", type=int, default=8, metavar="N", help="batch size for throughput (default 8)")
    run.add_argument("--batch-calls", type=int, default=3, metavar="N", help="timed batched calls (default 3)")
    run.add_argument(
        "--speed-budget",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="a slow model stops extra timing calls after this long (default 60; at least 5 calls are timed)",
    )
    run.add_argument(
        "--iou-conf",
        type=float,
        default=0.5,
        metavar="SCORE",
        help="minimum score of a prediction for the IoU metrics (default 0.5; AP uses all)",
    )
    run.add_argument(
        "--imgsz",
        type=int,
        metavar="PIXELS",
        help="run every model that allows it at this input size instead of its native one",
    )
    run.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    run.add_argument(
        "--force",
        action="store_true",
        help="run the selected models again even if this run folder already has their results",
    )
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
    run.add_argument(
        "--allow-network",
        action="store_true",
        help="let models reach the network during the run (off by default: offline, fail fast)",
    )
    run.add_argument(
        "--no-untrained-speed",
        dest="untrained_speed",
        action="store_false",
        help="do not time models whose weights are missing on an untrained copy",
    )
    run.set_defaults(command=cmd_run)

    models = commands.add_parser(
        "models",
        parents=[common],
        help="list the catalogue",
        description="List the catalogue: family, plugin and weight status of each model.",
    )
    models.set_defaults(command=cmd_models)

    weights = commands.add_parser(
        "weights",
        parents=[common],
        help="where each model's weights are looked for",
        description="Per model: where zoo looks for its weights, what it found there, "
        "and what file to put where when they are missing.",
    )
    weights.set_defaults(command=cmd_weights)

    train = commands.add_parser(
        "train",
        help="train a model zoo can train (regressor) on a dataset and save a checkpoint",
        description="Train a model on any dataset zoo reads and save a checkpoint that `zoo run` can load. "
        "The regressor learns the largest box of each image (or of --class NAME); every 5th image with one is "
        "held out, and the validation mean IoU is printed after every epoch.",
    )
    train.add_argument("model", help="the model to train (regressor)")
    train.add_argument(
        "--data",
        required=True,
        help="shapes[:count=N,size=WxH,seed=N], sample, a COCO .json, a YOLO data.yaml or a VOC folder",
    )
    train.add_argument("--images", metavar="DIR", help="folder the dataset's image paths are relative to")
    train.add_argument("--split", default="train", help="YOLO / VOC split to train on (default: train)")
    train.add_argument("--limit", type=int, metavar="N", help="use only the first N images")
    train.add_argument("--class", dest="class_name", metavar="NAME", help="learn the largest box of this class only")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, metavar="N", help="passes over the training images (default 20)")
    length.add_argument("--minutes", type=float, metavar="M", help="train for this long instead of a number of epochs")
    train.add_argument("--imgsz", type=int, metavar="PIXELS", help="input size, a multiple of 32 (default 96)")
    train.add_argument("--seed", type=int, metavar="N", help="seed of the initialisation, order and flips (default 0)")
    train.add_argument(
        "--out", metavar="PATH", help="checkpoint to write (default: $ZOO_HOME/regressor-<dataset>[-<class>].pt)"
    )
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    train.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    train.add_argument(
        "--plugins-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also load the plugins in DIR (repeatable; also $ZOO_PLUGINS_DIR)",
    )
    train.set_defaults(command=cmd_train)

    report = commands.add_parser(
        "report",
        help="rebuild the report of run folders without running any model",
        description="Rebuild index.html and leaderboard.csv from results.json.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN_DIR")
    report.add_argument(
        "--out", metavar="DIR", help="where to write the report (default: RUN_DIR; required for several runs)"
    )
    report.set_defaults(command=cmd_report)
    return parser


def _track(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    return rich_track(
        items,
        description=escape(description),
        total=total,
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _load_plugins(args: argparse.Namespace):
    """The plugins, each one's problems printed as a warning (the others still load)."""
    from zoo.plugins import load_plugins

    plugins = load_plugins(args.plugins_dir)
    for problem in plugins.problems:
        console.print(f"zoo: warning: {problem}", markup=False)
    return plugins


def _load_dataset(args: argparse.Namespace):
    """The dataset ``--data`` names, with its counted warnings printed."""
    from zoo.data import load_dataset

    dataset = load_dataset(args.data, images_dir=args.images, split=args.split, limit=args.limit, track=_track)
    for line in dataset.issues.lines():
        console.print(f"zoo: warning: {dataset.source}: {line}", markup=False)
    return dataset


def _load_catalogue(args: argparse.Namespace):
    from zoo.registry import DEFAULT_REGISTRY, build_catalogue, load_registry

    plugins = _load_plugins(args)
    entries = load_registry(args.registry or DEFAULT_REGISTRY)
    return plugins, build_catalogue(entries, plugins)


def cmd_run(args: argparse.Namespace) -> int:
    from zoo import context as run_context
    from zoo.device import check_device
    from zoo.isolation import Limits, WorkerSetup
    from zoo.offline import offline
    from zoo.registry import select
    from zoo.runfolder import RunFolder
    from zoo.runner import Settings

    _check_numbers(args)
    plugins, catalogue = _load_catalogue(args)
    entries = select(args.models, catalogue)
    weights = _parse_weights(args.weights, catalogue)
    device = check_device(args.device)
    dataset = _load_dataset(args)
    settings = Settings(
        device=device,
        warmup=args.warmup,
        iters=args.iters,
        batch=args.batch,
        batch_calls=args.batch_calls,
        speed_budget=args.speed_budget,
        iou_conf=args.iou_conf,
        untrained_speed=args.untrained_speed,
        weights=weights,
        imgsz=args.imgsz,
        threads=args.threads,
    )
    memory_gb = args.memory_limit if args.memory_limit is not None else _default_memory_limit()
    limits = Limits(timeout=args.timeout or None, stall_timeout=args.stall_timeout or None, memory_gb=memory_gb or None)
    out = Path(args.out) if args.out else Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")
    context = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": run_context.command_line(),
        "zoo_commit": run_context.git_commit(),
        "settings": {
            **{k: v for k, v in vars(settings).items() if k != "weights"},
            "iou_thresholds": list(settings.iou_thresholds),
            "split": args.split if dataset.format in ("yolo", "voc") else None,
            "predict_batch": 1,
            "score_threshold_for_ap": "none applied by zoo; each library's own lowest is in its model's info.settings",
            "coco_max_dets": 100,
        },
        "isolation": {"workers": args.isolation, **vars(limits), "allow_network": args.allow_network},
        "hardware": run_context.hardware(device),
        "versions": run_context.versions(),
        "dataset": dataset.describe(),
        "plugin_problems": [str(problem) for problem in plugins.problems],
    }
    folder = RunFolder(out)
    folder.open(context, dataset.coco_ground_truth(), dataset, fresh=args.force)
    setup = WorkerSetup(plugin_dirs=tuple(args.plugins_dir), allow_network=args.allow_network)
    console.print(
        f"zoo: {len(entries)} model(s) on {dataset.name} ({len(dataset.images)} images, "
        f"{dataset.num_boxes} boxes) → {out}",
        markup=False,
    )
    started = time.time()
    try:
        with offline(not args.allow_network), _sigterm_as_interrupt():
            for entry in entries:
                key = {
                    "entry": {
                        "model": entry.model,
                        "plugin": entry.plugin,
                        "weights": entry.weights,
                        "options": entry.options,
                    },
                    "weights": weights.get(entry.id),
                }
                done = None if args.force else folder.finished(entry.id, key)
                if done is not None:
                    console.print(
                        f"  {'done':>10} {entry.id} (earlier in this run folder; --force runs it again)", markup=False
                    )
                    continue
                model_run = _run_one(entry, dataset, settings, plugins, setup, limits, out, args.isolation)
                model_run.result["key"] = key
                model_run.result["entry_notes"] = entry.notes
                model_run.result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                folder.add(model_run)
                _print_result(model_run.result)
    except KeyboardInterrupt as stop:
        console.print(
            f"zoo: interrupted; the models that finished are in {out}; run the same command to resume", markup=False
        )
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        folder.finish(
            {
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "duration_s": round(time.time() - started, 2),
            }
        )
    _print_leaderboard(folder.results)
    print(out / "index.html")
    return 0


def _run_one(entry, dataset, settings, plugins, setup, limits, out: Path, isolated: bool):
    """One model, in a worker process (default) or in this one, with a progress line while it runs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo.isolation import run_in_process, run_isolated

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(entry.id, total=None)

        def report(phase: str, done: int, total: int | None) -> None:
            progress.update(task, description=f"{entry.id}: {phase}", completed=done, total=total)

        if not isolated:
            return run_in_process(entry, dataset, settings, plugins, report)
        return run_isolated(
            entry, dataset, settings, setup, limits, out / ".work", out / "logs" / f"{entry.id}.log", report
        )


def _check_numbers(args: argparse.Namespace) -> None:
    """Every numeric option in range, before anything is loaded or written."""
    at_least = {
        "warmup": 0,
        "batch_calls": 0,
        "speed_budget": 0,
        "iters": 1,
        "batch": 1,
        "timeout": 0,
        "stall_timeout": 0,
        "memory_limit": 0,
        "threads": 1,
        "imgsz": 32,
    }
    for name, low in at_least.items():
        value = getattr(args, name)
        if value is not None and value < low:
            unit = " pixels" if name == "imgsz" else ""
            raise ZooError(f"--{name.replace('_', '-')} {value}: give {low}{unit} or more")
    if not 0.0 <= args.iou_conf <= 1.0:
        raise ZooError(f"--iou-conf {args.iou_conf}: give a score between 0 and 1")


def _default_memory_limit() -> float:
    """80% of this machine's memory: a runaway model is stopped before the system's OOM killer picks a victim."""
    import psutil

    return round(psutil.virtual_memory().total / 2**30 * 0.8, 1)


def _parse_weights(values: list[str], catalogue: dict) -> dict[str, str]:
    weights = {}
    for value in values:
        model_id, sep, path = value.partition("=")
        if not sep or not model_id or not path:
            raise ZooError(f"--weights {value}: expected ID=PATH")
        if model_id not in catalogue:
            raise ZooError(f"--weights {value}: unknown model id {model_id!r}; zoo models lists them")
        weights[model_id] = path
    return weights


def _print_result(result: dict) -> None:
    status = result["status"]
    colour = {"ok": "green", "no-weights": "yellow"}.get(status, "red")
    reason = f" — {result['reason']}" if result.get("reason") else ""
    console.print(f"  [{colour}]{status:>10}[/] {escape(result['id'] + reason)}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a job scheduler) during a run: handled as Ctrl-C is."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` while models run, so the running worker is stopped and what finished is kept
    (by default SIGTERM ends zoo at once and leaves the worker running)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_leaderboard(results: dict) -> None:
    from zoo.leaderboard import rows

    columns = ("model", "status", "mean_iou", "map", "map50", "latency_ms_p50", "images_per_s")
    table = Table(*columns, title="leaderboard")
    for row in rows(results):
        table.add_row(*(Text(_cell(row[c])) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    """A leaderboard value as short text for the terminal table."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _weights_checks(args: argparse.Namespace):
    """Each catalogue entry with its weights check (or the reason there is none), without loading anything."""
    from zoo.model import WeightsCheck
    from zoo.registry import build_model

    plugins, catalogue = _load_catalogue(args)
    for entry in catalogue.values():
        try:
            check = build_model(entry, plugins).check_weights()
        except ZooError as error:
            check = WeightsCheck("unavailable", hint=str(error))
        except Exception as error:  # a plugin's check must not break the listing
            check = WeightsCheck("unavailable", hint=f"check failed: {type(error).__name__}: {error}")
        yield entry, check


def cmd_models(args: argparse.Namespace) -> int:
    rows = [("id", "family", "plugin", "weights")]
    for entry, check in _weights_checks(args):
        rows.append((entry.id, entry.family, entry.plugin, {"none": "not needed"}.get(check.state, check.state)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    print("\n`zoo weights` says where each model's weights are looked for and what to put there.")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    for entry, check in _weights_checks(args):
        if check.state == "found":
            print(f"{entry.id}: found {check.location}")
        elif check.state == "none":
            print(f"{entry.id}: no weights needed ({check.hint})")
        else:
            print(f"{entry.id}: {check.state}: {check.hint}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model whose class offers ``train(dataset, **options) -> Path`` and print the checkpoint's path."""
    from zoo.device import check_device
    from zoo.offline import offline

    plugins = _load_plugins(args)
    trainable = sorted(model_id for model_id, r in plugins.models.items() if callable(getattr(r.cls, "train", None)))
    if args.model not in trainable:
        what = "is not a model zoo can train" if args.model in plugins.models else "is not a registered model"
        raise ZooError(f"zoo train {args.model}: {what}; zoo can train: {', '.join(trainable) or 'none'}")
    for name, low in (("epochs", 1), ("threads", 1), ("limit", 1)):
        value = getattr(args, name)
        if value is not None and value < low:
            raise ZooError(f"--{name} {value}: give {low} or more")
    if args.minutes is not None and not args.minutes > 0:
        raise ZooError(f"--minutes {args.minutes}: give a positive number of minutes")
    device = check_device(args.device)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    with offline(True):
        dataset = _load_dataset(args)
        path = plugins.models[args.model].cls.train(
            dataset,
            class_name=args.class_name,
            epochs=args.epochs,
            minutes=args.minutes,
            imgsz=args.imgsz,
            out=args.out,
            seed=args.seed,
            device=device,
            console=console,
        )
    print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from zoo.leaderboard import write_csv, write_joint_csv
    from zoo.report import write_report
    from zoo.report.page import run_labels
    from zoo.runfolder import read_results

    dirs = [Path(run) for run in args.runs]
    runs = [read_results(run_dir) for run_dir in dirs]
    if len(runs) > 1 and not args.out:
        raise ZooError(f"{len(runs)} runs: give --out DIR for their joint report, so no run's own report is replaced")
    out = Path(args.out) if args.out else dirs[0]
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out}: exists and is not a folder; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    if len(runs) == 1:
        write_csv(runs[0], out / "leaderboard.csv")
    else:
        write_joint_csv(runs, run_labels(dirs), out / "leaderboard.csv")
    print(write_report(runs, out, dirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
