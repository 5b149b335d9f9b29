"""``zoo run``: fetch what the selected models need, run each on the dataset with one protocol, write a run folder."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.cli.closing import exit_status, print_leaderboard, print_result
from zoo.cli.common import console, load_catalogue, load_dataset, parse_weights, safe
from zoo.cli.run_options import check_numbers, default_memory_limit, isolation_options, protocol_options
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
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    run.add_argument("--out", metavar="DIR", help="run folder to write (default: reports/<date-time>)")
    run.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="ID=PATH",
        help="load model ID's weights from PATH (repeatable)",
    )
    protocol_options(run)
    run.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads: torch's, and Model.threads for other runtimes (default: their own choice)",
    )
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
    run.add_argument(
        "--allow-network",
        action="store_true",
        help="let models reach the network while they are measured (off by default: offline, fail fast)",
    )
    run.add_argument(
        "--no-untrained-speed",
        dest="untrained_speed",
        action="store_false",
        help="do not time models whose weights are missing on an untrained copy",
    )
    run.set_defaults(command=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from zoo.device import check_device
    from zoo.isolation import Limits, WorkerSetup
    from zoo.registry import select
    from zoo.runfolder import RunFolder
    from zoo.runner import Settings

    check_numbers(args)
    plugins, catalogue = load_catalogue(args)
    entries = select(args.models, catalogue, plugins.problems)
    weights = parse_weights(args.weights, catalogue)
    device = check_device(args.device)
    dataset = load_dataset(args)
    settings = Settings(
        device=device,
        warmup=args.warmup,
        iters=args.iters,
        speed_precision=args.speed_precision,
        batch=args.batch,
        batch_calls=args.batch_calls,
        speed_budget=args.speed_budget,
        speed_conf=args.speed_conf,
        iou_conf=args.iou_conf,
        untrained_speed=args.untrained_speed,
        weights=weights,
        imgsz=args.imgsz,
        threads=args.threads,
    )
    memory_gb = args.memory_limit if args.memory_limit is not None else default_memory_limit()
    limits = Limits(timeout=args.timeout or None, stall_timeout=args.stall_timeout or None, memory_gb=memory_gb or None)
    out = Path(args.out) if args.out else Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = RunFolder(out)
    folder.open(
        _context(args, settings, limits, dataset, device, plugins),
        dataset.coco_ground_truth(),
        dataset,
        fresh=args.force,
    )
    setup = WorkerSetup(plugin_dirs=tuple(args.plugins_dir), allow_network=args.allow_network)
    job = _Job(args, folder, dataset, settings, plugins, setup, limits)
    console.print(
        f"zoo: {len(entries)} model(s) on {safe(dataset.name)} ({len(dataset.images)} images, "
        f"{dataset.num_boxes} boxes) → {out}",
        markup=False,
    )
    started = time.time()
    try:
        with _sigterm_as_interrupt():
            for entry in entries:
                _measure(entry, job)
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
    print_leaderboard(folder.results)
    print(out / "index.html")
    return exit_status(folder.results, [entry.id for entry in entries], args.strict)


@dataclass
class _Job:
    """What every model of one ``zoo run`` shares."""

    args: argparse.Namespace
    folder: Any  # the RunFolder
    dataset: Any
    settings: Any
    plugins: Any
    setup: Any  # how a worker rebuilds the plugins
    limits: Any
    failed: dict = field(default_factory=dict)  # file key -> the outcome of a fetch that failed: asked once per run


def _measure(entry, job: _Job) -> None:
    """One entry: skipped when the run folder has it, else its files fetched, the model run, its row written."""
    folder = job.folder
    key = {
        "entry": {"model": entry.model, "plugin": entry.plugin, "weights": entry.weights, "options": entry.options},
        "weights": job.settings.weights.get(entry.id),
    }
    if not job.args.force and folder.finished(entry.id, key) is not None:
        console.print(
            f"  {'done':>10} {safe(entry.id)} (earlier in this run folder; --force runs it again)", markup=False
        )
        return
    fetched = _fetch(entry, job)
    model_run = _run_one(entry, job)
    _record_fetch(model_run.result, fetched)
    model_run.result["key"] = key
    model_run.result["entry_notes"] = entry.notes
    model_run.result["licence"] = entry.licence or None
    model_run.result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    folder.add(model_run)
    print_result(model_run.result)


def _context(args, settings, limits, dataset, device, plugins) -> dict:
    """What results.json records about the run as a whole."""
    from zoo import context as run_context
    from zoo.fetch import config

    if settings.threads is not None:  # applied before it is recorded: the count every model runs with (a worker
        import torch  # applies it too, and a model sees it as Model.threads)

        torch.set_num_threads(settings.threads)
    hardware = run_context.hardware(device)
    hardware["peak_gflops"], hardware["peak_method"] = _peak(args.out, hardware, device)
    return {
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


def _peak(out: str | None, hardware: dict, device: str) -> tuple[float | None, str]:
    """The device's float32 peak, the yardstick of every model's GFLOP/s: measured once per run with the run's
    threads; a resumed run keeps the peak its earlier models were compared with (on the same machine)."""
    earlier: dict = {}
    if out and (Path(out) / "results.json").is_file():
        from zoo.runfolder import read_results

        with contextlib.suppress(ZooError):
            earlier = (read_results(Path(out)).get("context") or {}).get("hardware") or {}
    if earlier.get("peak_gflops") and {k: v for k, v in earlier.items() if not k.startswith("peak_")} == hardware:
        return earlier["peak_gflops"], earlier.get("peak_method") or ""
    try:
        from zoo.device import measure_peak_gflops

        return measure_peak_gflops(device)
    except Exception as error:  # a device that cannot run the product (out of memory) still runs its models
        return None, f"not measured: {type(error).__name__}: {error}"


def _fetch(entry, job: _Job) -> list:
    """The entry's missing official files, fetched before it is measured (never inside a timed step); nothing when
    offline. A file that failed for an earlier model of the run is not tried again (R-CNN, Fast R-CNN and Faster
    R-CNN share one). A plugin that cannot say what it needs fails in its own row."""
    from zoo.cli.downloads import fetch_needs
    from zoo.fetch import FAILED, config
    from zoo.weights import plan

    if config.offline():
        return []
    needs, _ = plan([entry], job.plugins, job.settings.weights)
    outcomes = [job.failed[n.file.key] for n in needs if n.file.key in job.failed]
    outcomes += fetch_needs([n for n in needs if n.file.key not in job.failed])
    job.failed.update((o.file.key, o) for o in outcomes if o.state == FAILED)
    return outcomes


def _record_fetch(result: dict, outcomes: list) -> None:
    """What fetching did for the model, in its result; a failed fetch is the reason its weights are missing."""
    from zoo.fetch import FAILED, PRESENT
    from zoo.runner import NO_WEIGHTS

    result["fetch"] = [
        {
            "file": o.file.name,
            "url": o.file.url,
            "state": o.state,
            "path": str(o.path) if o.path else None,
            "bytes": o.bytes,
            "seconds": round(o.seconds, 3),
            "detail": o.detail,
        }
        for o in outcomes
        if o.state != PRESENT
    ]
    failed = [o for o in outcomes if o.state == FAILED]
    if failed and result["status"] == NO_WEIGHTS:
        result["reason"] = f"could not fetch {failed[0].file.name}: {failed[0].detail}"


def _run_one(entry, job: _Job):
    """One model, in a worker process (default) or in this one, with a progress line while it runs; offline unless
    --allow-network."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo.isolation import run_in_process, run_isolated
    from zoo.offline import offline

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    args, out = job.args, job.folder.path
    with (
        offline(not args.allow_network),
        Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress,
    ):
        task = progress.add_task(escape(safe(entry.id)), total=None)
        phases: list[str] = []
        started = time.monotonic()

        def report(phase: str, done: int, total: int | None) -> None:
            description = escape(safe(f"{entry.id}: {phase}"))  # the progress line reads markup
            progress.update(task, description=description, completed=done, total=total)
            if not console.is_terminal and phase not in phases:  # a log: a line per phase instead of a bar
                phases.append(phase)
                of = f" ({total})" if total else ""
                console.print(f"  {safe(entry.id)}: {phase}{of} at {time.monotonic() - started:.0f} s", markup=False)

        if not args.isolation:
            return run_in_process(entry, job.dataset, job.settings, job.plugins, report)
        log = out / "logs" / f"{entry.id}.log"
        return run_isolated(entry, job.dataset, job.settings, job.setup, job.limits, out / ".work", log, report)


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
