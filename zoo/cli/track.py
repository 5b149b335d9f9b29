"""``zoo track``: each selected detector's boxes through one fixed tracker (ByteTrack), plus the oracle row (the
ground truth through the same tracker), scored with TrackEval; a run folder with the tracks as MOTChallenge files,
``tracking.json``, ``leaderboard.csv`` and ``index.html``."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from zoo.cli.common import cell, console, load_catalogue, parse_weights, print_columns, safe
from zoo.cli.run_options import check_executor, check_limits, default_memory_limit, executor_options, isolation_options
from zoo.errors import ZooError


def add(commands, common: argparse.ArgumentParser, weights: argparse.ArgumentParser) -> None:
    from zoo.tracking.tracker import TRACKERS

    track = commands.add_parser(
        "track",
        parents=[common, weights],
        help="track objects through video with each detector and one tracker; HOTA, MOTA, IDF1 and fps",
        description="Run each detector on every frame of a video, feed its boxes at one confidence to one tracker "
        "with fixed settings, and score the tracks with TrackEval (HOTA, DetA, AssA, MOTA, IDF1, ID switches); an "
        "oracle row feeds the ground truth to the same tracker.",
    )
    track.add_argument("--models", default="all", help="all, ids, globs (yolo*) or family:NAME, comma-separated")
    track.add_argument(
        "--data",
        default="moving-shapes",
        help="mot17 (MOT17's train split, fetched on first use: about 5.5 GB, CC BY-NC-SA 3.0), a MOTChallenge "
        "sequence folder (seqinfo.ini, img1/, gt/gt.txt), a folder of them (MOT17's train/), or "
        "moving-shapes[:seqs=N,frames=N,objects=N,size=WxH,seed=N,occlusion=0|1] (the default)",
    )
    track.add_argument("--tracker", default="bytetrack", choices=TRACKERS, help="the tracker (default: bytetrack)")
    track.add_argument(
        "--conf",
        type=float,
        default=0.1,
        help="the detectors' boxes scoring at least this go to the tracker (default 0.1: ByteTrack's low threshold)",
    )
    track.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    track.add_argument("--out", metavar="DIR", help="run folder to write (default: reports/track-<date-time>)")
    track.add_argument(
        "--weights", action="append", default=[], metavar="ID=PATH", help="load model ID's weights from PATH"
    )
    track.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch and Model.threads")
    track.add_argument("--no-oracle", dest="oracle", action="store_false", help="leave out the oracle row")
    track.add_argument(
        "--force", action="store_true", help="track the selected models again even if this run folder has their rows"
    )
    isolation_options(track)
    executor_options(track, shards=False)
    track.set_defaults(command=cmd_track)


def cmd_track(args: argparse.Namespace) -> int:
    from zoo.cli.run import progress, say_line
    from zoo.device import check_device
    from zoo.executors import open_executor
    from zoo.registry import select
    from zoo.tracking.protocol import TrackSettings, track_models, track_work
    from zoo.tracking.report import write_page
    from zoo.tracking.video import load_video

    if not 0 <= args.conf <= 1:
        raise ZooError(f"--conf {args.conf}: give a score threshold between 0 and 1")
    if args.threads is not None and args.threads < 1:
        raise ZooError(f"--threads {args.threads}: give a positive number of threads")
    check_limits(args)
    resources = check_executor(args)
    plugins, catalogue = load_catalogue(args)
    entries = select(args.models, catalogue, plugins.problems)
    weights = parse_weights(args.weights, catalogue)
    device = args.device if args.executor == "ray" else check_device(args.device)  # on Ray: the workers' device
    out = Path(args.out) if args.out else Path("reports") / f"track-{datetime.now():%Y%m%d-%H%M%S}"
    _fetch_video(args.data)
    video = load_video(args.data, out=out)
    settings = TrackSettings(
        args.tracker, args.conf, device, args.threads, args.oracle, args.isolation, weights, args.executor
    )
    _fetch(entries, plugins, weights)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    work = track_work(video, settings, out, _isolation(args))
    options = {"address": args.ray_address, "resources": resources} if args.executor == "ray" else {}
    executor = open_executor(args.executor, work, options or {"plugins": plugins, "progress": progress}, say_line)
    console.print(
        f"zoo: {len(entries)} detector(s) + {'the oracle' if args.oracle else 'no oracle'} through {args.tracker} on "
        f"{safe(video.source)} ({len(video.sequences)} sequence(s), {video.frames} frames) → {out}",
        markup=False,
    )
    try:
        rows = track_models(entries, plugins, video, settings, out, force=args.force, say=say_line, executor=executor)
    finally:
        executor.close()
    page = write_page(out)
    _print(rows)
    print(page)
    failed = [row["id"] for row in rows if row["status"] == "failed"]
    if failed:
        console.print(f"zoo: {len(failed)} row(s) failed: {', '.join(map(safe, failed))} (exit status 1)", markup=False)
    return 1 if failed else 0


def _isolation(args: argparse.Namespace) -> tuple | None:
    """The worker setup and limits each detector runs under (as in ``zoo run``), or None: ``--no-isolation``."""
    from zoo.isolation import Limits, WorkerSetup

    if not args.isolation:
        return None
    memory = args.memory_limit if args.memory_limit is not None else default_memory_limit()
    limits = Limits(timeout=args.timeout or None, stall_timeout=args.stall_timeout or None, memory_gb=memory or None)
    return WorkerSetup(plugin_dirs=tuple(args.plugins_dir)), limits


def _fetch_video(spec: str) -> None:
    """A named tracking benchmark fetched on first use (its licence and checks said first); a detection benchmark
    is a user error."""
    from zoo.cli.downloads import fetch_benchmark
    from zoo.data import benchmarks

    benchmark = benchmarks.get(spec)
    if benchmark is None:
        return
    if benchmark.format != "mot":
        tracking = ", ".join(name for name, b in benchmarks.BENCHMARKS.items() if b.format == "mot")
        raise ZooError(f"--data {spec}: a detection benchmark (still images); zoo track takes {tracking}, a "
                       "MOTChallenge folder or moving-shapes")  # fmt: skip
    fetch_benchmark(benchmark)


def _fetch(entries: list, plugins, weights: dict) -> None:
    """The selected models' missing official files, before anything is measured (nothing when offline)."""
    from zoo.cli.downloads import fetch_needs
    from zoo.fetch import config
    from zoo.weights import plan

    if not config.offline():
        needs, _ = plan(entries, plugins, weights)
        fetch_needs(needs)


def _print(rows: list[dict]) -> None:
    from zoo.tracking.protocol import flat, sorted_rows

    header = ("row", "status", "HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDsw", "fps", "tracker share")
    lines = [header]
    for row in sorted_rows(rows):
        f = flat(row)
        share = f.get("tracker_share")
        numbers = [cell(f.get(key)) for key in ("hota", "deta", "assa", "mota", "idf1", "idsw", "fps")]
        lines.append((row["id"], row["status"], *numbers, "" if share is None else f"{share:.0%}"))
    print_columns(lines)
    for row in rows:
        if row["reason"]:
            console.print(f"  {safe(row['id'])}: {safe(row['reason'])}", markup=False)
