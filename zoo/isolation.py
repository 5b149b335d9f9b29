"""Each model in its own worker process, so an exception, a crash, a hang or a runaway allocation costs that
model's row and nothing else.

The parent starts a fresh worker per model (forked from a fork server that imported the heavy libraries once,
`zoo.workers`; or spawned), watches it — progress messages as heartbeats, a timeout for the whole model, a stall
timeout between steps, a memory cap on the worker's resident memory — and turns whatever happens into a result:
the worker's own, or a ``failed`` / ``timeout`` row with the cause and the tail of the worker's log
(``logs/<id>.log`` in the run folder).
"""

from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import queue as queue_module
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from zoo import workers
from zoo.context import host
from zoo.data import Dataset
from zoo.files import atomic_write, to_json
from zoo.offline import block_network
from zoo.plugins import load_plugins
from zoo.registry import Entry
from zoo.results import Host, ModelResult, ModelRun, Status
from zoo.runner import blank_result, evaluate
from zoo.settings import Part, Report, Settings
from zoo.shards import decode_scoring, encode_scoring

POLL_SECONDS = 0.05
LOG_TAIL_LINES = 12
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Limits:
    """What a worker may use before it is stopped."""

    timeout: float | None = None  # seconds for the whole model (None: no limit)
    stall_timeout: float | None = 600.0  # seconds without progress: loading, or one predict call
    memory_gb: float | None = None  # resident memory of the worker


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs to rebuild the parent's world: plugins are loaded again from the same places."""

    plugin_dirs: tuple[str, ...]
    allow_network: bool = False


def run_isolated(
    entry: Entry,
    dataset: Dataset,
    settings: Settings,
    setup: WorkerSetup,
    limits: Limits,
    work_dir: Path,
    log_path: Path,
    report: Report,
    part: Part | None = None,
) -> ModelRun:
    """Evaluate ``entry`` (or one `Part` of it) in a worker process; always returns a `ModelRun`, whatever the worker
    does."""
    context = workers.context(setup.allow_network)
    messages = context.Queue()
    result_path = work_dir / f"{entry.id}.json"
    result_path.unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    what = (entry, dataset, settings, setup, str(result_path), str(log_path), messages, part)
    process = context.Process(
        target=_worker,
        args=(*what, os.getpid(), workers.environment(), time.time()),
        name=f"zoo-{entry.id}",
        daemon=True,
    )
    process.start()
    data, failure = watch(process, messages, limits, report, result_path, log_path, log_path.name)
    if data is not None:
        result = ModelResult.from_dict(data["result"])
        if result.worker_s and "written" in result.worker_s:  # the worker's clock time → seconds until read here
            result.worker_s["hand_back"] = round(time.time() - result.worker_s.pop("written"), 4)
        return ModelRun(result, data["predictions"], decode_scoring(data.get("scoring")))
    result = blank_result(entry)
    result.host = Host.from_dict(host(settings.device, settings.threads, gpu=False))  # as far as its parent knows
    result.status, result.reason, result.log_tail = failure
    return ModelRun(result)


def watch(
    process: Any, messages: Any, limits: Limits, report: Report, result_path: Path, log_path: Path, log_name: str
) -> tuple[Any, tuple[Status, str, str]]:
    """`supervise` a started worker that writes its result as JSON to ``result_path``: that JSON (read, and the file
    removed) when the worker ended well, else None and `why_stopped`'s status, reason and log tail."""
    stopped = supervise(process, messages, limits, report)
    if stopped is None and process.exitcode == 0 and result_path.is_file():
        data = json.loads(result_path.read_text(encoding="utf-8"))
        result_path.unlink()
        return data, (Status.OK, "", "")
    return None, why_stopped(process, stopped, log_path, log_name)


def supervise(process: Any, messages: Any, limits: Limits, report: Report) -> tuple[Status, str] | None:
    """Watch a started worker until it ends: each message on ``messages`` is a step told to ``report`` (and a
    heartbeat); a worker over ``limits`` is stopped. Returns ``(status, reason)`` when it was stopped here, None when
    it ended by itself. On Ctrl-C the worker is stopped and the interrupt goes up; the queue is closed either way."""
    started = last_progress = time.monotonic()
    try:
        while process.is_alive() or not messages.empty():
            try:
                report(*messages.get(timeout=POLL_SECONDS))
                last_progress = time.monotonic()
                continue
            except queue_module.Empty:
                pass
            except Exception:  # a message cut off by a dying worker
                pass
            if not process.is_alive():
                break
            stopped = _over_limit(process, limits, started, last_progress)
            if stopped:
                _stop(process)
                return stopped
    except BaseException:  # Ctrl-C: stop the worker, then let the caller keep what finished
        _stop(process)
        raise
    finally:
        process.join(timeout=30)
        messages.close()
        messages.cancel_join_thread()
    return None


def why_stopped(
    process: Any, stopped: tuple[Status, str] | None, log_path: Path, log_name: str
) -> tuple[Status, str, str]:
    """A worker that gave no result: its status, the reason (why it was stopped, or how it ended, naming its log as
    ``log_name``, with the log's last lines) and those last lines."""
    status, reason = stopped or (Status.FAILED, _exit_reason(process.exitcode))
    tail = _log_tail(log_path)
    return status, f"{reason}; log: {log_name}" + (f" (last lines: {tail})" if tail else ""), tail


def _over_limit(process: Any, limits: Limits, started: float, last_progress: float) -> tuple[Status, str] | None:
    now = time.monotonic()
    if limits.timeout is not None and now - started > limits.timeout:
        return Status.TIMEOUT, f"stopped after {limits.timeout:g} s, the per-model --timeout"
    if limits.stall_timeout is not None and now - last_progress > limits.stall_timeout:
        return Status.TIMEOUT, f"no progress for {limits.stall_timeout:g} s (--stall-timeout): hung?"
    if limits.memory_gb is not None:
        try:
            resident = psutil.Process(process.pid).memory_info().rss / 2**30
        except psutil.Error:
            return None
        if resident > limits.memory_gb:
            return (
                Status.FAILED,
                f"stopped using {resident:.1f} GB of memory, over --memory-limit {limits.memory_gb:g} GB",
            )
    return None


def _stop(process: Any) -> None:
    """Ask the worker to stop, then make sure it does."""
    if process.is_alive():
        process.terminate()
        process.join(timeout=5)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker did not finish"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        if name == "SIGKILL":
            return "the worker was killed (SIGKILL: out of memory?)"
        return f"the worker crashed ({name})"
    if exitcode == 0:
        return "the worker ended without a result"
    return f"the worker exited with status {exitcode} before finishing"


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    # faulthandler ends a crash report with a long list of loaded extension modules: not the cause
    kept = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Extension modules")]
    fatal = [i for i, line in enumerate(kept) if line.startswith("Fatal Python error")]
    kept = kept[fatal[-1] : fatal[-1] + lines] if fatal else kept[-lines:]
    return " | ".join(kept)[-1500:]


def _worker(
    entry: Entry,
    dataset: Dataset,
    settings: Settings,
    setup: WorkerSetup,
    result_path: str,
    log_path: str,
    messages: Any,
    part: Part | None,
    parent: int,
    env: dict[str, str] | None = None,
    born: float | None = None,
) -> None:
    """The worker's main: output to the model's log, offline unless allowed, seeded, then one `evaluate`."""
    entered = time.time()
    plugins = worker_prologue(parent, log_path, settings, setup, env)
    phases: list[str] = []

    def report(phase: str, done: int, total: int | None) -> None:
        if phase not in phases:  # a line per phase in the log; every step to the parent
            phases.append(phase)
            print(f"zoo: {entry.id}: {phase}")
        messages.put((phase, done, total))

    ready = time.time()
    run = evaluate(entry, dataset, plugins, settings, report=report, part=part)
    result = run.result
    result.host = Host.from_dict(host(settings.device))
    birth = None if born is None else round(entered - born, 4)
    result.worker_s = {"birth": birth, "setup": round(ready - entered, 4), "written": time.time()}
    print(f"zoo: {entry.id}: {result.status}" + (f": {result.reason}" if result.reason else ""))
    if result.traceback:
        print(result.traceback, end="" if result.traceback.endswith("\n") else "\n")
    output = {"result": result.to_dict(), "predictions": run.predictions, "scoring": encode_scoring(run.scoring)}
    atomic_write(Path(result_path), to_json(output, indent=None))


def worker_prologue(
    parent: int, log_path: str | Path, settings: Any, setup: WorkerSetup, env: dict[str, str] | None = None
) -> Any:
    """What a worker does first, whatever it then runs: end when ``parent`` (zoo) ends, take the parent's
    environment ``env``, write its output and any crash report (faulthandler) to ``log_path``, leave Ctrl-C to the
    parent, go offline unless ``setup`` allows the network, seed (`seed`) as ``settings`` say, and load the plugins
    again from ``setup``'s folders (their problems as warnings in the log). Returns the plugins."""
    _die_with(parent)
    workers.detach_from_server()
    workers.apply_environment(env)
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the worker
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    faulthandler.enable(log)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if not setup.allow_network:
        block_network()
    seed(settings)
    plugins = load_plugins(setup.plugin_dirs)
    for problem in plugins.problems:
        print(f"zoo: warning: {problem}")
    return plugins


def _die_with(parent: int) -> None:
    """End this worker when zoo (``parent``) ends, however it ends (killed, a lost Ray worker): Linux's parent-death
    signal, so no model is left running with no one to watch it. The worker's own parent is zoo (spawned) or zoo's
    fork server, which ends when zoo does (`multiprocessing.forkserver`: its end of a pipe from zoo closes). Elsewhere,
    nothing."""
    if not sys.platform.startswith("linux"):
        return
    watcher = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if watcher == 1 or os.getppid() != watcher or not psutil.pid_exists(parent):  # gone before the signal was set
        os._exit(1)


def seed(settings: Any) -> None:
    """Same inputs, same numbers: fixed seeds (an untrained copy's random weights too) and thread count."""
    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)


def run_in_process(
    entry: Entry, dataset: Dataset, settings: Settings, plugins: Any, report: Report, part: Part | None = None
) -> ModelRun:
    """The same evaluation without a worker (``--no-isolation``): faster to start, easier to debug, unprotected."""
    seed(settings)
    run = evaluate(entry, dataset, plugins, settings, report=report, part=part)
    run.result.host = Host.from_dict(host(settings.device))
    return run
