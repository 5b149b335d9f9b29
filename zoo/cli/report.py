"""``zoo report``: rebuild the report and the CSV of finished runs from their results, without running a model."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.errors import ZooError


def add(commands) -> None:
    report = commands.add_parser(
        "report",
        help="rebuild the report of run folders without running any model",
        description="Rebuild index.html and leaderboard.csv from results.json (a `zoo track` folder: its page from "
        "tracking.json).",
    )
    report.add_argument("runs", nargs="+", metavar="RUN_DIR")
    report.add_argument(
        "--out", metavar="DIR", help="where to write the report (default: RUN_DIR; required for several runs)"
    )
    report.set_defaults(command=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from zoo.leaderboard import write_csv, write_joint_csv
    from zoo.report import write_report
    from zoo.report.page import run_labels
    from zoo.runfolder import read_results

    dirs = [Path(run) for run in args.runs]
    if len(dirs) == 1 and not args.out and _tracking(dirs[0]):  # a `zoo track` folder: its own page
        from zoo.tracking.report import write_page

        print(write_page(dirs[0]))
        return 0
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


def _tracking(folder: Path) -> bool:
    """Whether ``folder`` is a ``zoo track`` run folder (tracking.json, no results.json)."""
    return (folder / "tracking.json").is_file() and not (folder / "results.json").is_file()
