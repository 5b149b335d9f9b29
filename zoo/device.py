"""Everything zoo does with torch devices, imported lazily so a model without torch never pays for it."""

from __future__ import annotations

import re
import threading
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
    """Peak memory while a model runs: torch's peak allocation on CUDA, else the process's RSS growth (sampled)."""

    def __init__(self, device: str, interval: float = 0.005) -> None:
        self.device, self.interval = device, interval
        self.process = psutil.Process()
        self.start = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        reset_peak_memory(self.device)
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    def record(self) -> dict[str, Any]:
        device_peak = peak_memory_mb(self.device)
        record: dict[str, Any] = {"rss_increase_mb": (self.peak - self.start) / 2**20}
        if device_peak is not None:
            record["device_peak_mb"] = device_peak
        return record


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
