"""Everything zoo does with torch devices, imported lazily so a model without torch never pays for it."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import psutil

from zoo.errors import ZooError


def synchronize(device: str) -> None:
    """Wait for queued device work to finish, so a timer around it measures the work and not its launch."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
    elif device == "mps":
        import torch

        torch.mps.synchronize()


def check_device(device: str) -> str:
    """Return ``device`` if this machine has it, else raise a ZooError saying which devices it has."""
    if device == "cpu":
        return device
    import torch

    if device == "cuda" or re.fullmatch(r"cuda:\d+", device):
        if not torch.cuda.is_available():
            raise ZooError(f"--device {device}: no CUDA device is visible here; use --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ZooError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
        return device
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise ZooError("--device mps: MPS is not available here; use --device cpu")
        return device
    raise ZooError(f"--device {device}: unknown device; use cpu, cuda, cuda:N or mps")


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations torch's flop counter sees while ``fn`` runs (convolutions and matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: str) -> float | None:
    """Peak memory torch allocated on ``device`` since the last reset, or None where torch cannot tell."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


class PeakMemory:
    """Peak memory while a model runs: torch's peak allocation on CUDA, and the growth of the process's resident
    memory up to its high-water mark.

    The high-water mark is the kernel's (Linux ``VmHWM``, reset on entry through ``/proc/self/clear_refs``; elsewhere
    ``ru_maxrss``, which cannot be reset): read on entry and exit, never sampled, so no thread runs beside the model
    to take the GIL or a core from it (a 5 ms sampler thread did before: ``python -m bench --only causes``)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.process = psutil.Process()
        self.start = self.peak = 0
        self.reset = False  # whether the high-water mark was reset on entry (else it is the process's lifetime peak)

    def __enter__(self) -> PeakMemory:
        reset_peak_memory(self.device)
        self.reset = _reset_high_water()
        self.start = self.peak = self.process.memory_info().rss
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = max(self.start, self.process.memory_info().rss, high_water_bytes() or 0)

    def record(self) -> dict[str, Any]:
        device_peak = peak_memory_mb(self.device)
        record: dict[str, Any] = {"rss_increase_mb": (self.peak - self.start) / 2**20}
        if device_peak is not None:
            record["device_peak_mb"] = device_peak
        return record


def _reset_high_water() -> bool:
    """Reset this process's resident high-water mark to its current resident memory (Linux ≥ 4.0); False where the
    kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def high_water_bytes() -> int | None:
    """This process's peak resident memory (bytes) since it started or since `_reset_high_water`: ``VmHWM`` from
    /proc/self/status on Linux, else ``ru_maxrss`` (kilobytes on Linux, bytes on macOS); None where neither exists."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


PEAK_SIZE = 2048  # the side of the square float32 matrices the peak is measured with


def measure_peak_gflops(device: str, seconds: float = 1.0) -> tuple[float, str]:
    """The device's float32 arithmetic peak as this process gets it: ``PEAK_SIZE``² matrix products, one untimed
    (warm-up), then repeated until ``seconds`` have gone (at least two), with torch's thread count as it is set and
    the device synchronised before the clock stops. Returns GFLOP/s and how they were measured, in words."""
    import time

    import torch

    n = PEAK_SIZE
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device)
    b = torch.randn(n, n, generator=generator).to(device)
    out = torch.empty(n, n, device=device)
    torch.matmul(a, b, out=out)  # warm-up: the library picks its kernel, the device wakes
    synchronize(device)
    chunk = 1 if device == "cpu" else 20  # calls between synchronisations: a GPU product takes well under 1 ms
    reps, start = 0, time.perf_counter()
    while True:
        for _ in range(chunk):
            torch.matmul(a, b, out=out)
        synchronize(device)
        reps += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and reps >= 2:
            break
    gflops = 2 * n**3 * reps / elapsed / 1e9
    if device.startswith("cuda"):
        where = f"{device}, TF32 {'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}"
    else:
        threads = torch.get_num_threads()
        where = f"{device}, torch {threads} thread{'s' if threads != 1 else ''}"
    return gflops, f"float32 matmul {n}², {reps} reps in {elapsed:.2f} s, {where}"
