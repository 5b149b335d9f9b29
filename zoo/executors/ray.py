"""The Ray executor (``zoo run --executor ray``, ``zoo track --executor ray``): models side by side on a Ray cluster,
each a Ray task asking for the resources it needs (``--model-resources``), run on a worker by the `Work`'s task
(`zoo.executors.ray_worker.run_part` for ``zoo run``, `zoo.tracking.work.track_task` for ``zoo track``).

The driver joins the cluster (or starts a local Ray instance), puts what every task needs (the dataset, the video)
into Ray's object store once, and submits each model — or each shard of its accuracy pass (``--shards``, merged by
`zoo.shards`). A model's result comes back as its row whatever happened: a worker or node lost mid-model is retried
once by Ray (a task has no side effect: only the driver writes the run folder, the files a task hands back too),
then becomes a ``failed`` row with the cause.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.executors.base import Work
from zoo.executors.ray_worker import WorkerSpec
from zoo.files import atomic_write
from zoo.registry import Entry

try:
    import ray
except ImportError:  # an optional extra: said as a user error when the executor is asked for
    ray = None

CONNECT_SECONDS = 5.0
RETRIES = 1  # Ray's own retries of a task whose worker or node was lost


@dataclass
class _Model:
    """One submitted model: its parts' results as they come back."""

    entry: Entry
    parts: list[Any]  # None until that part is back
    logs: list[str] = field(default_factory=list)


class RayExecutor:
    """Submits models to a Ray cluster and hands back each one's result as it finishes."""

    def __init__(
        self,
        work: Work,
        *,
        say: Callable[[str], None],
        address: str | None = None,
        resources: dict[str, float] | None = None,
        shards: int = 1,
    ) -> None:
        if ray is None:
            raise ZooError("--executor ray: ray is not installed: pip install 'zoo[ray]'")
        self.work, self.say, self.shards = work, say, shards
        self.resources = resources or {"CPU": 1.0}
        self.owned = connect(address, say)
        try:
            self.slots = check_resources(self.resources)
            self.shipped_ref = ray.put(work.shipped())
            setup = replace(work.setup, plugin_dirs=tuple(str(Path(d).absolute()) for d in work.setup.plugin_dirs))
            self.worker = WorkerSpec(work.settings, setup, work.limits, work.isolation)
            self.task = ray.remote(work.task())
            self.options = {"max_retries": RETRIES, "retry_exceptions": False, **task_options(self.resources)}
        except BaseException:
            self.close()
            raise
        self.waiting: dict[Any, tuple[str, int]] = {}  # object ref -> (model id, part index)
        self.models: dict[str, _Model] = {}

    def has_room(self) -> bool:
        return len(self.waiting) < self.slots

    def busy(self) -> bool:
        return bool(self.models)

    def submit(self, entry: Entry) -> None:
        parts = self.work.parts(entry, self.shards)
        self.models[entry.id] = _Model(entry, [None] * len(parts), [""] * len(parts))
        for index, part in enumerate(parts):
            name = f"zoo {entry.id}" + (f" shard {index + 1}/{len(parts)}" if len(parts) > 1 else "")
            ref = self.task.options(name=name, **self.options).remote(
                entry, self.shipped_ref, self.worker, part, self.resources.get("CPU", 1.0)
            )
            self.waiting[ref] = (entry.id, index)
        shards = f" in {len(parts)} shards" if len(parts) > 1 else ""
        self.say(f"  {'submitted':>10} {entry.id}{shards}")

    def next_result(self) -> tuple[Entry, Any]:
        while True:
            done, _ = ray.wait(list(self.waiting), num_returns=1, timeout=1.0)  # a second at a time: Ctrl-C works
            if not done:
                continue
            model_id, index = self.waiting.pop(done[0])
            model = self.models[model_id]
            model.parts[index], model.logs[index] = self._collect(done[0], model.entry)
            if all(part is not None for part in model.parts):
                del self.models[model_id]
                return model.entry, self._finish(model)

    def _finish(self, model: _Model) -> Any:
        """The model's row from its parts, and its log (the parts' logs, one after the other) in the run folder."""
        parts = model.parts
        run = parts[0] if len(parts) == 1 else self.work.combine(model.entry, parts)
        text = model.logs[0]
        if len(parts) > 1:
            text = "".join(f"=== shard {n + 1} of {len(parts)} ===\n{log}" for n, log in enumerate(model.logs))
        if text:
            atomic_write(self.work.folder / "logs" / f"{model.entry.id}.log", text)
        return run

    def _collect(self, ref: Any, entry: Entry) -> tuple[Any, str]:
        """A task's result and log, the files it hands back written into the run folder; a task Ray could not
        finish is the model's ``failed`` row, with the cause."""
        try:
            out = ray.get(ref)
        except ray.exceptions.RayError as error:
            return self.work.lost(entry, lost(error)), ""
        for relative, content in out.get("files", {}).items():
            atomic_write(_inside(self.work.folder, relative), content)
        return out["run"], out["log"]

    def cancel(self) -> None:
        """Stop this run's tasks on the cluster (their workers, and so the models' worker processes, end)."""
        for ref in list(self.waiting):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # finished meanwhile, or its worker is gone already
                pass
        if self.waiting:
            self.say(f"zoo: ray: cancelled {len(self.waiting)} task(s) of this run")
        self.waiting.clear()
        self.models.clear()

    def close(self) -> None:
        if self.owned and ray.is_initialized():
            ray.shutdown()


def connect(address: str | None, say: Callable[[str], None]) -> bool:
    """Join the cluster at ``address`` (None: start a local Ray instance); True when this call connected (and
    `RayExecutor.close` disconnects), False when this process was connected already (a test, a notebook)."""
    if ray.is_initialized():
        say("zoo: ray: using the Ray connection this process already has")
        return False
    if address not in (None, "auto"):
        _check_reachable(address)
    started = time.monotonic()
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "namespace": "zoo"}  # zoo says what matters
    try:
        if address is None:
            ray.init(address="local", include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:  # none running, another Ray version, ...
        fix = "start one with `ray start --head`, or leave out --ray-address to start a local Ray instance"
        if address not in (None, "auto"):  # something answers there: not a cluster, or one that wants a token
            fix = (
                "check it is the head's address (`ray status` on the head prints it); a cluster with token "
                "authentication wants RAY_AUTH_MODE=token and its token (~/.ray/auth_token) here too"
            )
        raise ZooError(f"--ray-address {address or 'local'}: {_first_line(error)}; {fix}") from None
    totals = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    joined = ray.get_runtime_context().gcs_address if address == "auto" else address
    what = "started a local Ray instance" if address is None else f"joined the Ray cluster at {joined}"
    say(
        f"zoo: ray: {what} in {time.monotonic() - started:.1f} s: {nodes} node(s), {totals.get('CPU', 0):g} CPU(s), "
        f"{totals.get('GPU', 0):g} GPU(s)"
    )
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at ``HOST:PORT`` (or ``ray://HOST:PORT``)."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ZooError(f"--ray-address {address}: give HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as error:
        raise ZooError(
            f"--ray-address {address}: nothing answers there ({_first_line(error)}); check the address "
            "(`ray status` on the head node prints it) and that the port is open"
        ) from None


def check_resources(resources: dict[str, float]) -> int:
    """How many tasks asking for ``resources`` the cluster runs at once; a request no node can meet is a user error
    now (Ray would queue it forever)."""
    nodes = [node.get("Resources") or {} for node in ray.nodes() if node.get("Alive")]
    asked = {k: v for k, v in resources.items() if v > 0}
    fits = [min((int(have.get(k, 0) // v) for k, v in asked.items()), default=1) for have in nodes]
    if not any(fits):
        largest = max(nodes, key=lambda have: have.get("CPU", 0), default={})
        has = ", ".join(f"{k}={largest.get(k, 0):g}" for k in resources)
        raise ZooError(
            f"--model-resources {_text(resources)}: no node of the cluster has that much (the largest has {has}); "
            "ask for less, or add a node that has it"
        )
    return max(1, sum(fits))


def task_options(resources: dict[str, float]) -> dict[str, Any]:
    custom = {k: v for k, v in resources.items() if k not in ("CPU", "GPU")}
    options: dict[str, Any] = {"num_cpus": resources.get("CPU", 0), "num_gpus": resources.get("GPU", 0)}
    if custom:
        options["resources"] = custom
    env = {k: v for k, v in os.environ.items() if k.startswith("ZOO_")}  # zoo's own settings travel with the task
    if env:
        options["runtime_env"] = {"env_vars": env}
    return options


def _inside(folder: Path, relative: str) -> Path:
    """Where a file a task handed back goes: under the run folder, never outside it."""
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ZooError(f"a Ray task handed back {relative!r}, outside the run folder {folder}")
    return target


def lost(error: Exception) -> str:
    """Why Ray could not finish a model's task, in words."""
    again = f", also on Ray's {RETRIES} retry" if RETRIES else ""
    exceptions = ray.exceptions
    if isinstance(error, exceptions.OutOfMemoryError):
        return f"Ray's memory monitor stopped its worker: the node ran low on memory ({_first_line(error)})"
    if isinstance(error, exceptions.WorkerCrashedError):
        return f"its Ray worker died mid-model (killed, or out of memory?){again}"
    if isinstance(error, (exceptions.NodeDiedError, exceptions.LocalRayletDiedError)):
        return f"the node running it left the cluster mid-model{again}"
    if isinstance(error, exceptions.TaskCancelledError):
        return "cancelled"
    if isinstance(error, exceptions.RuntimeEnvSetupError):
        return f"its Ray worker's environment could not be set up: {_first_line(error)}"
    if isinstance(error, exceptions.RayTaskError):
        return f"zoo failed on the Ray worker: {_last_line(error)}"
    return f"Ray could not run it: {type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _text(resources: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in resources.items())
