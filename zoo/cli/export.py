"""``zoo export mlflow RUN_DIR``: a finished run folder into an MLflow tracking store (one parent run, a child per
model row); ``zoo run --mlflow`` does the same at the end of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli.common import console, safe


def add(commands) -> None:
    export = commands.add_parser(
        "export",
        help="export a finished run folder into another tool (mlflow)",
        description="Export a finished run folder into the tools teams keep results in.",
    )
    targets = export.add_subparsers(title="targets", required=True, metavar="TARGET")
    mlflow = targets.add_parser(
        "mlflow",
        help="one MLflow parent run per zoo run, one child run per model row (needs zoo[mlflow])",
        description="Write RUN_DIR into MLflow: a parent run (settings, dataset fingerprint, machine, versions; "
        "index.html, leaderboard.csv, results.json) and one child run per leaderboard row (its metrics, params, "
        "status and reason; its predictions and log). Exporting the same run again adds nothing.",
    )
    mlflow.add_argument("run_dir", metavar="RUN_DIR")
    mlflow.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="an MLflow server (http://HOST:PORT) or store (sqlite:///mlflow.db); default: MLflow's own "
        "(MLFLOW_TRACKING_URI, else its local store in the current folder)",
    )
    mlflow.add_argument("--experiment", default="zoo", metavar="NAME", help="MLflow experiment (default: zoo)")
    mlflow.set_defaults(command=cmd_export_mlflow)


def cmd_export_mlflow(args: argparse.Namespace) -> int:
    say_exported(Path(args.run_dir), args.tracking_uri, args.experiment)
    return 0


def say_exported(run_dir: Path, tracking_uri: str | None, experiment: str = "zoo") -> None:
    """Export ``run_dir`` and say in one line what was written where."""
    from zoo.export.mlflow import export_run

    done = export_run(run_dir, tracking_uri, experiment)
    where = done.tracking_uri
    if where.startswith(("http://", "https://")):
        where = f"{where.rstrip('/')}/#/experiments/{done.experiment_id}/runs/{done.parent_id}"
    already = f", {done.existing} already there" if done.existing else ""
    console.print(
        f"zoo: exported {safe(str(run_dir))} to MLflow experiment {safe(experiment)!r}: parent run {done.parent_id}, "
        f"{done.created} model run(s) added{already} → {safe(where)}",
        markup=False,
    )


def check_before_run() -> None:
    """``zoo run --mlflow``: MLflow missing is said before any model runs, not after."""
    from zoo.export.mlflow import require_mlflow

    require_mlflow()


def after_run(run_dir: Path, tracking_uri: str | None, status: int) -> int:
    """``zoo run --mlflow``: export the finished run. An export that fails leaves the run folder complete; it is one
    line, and the exit status is at least 1 so a CI job notices."""
    from zoo.errors import ZooError

    try:
        say_exported(run_dir, tracking_uri or None)
    except ZooError as error:
        console.print(
            f"zoo: error: the MLflow export failed: {safe(error)}; the run folder is complete, "
            f"`zoo export mlflow {safe(str(run_dir))}` retries",
            markup=False,
        )
        return max(status, 1)
    return status
