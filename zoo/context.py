"""The run's context: the machine, the library versions and the settings, recorded beside every number."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections import Counter
from importlib import metadata
from typing import Any

import psutil

from zoo.plugins import PROJECT_ROOT

LIBRARIES = (
    "zoo",
    "torch",
    "torchvision",
    "ultralytics",
    "transformers",
    "numpy",
    "pillow",
    "faster-coco-eval",
    "pycocotools",
    "supervision",
    "scipy",
)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def hardware(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "device": device,
    }
    import torch

    info["torch_threads"] = torch.get_num_threads()
    info["torch_interop_threads"] = torch.get_num_interop_threads()
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(device)
        info["gpu"] = properties.name
        info["gpu_memory_gb"] = round(properties.total_memory / 2**30, 1)
        info["gpu_capability"] = f"{properties.major}.{properties.minor}"
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def host(device: str, threads: int | None = None, *, gpu: bool = True) -> dict[str, Any]:
    """The machine and device a model ran and was timed on, recorded in its row (``host``): with ``--executor ray``
    each model's own, and the report marks a row whose hardware differs from the run's (`other_hardware`).
    ``threads``: the torch threads it ran with (None: this process's, if it has loaded torch); ``gpu``: name the
    GPU (which starts CUDA in this process)."""
    if threads is None and "torch" in sys.modules:
        threads = sys.modules["torch"].get_num_threads()
    record: dict[str, Any] = {
        "hostname": platform.node(),
        "cpu": _cpu_name(),
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "device": device,
        "threads": threads,
    }
    if gpu and device.startswith("cuda"):
        try:
            import torch

            record["gpu"] = torch.cuda.get_device_properties(device).name
        except Exception:  # no CUDA here after all: the row's own reason says why
            pass
    return record


HARDWARE_KEYS = ("cpu", "cpu_count_logical", "gpu")
"""What makes two machines the same hardware for timing: the CPU model and its core count, and the GPU."""


def other_hardware(host_record: dict[str, Any] | None, hardware: dict[str, Any] | None) -> str | None:
    """How the hardware a row was timed on differs from ``hardware`` (the run's), in words; None when it does not,
    or when either is not recorded (a run from before rows recorded their host)."""
    if not host_record or not hardware:
        return None
    if all(host_record[key] == hardware.get(key) for key in HARDWARE_KEYS if key in host_record):
        return None  # (a row whose worker died records no GPU: its parent did not start CUDA to name it)
    reference = ", ".join(str(hardware[key]) for key in HARDWARE_KEYS if hardware.get(key) is not None)
    return f"timed on other hardware than the run's ({reference}): {describe_host(host_record)}"


def reference_hardware(hardware: dict[str, Any], hosts: list[dict[str, Any] | None]) -> dict[str, Any]:
    """What a run's rows are compared with: the run's hardware (the machine that ran ``zoo run``) when some row was
    timed on it or none says where, else the hardware most rows were timed on (a Ray run driven from a laptop)."""
    timed = [record for record in hosts if record]
    if not timed or any(not other_hardware(record, hardware) for record in timed):
        return hardware
    kinds = Counter(tuple(record.get(key) for key in HARDWARE_KEYS) for record in timed)
    most = kinds.most_common(1)[0][0]
    return next(record for record in timed if tuple(record.get(key) for key in HARDWARE_KEYS) == most)


def describe_host(record: dict[str, Any]) -> str:
    """A host record in one line: ``node-2: Intel Xeon ... (64 CPUs), cuda: NVIDIA A100``."""
    cpus = record.get("cpu_count_logical")
    text = f"{record.get('hostname') or '?'}: {record.get('cpu') or '?'}" + (f" ({cpus} CPUs)" if cpus else "")
    device = record.get("device") or "cpu"
    if device != "cpu":
        text += f", {device}" + (f": {record['gpu']}" if record.get("gpu") else "")
    return text


def git_commit() -> str | None:
    """The zoo checkout's commit (with ``-dirty`` when it has local changes), if it is a git checkout (an installed
    zoo is not, even inside someone else's repository)."""
    if not (PROJECT_ROOT / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return commit.stdout.strip() or None if commit.returncode == 0 else None


def command_line() -> str:
    return " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
