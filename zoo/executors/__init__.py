"""Executing a run: where each selected model runs, and how its result comes back to the run folder.

local.py   one model at a time on this machine, each in its own worker process (`zoo.isolation`)
ray.py     models side by side on a Ray cluster (``--executor ray``), a model's accuracy pass optionally split
           into shards (`zoo.shards`); ray_worker.py is what runs on the cluster's workers

Both stand behind `Executor`, and both run a `Work`: what is done for each model and how its result comes back
(``zoo run``'s evaluation, `RunSpec`; ``zoo track``'s tracking row, `zoo.tracking.work.TrackWork`). The loop over
the models (loop.py for ``zoo run``) is the same for either: while the executor has room, submit the next model;
then take the next finished one and write its row. Only the driver writes the run folder, so resume and ``--force``
work the same whatever ran the models.
"""

from __future__ import annotations

from zoo.executors.base import Executor, RunSpec, Work
from zoo.executors.local import LocalExecutor

__all__ = ["Executor", "RunSpec", "Work", "open_executor"]


def open_executor(kind: str, work: Work, options: dict, say) -> Executor:
    """The executor ``--executor`` names; ``options`` are its own (``--ray-address``, ...); ``say`` prints a line."""
    if kind == "ray":
        from zoo.executors.ray import RayExecutor  # imports Ray: only here, only for --executor ray

        return RayExecutor(work, say=say, **options)
    return LocalExecutor(work, **options)
