"""``zoo run``: fetch what the selected models need, run each on the dataset with one protocol, write a run folder."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo import settings as protocol
from zoo.cli.closing import exit_status, print_leaderboard, print_result
from zoo.cli.common import console, load_catalogue, load_dataset, parse_weights, safe
from zoo.cli.downloads import fetch_needs
from zoo.cli.export import after_run, check_before_run
from zoo.cli.run_options import (
    check_executor,
    check_limits,
    default_memory_limit,
    executor_options,
    expand_for_run,
    isolation_options,
    runtime_options,
)
from zoo.errors import ZooError


def add(commands, common: argparse.ArgumentParser, weights: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run",
        parents=[common, weights],
        help="run models on a dataset and write a report",
        description="Run models on one dataset with one protocol; write a run folder. The official weights of the "
        "selected models are fetched first where they are missing (unless --offline).",
    )
    run.add_argument("--models", default="all", help="all, ids, globs (yolo*) or family:NAME, comma-separated")
    run.add_argument(
        "--data",
        default="sample",
        help="sample (the default: real photographs that installed packages ship, with COCO classes), "
        "shapes[:count=N,size=WxH,seed=N], a benchmark fetched on first use (coco-val2017, voc2007-test), "
        "a COCO .json, a YOLO data.yaml or a VOC folder",
    )
    run.add_argument("--images", metavar="DIR", help="folder the dataset's image paths are relative to")
    run.add_argument("--split", default="val", help="YOLO / VOC split to use (default: val)")
    run.add_argument(
        "--limit", type=int, metavar="N", help="use only the first N images (a fixed subset: the N smallest image ids)"
    )
    run.add_argument("--out", metavar="DIR", help="run folder to write (default: reports/<date-time>)")
    run.add_argument(
        "--trained",
        metavar="DIR",
        help="score the models fine-tuned into DIR (`zoo train --models`, `zoo fewshot`) instead of as shipped",
    )
    run.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="ID=PATH",
        help="load model ID's weights from PATH (repeatable)",
    )
    protocol.add_options(run)  # every protocol setting, its default and help from zoo.settings.Settings
    runtime_options(run)
    run.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 also when a model has no weights (a failed or timed-out model always gives 1)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="run the selected models again even if this run folder already has their results",
    )
    isolation_options(run)
    executor_options(run)
    run.add_argument(
        "--allow-network",
        action="store_true",
        help="let models reach the network while they are measured (off by default: offline, fail fast)",
    )
    run.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="URI",
        help="at the end, export the run into MLflow as `zoo export mlflow` does: URI a tracking server or store "
        "(default: MLflow's own); needs zoo[mlflow]",
    )
    run.set_defaults(command=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from zoo import robustness
    from zoo.adapt.folder import check_overlap, trained_entries
    from zoo.device import check_device  # imports torch: only when a run starts
    from zoo.executors import RunSpec, open_executor
    from zoo.isolation import Limits, WorkerSetup
    from zoo.registry import select
    from zoo.runfolder import RunFolder

    protocol.check(args)
    check_limits(args)
    if args.mlflow is not None:
        check_before_run()
    resources = check_executor(args)
    plugins, catalogue = load_catalogue(args)
    if args.trained:  # the fine-tuned checkpoints, each as its base model with the checkpoint as weights
        catalogue = trained_entries(Path(args.trained), catalogue)
    entries = select(args.models, catalogue, plugins.problems)
    weights = parse_weights(args.weights, catalogue)
    device = args.device if args.executor == "ray" else check_device(args.device)  # on Ray: the workers' device
    if args.isolation and args.executor == "local":
        from zoo.workers import start_early

        start_early(args.allow_network, {entry.plugin for entry in entries})  # imports while the dataset is read
    dataset = load_dataset(args)
    if args.trained:
        check_overlap(Path(args.trained), dataset)
    entries, weights, runtimes_context = expand_for_run(args, entries, weights, dataset)
    settings = protocol.from_args(args, device=device, weights=weights)
    robustness.check(settings, getattr(args, "shards", None))  # --corruptions: names, severities, the library
    memory_gb = args.memory_limit if args.memory_limit is not None else default_memory_limit()
    limits = Limits(timeout=args.timeout or None, stall_timeout=args.stall_timeout or None, memory_gb=memory_gb or None)
    out = Path(args.out) if args.out else Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = RunFolder(out)
    setup = WorkerSetup(plugin_dirs=tuple(args.plugins_dir), allow_network=args.allow_network)
    spec = RunSpec(dataset, settings, setup, limits, args.isolation, out)
    # before the run folder is touched: a cluster that cannot be reached is said now, and nothing is written
    executor = open_executor(args.executor, spec, _executor_options(args, plugins, resources), say_line)
    try:
        context = {**_context(args, settings, limits, dataset, plugins), "runtimes": runtimes_context}
        folder.open(context, dataset.coco_ground_truth(), dataset, fresh=args.force)
        console.print(
            f"zoo: {len(entries)} model(s) on {safe(dataset.name)} ({len(dataset.images)} images, "
            f"{dataset.num_boxes} boxes) → {out}",
            markup=False,
        )
        stopped = _run(entries, _job(args, folder, settings, plugins), executor)
    finally:
        executor.close()
    if stopped:
        return stopped
    print_leaderboard(folder.results)
    print(out / "index.html")
    status = exit_status(folder.results, [entry.id for entry in entries], args.strict)
    if args.mlflow is not None:
        status = after_run(out, args.mlflow, status)
    return status


def _run(entries: list, job: Any, executor) -> int:
    """Every model through the executor; the run's end recorded however it ends. Returns 0, or the exit status of
    an interrupted run (130: Ctrl-C, 143: SIGTERM)."""
    started = time.time()
    try:
        with _sigterm_as_interrupt():
            job.run(entries, executor)
    except KeyboardInterrupt as stop:
        console.print(
            f"zoo: interrupted; the models that finished are in {job.folder.path}; run the same command to resume",
            markup=False,
        )
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        job.folder.finish(
            {
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "duration_s": round(time.time() - started, 2),
            }
        )
    return 0


def _job(args: argparse.Namespace, folder, settings, plugins) -> Any:
    """What the loop over the models needs from the CLI: the run folder, the protocol, and how to fetch and say."""
    from zoo.executors.loop import Job

    def skipped(entry) -> None:
        console.print(
            f"  {'done':>10} {safe(entry.id)} (earlier in this run folder; --force runs it again)", markup=False
        )

    return Job(folder, settings, plugins, fetch_needs, print_result, skipped, force=args.force)


def _executor_options(args: argparse.Namespace, plugins, resources: dict | None) -> dict:
    if args.executor == "ray":
        return {"address": args.ray_address, "resources": resources, "shards": args.shards}
    return {"plugins": plugins, "progress": progress}


def say_line(line: str) -> None:
    """A line from the executor, its indentation kept (a model's line lines up with the results')."""
    text = line.lstrip(" ")
    console.print(" " * (len(line) - len(text)) + safe(text), markup=False)


def _context(args, settings, limits, dataset, plugins) -> dict:
    """What results.json records about the run as a whole; the hardware is this machine's (each row records where
    it ran: with --executor ray, a worker)."""
    from zoo import context as run_context
    from zoo.fetch import config

    if settings.threads is not None:  # applied before it is recorded: the count every model runs with (a worker
        import torch  # applies it too, and a model sees it as Model.threads)

        torch.set_num_threads(settings.threads)
    device = settings.device
    if args.executor != "ray" or _here(device):  # the local executor checked the device already
        hardware = run_context.hardware(device)
        hardware["peak_gflops"], hardware["peak_method"] = _peak(args.out, hardware, device)
    else:  # --executor ray --device cuda from a machine without one
        hardware = {**run_context.hardware("cpu"), "device": device}
        hardware["peak_gflops"], hardware["peak_method"] = None, f"not measured: this machine has no {device}"
    executor = {"kind": args.executor}
    if args.executor == "ray":
        executor |= {"address": args.ray_address or "a local Ray instance", "model_resources": args.model_resources,
                     "shards": args.shards}  # fmt: skip
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": run_context.command_line(),
        "zoo_commit": run_context.git_commit(),
        "settings": {
            **settings.record(),
            "split": args.split if dataset.format in ("yolo", "voc") else None,
            "predict_batch": 1,
            "score_threshold_for_ap": "none applied by zoo; each library's own lowest is in its model's info.settings",
            "coco_max_dets": 100,
        },
        "isolation": {"workers": args.isolation, **vars(limits), "allow_network": args.allow_network},
        "executor": executor,
        "weights_source": {
            "offline": config.offline(),
            "weights_dir": str(config.weights_dir()) if config.weights_dir() else None,
            "mirror": config.mirror(),
        },
        "hardware": hardware,
        "versions": run_context.versions(),
        "dataset": dataset.describe(),
        "plugin_problems": [str(problem) for problem in plugins.problems],
    }


def _here(device: str) -> bool:
    """Whether this machine has ``device`` (Ray workers may have it where this one does not)."""
    from zoo.device import check_device

    try:
        check_device(device)
    except ZooError:
        return False
    return True


def _peak(out: str | None, hardware: dict, device: str) -> tuple[float | None, str]:
    """The device's float32 peak, the yardstick of every model's GFLOP/s: measured once per run with the run's
    threads; a resumed run keeps the peak its earlier models were compared with (on the same machine)."""
    earlier: dict = {}
    if out and (Path(out) / "results.json").is_file():
        from zoo.runfolder import read_results

        with contextlib.suppress(ZooError):
            earlier = read_results(Path(out)).context.get("hardware") or {}
    if earlier.get("peak_gflops") and {k: v for k, v in earlier.items() if not k.startswith("peak_")} == hardware:
        return earlier["peak_gflops"], earlier.get("peak_method") or ""
    try:
        from zoo.device import measure_peak_gflops

        return measure_peak_gflops(device)
    except Exception as error:  # a device that cannot run the product (out of memory) still runs its models
        return None, f"not measured: {type(error).__name__}: {error}"


@contextlib.contextmanager
def progress(entry) -> Iterator[Any]:
    """A progress line while one model runs on this machine (a line per phase in a log), as a `runner.Report`."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(escape(safe(entry.id)), total=None)
        phases: list[str] = []
        started = time.monotonic()

        def report(phase: str, done: int, total: int | None) -> None:
            description = escape(safe(f"{entry.id}: {phase}"))  # the progress line reads markup
            bar.update(task, description=description, completed=done, total=total)
            if not console.is_terminal and phase not in phases:  # a log: a line per phase instead of a bar
                phases.append(phase)
                of = f" ({total})" if total else ""
                console.print(f"  {safe(entry.id)}: {phase}{of} at {time.monotonic() - started:.0f} s", markup=False)

        yield report


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
