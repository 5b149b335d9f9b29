"""Imported once by the fork server that zoo's model workers start from (`zoo.workers`): the heavy libraries every
worker would otherwise import again (torch, torchvision, zoo's runner and scoring; ultralytics and transformers when
a selected model uses them: ``ZOO_FORKSERVER_LIBRARIES``, set by `zoo.workers`), and the modules of the `zoo` script,
which multiprocessing runs again in every worker it starts (0.4 s a worker when they were not preloaded).

Each import is tried on its own and a failure is skipped: a library that is not installed, or fails to import, is
imported (or fails, with its message in the model's log) in the worker that needs it, as without a fork server.
Nothing here runs a model. The threads the server has after these imports (`THREADS`) are the libraries' idle pools:
OpenBLAS's (numpy's, scipy's), which OpenBLAS stops before a fork and restarts after it (``pthread_atfork``), and
OpenCV's (imported by ultralytics); a child forked from such a process runs numpy, OpenCV and torch parallel work
normally (checked on Linux with OpenCV 4, OpenBLAS 0.3 and torch 2.x).
"""

from __future__ import annotations

import contextlib
import importlib
import os

from zoo.offline import block_network
from zoo.workers import LIBRARIES_ENV, OFFLINE_FLAG

MODULES = (
    "zoo.cli",  # what the `zoo` script imports: each worker runs the parent's main script again (multiprocessing)
    "numpy",
    "scipy.ndimage",
    "PIL.Image",
    "torch",
    "torch.utils.flop_counter",
    "torchvision",
    "torchvision.models.detection",
    "zoo.runner",
    "zoo.isolation",
    "zoo.plugins",
    "zoo.torchvision_support",
    "faster_coco_eval",
)
TRANSFORMERS = ("transformers", "transformers.modeling_utils", "transformers.image_processing_utils")


def _quietly(name: str) -> None:
    with contextlib.suppress(Exception):
        importlib.import_module(name)


def _ultralytics() -> None:
    """As the ultralytics plugin imports it (plugins/ultralytics.py ``import_ultralytics``): offline, quiet, safe
    loading, torch first so its thread pool is sized before ultralytics sets OMP_NUM_THREADS (then unset again)."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "0")
    os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")
    omp = os.environ.get("OMP_NUM_THREADS")
    _quietly("torch")
    _quietly("ultralytics")
    _quietly("ultralytics.nn.tasks")
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)


def _preload() -> int:
    if os.environ.get(OFFLINE_FLAG) == "1":  # import-time checks (ultralytics', huggingface_hub's) stay offline
        block_network()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        for name in MODULES:
            _quietly(name)
        libraries = os.environ.get(LIBRARIES_ENV, "ultralytics,transformers").split(",")
        if "transformers" in libraries:
            for name in TRANSFORMERS:
                _quietly(name)
        if "ultralytics" in libraries:
            _ultralytics()
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


THREADS = _preload()
"""Threads in the process after the imports (1 is what a fork server needs; 0: unknown, not Linux)."""
