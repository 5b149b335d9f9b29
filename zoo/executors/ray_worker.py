"""What runs on a Ray worker for ``zoo run --executor ray``: one model, or one shard of its accuracy pass, isolated
as ``zoo run`` isolates it on one machine (`zoo.isolation`: timeouts, stalls, the memory cap, crash reasons), its
work files and log on the worker's own disk, the log sent back with the result. Nothing here imports Ray: the
driver (`zoo.executors.ray`) wraps `run_part` as a Ray task."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zoo.context import host
from zoo.data import Dataset
from zoo.isolation import Limits, WorkerSetup, run_in_process, run_isolated
from zoo.offline import offline
from zoo.plugins import load_plugins
from zoo.registry import Entry
from zoo.results import Host, ModelRun, Status
from zoo.runner import blank_result
from zoo.settings import Part, Settings, no_report


@dataclass(frozen=True)
class WorkerSpec:
    """What every task of one run gets besides its model and the dataset."""

    settings: Settings
    setup: WorkerSetup
    limits: Limits
    isolation: bool


_plugins: dict[tuple[str, ...], Any] = {}  # the plugins this worker process loaded, by plugin folders


def run_part(entry: Entry, dataset: Dataset, spec: WorkerSpec, part: Part | None, cpus: float) -> dict[str, Any]:
    """Evaluate ``entry`` (or one `Part` of it) here; returns ``{"run": ModelRun, "log": text}``, whatever the
    model does. ``cpus``: what the task was given, the torch threads when the run set none."""
    settings = spec.settings
    if settings.threads is None:
        settings = replace(settings, threads=max(1, int(cpus)))
    here = host(settings.device, settings.threads, gpu=False)  # the model's own process names the GPU
    problem = missing_model(entry, spec.setup, here["hostname"])
    if problem:
        result = blank_result(entry)
        result.status, result.reason, result.host = Status.FAILED, problem, Host.from_dict(here)
        return {"run": ModelRun(result), "log": ""}
    with tempfile.TemporaryDirectory(prefix="zoo-ray-") as work:
        log = Path(work) / f"{entry.id}.log"  # the name the reasons cite, as in the run folder's logs/
        with offline(not spec.setup.allow_network):
            if spec.isolation:
                run = run_isolated(entry, dataset, settings, spec.setup, spec.limits, Path(work), log, no_report, part)
            else:
                plugins = cached_plugins(spec.setup)
                run = run_in_process(entry, dataset, settings, plugins, no_report, part)
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    if run.result.host is None:
        run.result.host = Host.from_dict(here)
    return {"run": run, "log": text}


def cached_plugins(setup: WorkerSetup) -> Any:
    if setup.plugin_dirs not in _plugins:
        _plugins[setup.plugin_dirs] = load_plugins(setup.plugin_dirs)
    return _plugins[setup.plugin_dirs]


def missing_model(entry: Entry, setup: WorkerSetup, hostname: str) -> str | None:
    """Why this worker cannot build the model the driver found (its plugin is not installed here, or failed to
    import), in words; None when it can."""
    plugins = cached_plugins(setup)
    if entry.model in plugins.models:
        return None
    problems = [str(p) for p in plugins.problems if not entry.plugin or p.plugin == entry.plugin]
    folders = ", ".join(setup.plugin_dirs + tuple(filter(None, os.environ.get("ZOO_PLUGINS_DIR", "").split(":"))))
    return (
        f"no plugin registers model {entry.model!r} on worker {hostname}, though the driver has one: install its "
        f"plugin there too"
        + (f" or put {folders} where the worker finds it" if folders else "")
        + (f" ({problems[0]})" if problems else "")
    )
