"""The options of ``zoo run`` that set its protocol and its isolation, and their range checks."""

from __future__ import annotations

import argparse

from zoo.errors import ZooError


def protocol_options(run: argparse.ArgumentParser) -> None:
    """What is timed and scored, and how."""
    run.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed calls before timing (default 3)")
    run.add_argument("--iters", type=int, default=200, metavar="N", help="at most N timed batch-1 calls (default 200)")
    run.add_argument(
        "--speed-precision",
        type=float,
        default=0.05,
        metavar="SHARE",
        help="time batch-1 calls until the 95%% interval of the median latency is within ± this share of it "
        "(default 0.05; an interval needs 6 calls; with --speed-conf 0 every image of the accuracy pass counts)",
    )
    run.add_argument("--batch", type=int, default=8, metavar="N", help="batch size for throughput (default 8)")
    run.add_argument("--batch-calls", type=int, default=3, metavar="N", help="timed batched calls (default 3)")
    run.add_argument(
        "--speed-budget",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="seconds each model may spend on timing beyond its first call and accuracy pass: warm-up, latency "
        "calls and batches together (default 20; a row whose interval it cut short is flagged)",
    )
    run.add_argument(
        "--speed-conf",
        type=float,
        default=0.25,
        metavar="SCORE",
        help="time each model at this score threshold, applied through its library's own mechanism after the "
        "accuracy pass (default 0.25; 0: time at the accuracy setting; accuracy always uses every prediction)",
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


def check_numbers(args: argparse.Namespace) -> None:
    """Every numeric option in range, before anything is loaded or written."""
    at_least = {
        "warmup": 0,
        "batch_calls": 0,
        "speed_budget": 0,
        "speed_precision": 0,
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
    if not 0.0 <= args.speed_conf <= 1.0:
        raise ZooError(f"--speed-conf {args.speed_conf}: give a score between 0 and 1")


def default_memory_limit() -> float:
    """80% of this machine's memory: a runaway model is stopped before the system's OOM killer picks a victim."""
    import psutil

    return round(psutil.virtual_memory().total / 2**30 * 0.8, 1)
