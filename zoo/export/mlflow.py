"""``zoo export mlflow``: a finished run folder as MLflow runs, so a team compares runs in the tracker it already uses.

One parent run per zoo run (params: every setting, the dataset and its fingerprint, the machine, the library
versions; artifacts: index.html, leaderboard.csv, results.json) and one child run per leaderboard row (params: the
model, its family, plugin, weights, device and threads; metrics: every number of its leaderboard.csv row, read from
that file so the two are equal; tags: status and reason; artifacts: its predictions and log). The parent carries a
tag with the run's identity, so exporting the same run again adds nothing.

Only reads the run folder: it needs no model, dataset or plugin.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.runfolder import RESULTS, read_results

EXPERIMENT = "zoo"
IDENTITY_TAG = "zoo.run_identity"  # sha256 of results.json's context: when, how and where the run was made
MODEL_TAG = "zoo.model"
# leaderboard.csv's columns that are text, not numbers: params or tags; every other column is a metric
TEXT_COLUMNS = ("model", "family", "status", "speed_precise", "input_size", "reproduction", "framework", "weights",
                "timed_on", "reason")  # fmt: skip
PARENT_ARTIFACTS = ("index.html", "leaderboard.csv", RESULTS)
MAX_PARAM = 6000  # MLflow's limit on a param's value (characters)


@dataclass(frozen=True)
class Exported:
    """What an export did: the parent run's id, its experiment, and how many child runs it created now."""

    parent_id: str
    experiment_id: str
    created: int
    existing: int
    tracking_uri: str


def export_run(run_dir: str | Path, tracking_uri: str | None = None, experiment: str = EXPERIMENT) -> Exported:
    """Write ``run_dir`` into MLflow: its parent run and one child per row, or only what a previous export of the
    same run lacks. ``tracking_uri`` None: MLflow's own default (``MLFLOW_TRACKING_URI``, else its local store)."""
    run_dir = Path(run_dir)
    results = read_results(run_dir).to_dict()  # the run folder as its files hold it (checked, any schema version)
    board = leaderboard_rows(run_dir)
    client, uri = _client(tracking_uri)
    identity = run_identity(results)
    with _mlflow_errors(uri):
        experiment_id = _experiment(client, experiment)
        parent = _find(client, experiment_id, f"tags.`{IDENTITY_TAG}` = '{identity}' and tags.`zoo.kind` = 'run'")
        if parent is None:
            parent = _create_parent(client, experiment_id, run_dir, results, identity)
        children = f"tags.`mlflow.parentRunId` = '{parent}' and tags.`zoo.kind` = 'model'"
        done = {run.data.tags.get(MODEL_TAG) for run in client.search_runs([experiment_id], children, max_results=5000)}
        by_id = {result["id"]: result for result in results["models"]}
        created = 0
        for row in board:
            if row["model"] in done:
                continue
            _create_child(client, experiment_id, parent, run_dir, results, by_id.get(row["model"], {}), row, identity)
            created += 1
    return Exported(parent, experiment_id, created, len(done), uri)


def run_identity(results: dict[str, Any]) -> str:
    """The zoo run's identity: its context (start time, command, settings, machine, versions, dataset) and when each
    row finished; the same folder exported twice, or copied elsewhere, has the same identity (a resumed run, whose
    context and rows change, has a new one)."""
    context = {k: v for k, v in (results.get("context") or {}).items() if k not in ("finished", "duration_s")}
    models = sorted((m.get("id"), m.get("finished")) for m in results["models"])
    text = json.dumps({"context": context, "models": models}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def leaderboard_rows(run_dir: Path) -> list[dict[str, str]]:
    """leaderboard.csv's rows as written (text), the source of every child run's metrics."""
    path = run_dir / "leaderboard.csv"
    try:
        with path.open(newline="", encoding="utf-8") as file:
            return list(csv.DictReader(file))
    except FileNotFoundError:
        raise ZooError(f"{run_dir}: no leaderboard.csv; `zoo report {run_dir}` writes it from results.json") from None


def row_metrics(row: dict[str, str]) -> dict[str, float]:
    """The numbers of one leaderboard row: every non-text column with a value (an empty cell is not measured, and
    is left out rather than logged as 0)."""
    metrics = {}
    for column, value in row.items():
        if column in TEXT_COLUMNS or value in ("", None):
            continue
        number = float(value)
        if math.isfinite(number):
            metrics[column] = number
    return metrics


def parent_params(results: dict[str, Any], run_dir: Path) -> dict[str, str]:
    """Every setting, the dataset (and its fingerprint), the machine and the library versions, flattened."""
    context = results.get("context") or {}
    dataset = context.get("dataset") or {}
    params: dict[str, Any] = {
        "run_folder": str(run_dir.resolve()),
        "command": context.get("command"),
        "zoo_commit": context.get("zoo_commit"),
        "started": context.get("started"),
        "dataset.name": dataset.get("name"),
        "dataset.fingerprint": dataset.get("fingerprint"),
        "dataset.images": dataset.get("images"),
        "dataset.boxes": dataset.get("boxes"),
        "dataset.categories": len(dataset.get("categories") or []),
    }
    for group in ("settings", "isolation", "executor", "weights_source", "hardware", "versions"):
        for key, value in (context.get(group) or {}).items():
            params[f"{group}.{key}"] = value
    return {key: _text(value) for key, value in params.items()}


def child_params(result: dict[str, Any], row: dict[str, str], results: dict[str, Any]) -> dict[str, str]:
    """The model's identity: id, family, plugin, weights (their identity carries the file's hash or the commit),
    where it ran (device, threads), and the text columns of its row."""
    host = result.get("host") or {}
    settings = (results.get("context") or {}).get("settings") or {}
    params = {
        "model": row["model"],
        "model_class": result.get("model"),
        "family": row.get("family") or result.get("family"),
        "plugin": result.get("plugin"),
        "weights": result.get("weights") or "none",
        "weights_hash": weights_hash(result.get("weights")),
        "weights_key": (result.get("key") or {}).get("weights"),
        "untrained": result.get("untrained"),
        "licence": result.get("licence"),
        "device": host.get("device") or settings.get("device"),
        "threads": host.get("threads") if host.get("threads") is not None else settings.get("threads"),
        "framework": row.get("framework"),
        "input_size": row.get("input_size"),
        "speed_precise": row.get("speed_precise"),
        "timed_on": row.get("timed_on"),
    }
    return {key: _text(value) for key, value in params.items() if value not in (None, "")}


def weights_hash(identity: str | None) -> str | None:
    """The hash the weights' identity names: a file's sha256 (prefix), a hub commit, or the sha256 prefix in a
    torchvision file's name (torch.hub's rule); None where it names none (no weights, untrained)."""
    for pattern in (r"sha256 ([0-9a-f]{8,64})", r"@([0-9a-f]{40})\b", r"-([0-9a-f]{8,})\.pth\b"):
        found = re.search(pattern, identity or "")
        if found:
            return found.group(1)
    return None


def _create_parent(client: Any, experiment_id: str, run_dir: Path, results: dict[str, Any], identity: str) -> str:
    from mlflow.entities import Param, RunTag

    context = results.get("context") or {}
    tags = {IDENTITY_TAG: identity, "zoo.kind": "run", "zoo.run_folder": str(run_dir.resolve()),
            "zoo.dataset_fingerprint": str((context.get("dataset") or {}).get("fingerprint"))}  # fmt: skip
    run = client.create_run(experiment_id, tags=tags, run_name=run_dir.resolve().name)
    params = [Param(k, v) for k, v in parent_params(results, run_dir).items()]
    for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
        client.log_batch(run.info.run_id, params=params[start : start + 100])
    if context.get("duration_s") is not None:
        client.log_metric(run.info.run_id, "duration_s", float(context["duration_s"]))
    client.log_batch(run.info.run_id, tags=[RunTag("models", str(len(results["models"])))])
    for name in PARENT_ARTIFACTS:
        if (run_dir / name).is_file():
            client.log_artifact(run.info.run_id, str(run_dir / name))
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def _create_child(
    client: Any,
    experiment_id: str,
    parent: str,
    run_dir: Path,
    results: dict[str, Any],
    result: dict[str, Any],
    row: dict[str, str],
    identity: str,
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    tags = {"mlflow.parentRunId": parent, "zoo.kind": "model", MODEL_TAG: row["model"], IDENTITY_TAG: identity,
            "status": row.get("status") or "", "reason": (row.get("reason") or "")[:MAX_PARAM]}  # fmt: skip
    run = client.create_run(experiment_id, tags=tags, run_name=row["model"])
    run_id = run.info.run_id
    stamp = _millis(result.get("finished"))
    metrics = [Metric(k, v, stamp, 0) for k, v in row_metrics(row).items()]
    params = [Param(k, v) for k, v in child_params(result, row, results).items()]
    client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("mlflow.note.content", _note(row))])
    for relative in (result.get("predictions_file") or f"predictions/{row['model']}.json", f"logs/{row['model']}.log"):
        path = run_dir / relative
        if path.is_file():
            client.log_artifact(run_id, str(path), artifact_path=str(Path(relative).parent))
    client.set_terminated(run_id, "FINISHED" if row.get("status") == "ok" else "FAILED")


def _note(row: dict[str, str]) -> str:
    reason = row.get("reason") or ""
    return f"zoo row {row['model']}: status {row.get('status')}" + (f"; {reason}" if reason else "")


def _millis(timestamp: str | None) -> int:
    """A metric's timestamp: when the row finished, in ms since the epoch (0 where the row does not say)."""
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(timestamp)).timestamp() * 1000)
    except ValueError:
        return 0


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 1] + "…"


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage != "active":
            raise ZooError(f"--experiment {name}: deleted in MLflow; restore it there, or give another name")
        return found.experiment_id
    return client.create_experiment(name)


def _find(client: Any, experiment_id: str, query: str) -> str | None:
    runs = client.search_runs([experiment_id], query, max_results=1)
    return runs[0].info.run_id if runs else None


def require_mlflow() -> Any:
    """The mlflow module, or a one-line error naming the extra that installs it."""
    try:
        with _quiet():
            import mlflow
    except ImportError:
        raise ZooError("MLflow is not installed; pip install 'zoo[mlflow]' (or pip install mlflow)") from None
    return mlflow


def _client(tracking_uri: str | None) -> tuple[Any, str]:
    """An MlflowClient for ``tracking_uri`` (MLflow's default where None), after checking a server answers."""
    mlflow = require_mlflow()
    from mlflow import MlflowClient

    uri = tracking_uri or mlflow.get_tracking_uri()
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # a server that fails later: seconds, not minutes
    with _mlflow_errors(uri):
        return MlflowClient(tracking_uri=uri), uri


def _check_server(uri: str) -> None:
    """One request to the server's health endpoint first: a server that is down is one line at once, not MLflow's
    retries for minutes."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        raise ZooError(f"--tracking-uri {uri}: the server answered HTTP {error.code}; is it MLflow's?") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ZooError(
            f"--tracking-uri {uri}: no MLflow tracking server answers there ({reason}); start it "
            "(mlflow server --host 127.0.0.1 --port PORT) or give another --tracking-uri"
        ) from None


@contextlib.contextmanager
def _mlflow_errors(uri: str) -> Iterator[None]:
    """MLflow's own errors (a store it cannot open, a server that fails a request) as one line naming the URI."""
    try:
        with _quiet():
            yield
    except ZooError:
        raise
    except Exception as error:
        if type(error).__module__.split(".")[0] not in ("mlflow", "requests", "urllib3", "sqlalchemy"):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ZooError(f"MLflow at {uri}: {first[:300]}") from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's chatter (store migrations, alembic's logging, a "View run" line per run on stdout) kept off zoo's
    output: zoo says once what was exported and where."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
