"""Fault injection: misbehaving models beside good ones. The run completes, every good model's numbers equal those
of a clean run, and each fault is reported with its cause."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import SMALL_SHAPES
from tests.test_run import FAST, run_zoo
from zoo.runfolder import read_results

PLUGINS = Path(__file__).parent / "fault_plugins"
GOOD = ("reference-blobs", "centre-box")

# fault -> (status, what the reason must say)
FAULTS = {
    "raise-at-load": ("failed", r"^load failed: RuntimeError: cannot load: corrupt checkpoint$"),
    "raise-at-predict": ("failed", r"^predict failed: ValueError: shape mismatch in layer 3$"),
    "wrong-shape": ("failed", r"^predict failed: ValueError: xyxy must have shape \(n, 4\)"),
    "wrong-dtype": ("failed", r"^predict failed: ValueError: labels must be whole numbers"),
    "nan": ("failed", r"^predict failed: ValueError: xyxy holds NaN or infinite values"),
    "inf-score": ("failed", r"^predict failed: ValueError: scores hold NaN or infinite values"),
    "negative-size": ("failed", r"negative width or height, e\.g\. \[20\.0, 30\.0, 5\.0, 6\.0\]; boxes must be xyxy"),
    "far-outside": ("failed", r"box\(es\) far outside the 96x80 image"),
    "bad-label": ("failed", r"label 7 is outside the model's label space \(0\.\.2\)"),
    "wrong-count": ("failed", r"postprocess returned 2 results for a batch of 1 images"),
    "not-detections": ("failed", r"postprocess must return zoo\.Detections, got dict"),
    "hang": ("timeout", r"^no progress for 20 s \(--stall-timeout\): hung\?"),
    "exit": ("failed", r"^the worker exited with status 3 before finishing"),
    "exit-quietly": ("failed", r"^the worker ended without a result"),
    "segfault": ("failed", r"^the worker crashed \(SIGSEGV\).*Fatal Python error: Segmentation fault"),
    "memory": ("failed", r"^stopped using \d+\.\d GB of memory, over --memory-limit 1\.5 GB"),
}


def registry(tmp_path: Path, faults, extra: str = "") -> Path:
    path = tmp_path / "registry.yaml"
    lines = ["models:", *(f"  {model}: {{}}" for model in GOOD)]
    lines += [f"  fault-{fault}:\n    model: faulty\n    options: {{fault: {fault}}}" for fault in faults]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def run(tmp_path: Path, name: str, faults, *options: str) -> dict:
    out = tmp_path / name
    code, _, stderr = run_zoo(
        "run",
        "--plugins-dir",
        str(PLUGINS),
        "--registry",
        str(registry(tmp_path, faults)),
        "--data",
        SMALL_SHAPES,
        "--out",
        str(out),
        "--stall-timeout",
        "20",
        "--memory-limit",
        "1.5",
        *FAST,
        *options,
    )
    assert code == (1 if faults else 0), "the run finishes; its exit status says whether a model failed"
    return {row["id"]: row for row in read_results(out).to_dict()["models"]}


def test_every_fault_is_survived_reported_and_leaves_good_numbers_alone(tmp_path):
    clean = run(tmp_path, "clean", [])
    faulty = run(tmp_path, "faulty", list(FAULTS))
    assert set(faulty) == set(GOOD) | {f"fault-{fault}" for fault in FAULTS}, "the run completed every model"
    for model in GOOD:
        assert faulty[model]["status"] == "ok"
        assert faulty[model]["accuracy"] == clean[model]["accuracy"], f"{model}'s numbers changed beside faults"
    for fault, (status, reason) in FAULTS.items():
        row = faulty[f"fault-{fault}"]
        assert row["status"] == status, (fault, row["reason"])
        assert re.search(reason, row["reason"], re.S), (fault, row["reason"])
        assert not row["accuracy"] or fault in ("raise-at-predict",), "a failed model shows no numbers"
    board = (tmp_path / "faulty" / "leaderboard.csv").read_text()
    assert board.count("failed") >= len(FAULTS) - 1 and "timeout" in board
    assert "segfault" in (tmp_path / "faulty" / "index.html").read_text()


def _start(out: Path, models: str, registry_path: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "zoo.cli",
        "run",
        "--plugins-dir",
        str(PLUGINS),
        "--registry",
        str(registry_path),
        "--models",
        models,
        "--data",
        SMALL_SHAPES,
        "--out",
        str(out),
        *FAST,
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=Path(__file__).parent.parent,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    """Ctrl-C reaches zoo as it does from a terminal, also when the tests run in the background (a shell starts a
    background job with SIGINT ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(out: Path, model: str, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if any(row["id"] == model for row in json.loads((out / "results.json").read_text())["models"]):
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError(f"{model} did not finish in {seconds} s")


def slow_registry(tmp_path: Path, seconds: float) -> Path:
    """reference-blobs, then a slow model, then centre-box: a run stopped during the slow one has one result."""
    path = tmp_path / "registry.yaml"
    path.write_text(
        "models:\n  reference-blobs: {}\n"
        f"  slow:\n    model: faulty\n    options: {{fault: slow, seconds: {seconds}}}\n  centre-box: {{}}\n"
    )
    return path


def test_a_killed_run_resumes_without_redoing_finished_models(tmp_path):
    path = slow_registry(tmp_path, 0.5)
    models = "reference-blobs,slow,centre-box"
    out = tmp_path / "resumed"
    process = _start(out, models, path)
    _wait_for(out, "reference-blobs", process)
    os.killpg(process.pid, signal.SIGKILL)  # the whole process group: the run and its worker
    process.wait()
    before = {row["id"]: row for row in read_results(out).to_dict()["models"]}
    assert set(before) == {"reference-blobs"}, "only what finished was written, and it was written whole"

    code, _, stderr = run_zoo(
        "run",
        "--plugins-dir",
        str(PLUGINS),
        "--registry",
        str(path),
        "--models",
        models,
        "--data",
        SMALL_SHAPES,
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, stderr
    assert "done reference-blobs (earlier in this run folder" in " ".join(stderr.split())
    after = {row["id"]: row for row in read_results(out).to_dict()["models"]}
    assert after["reference-blobs"]["finished"] == before["reference-blobs"]["finished"], "not run again"

    code, _, stderr = run_zoo(
        "run",
        "--plugins-dir",
        str(PLUGINS),
        "--registry",
        str(path),
        "--models",
        models,
        "--data",
        SMALL_SHAPES,
        "--out",
        str(tmp_path / "straight"),
        *FAST,
    )
    straight = {row["id"]: row for row in read_results(tmp_path / "straight").to_dict()["models"]}
    assert {k: v["accuracy"] for k, v in after.items()} == {k: v["accuracy"] for k, v in straight.items()}
    assert [row["id"] for row in read_results(out).to_dict()["models"]] == ["reference-blobs", "slow", "centre-box"]


def test_force_runs_finished_models_again_and_a_changed_folder_is_refused(tmp_path):
    path = registry(tmp_path, [])
    out = tmp_path / "run"
    base = ("run", "--registry", str(path), "--models", "reference-blobs", "--data", SMALL_SHAPES, "--out", str(out))
    assert run_zoo(*base, *FAST)[0] == 0
    first = read_results(out).to_dict()["models"][0]["finished"]
    time.sleep(1.1)
    code, _, stderr = run_zoo(*base, *FAST, "--force")
    assert code == 0 and read_results(out).to_dict()["models"][0]["finished"] != first
    code, _, stderr = run_zoo(*base, "--warmup", "2", "--iters", "3", "--batch", "2", "--batch-calls", "1")
    assert code == 2 and "holds a run with other settings (warmup: 1, now 2)" in stderr
    code, _, stderr = run_zoo(*base[:-4], "--data", "shapes:count=3,size=64", "--out", str(out), *FAST)
    assert code == 2 and "holds a run with another dataset" in stderr


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_cleanly_and_keeps_what_finished(tmp_path, stop, code):
    path = slow_registry(tmp_path, 5)
    out = tmp_path / "interrupted"
    process = _start(out, "reference-blobs,slow,centre-box", path)
    _wait_for(out, "reference-blobs", process)
    time.sleep(1.0)  # the slow model's worker is running now
    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers, "the slow model runs in a worker process"
    os.kill(process.pid, stop)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "interrupted; the models that finished are in" in stderr and "run the same command to resume" in stderr
    assert "Traceback" not in stderr
    assert [row["id"] for row in read_results(out).to_dict()["models"]] == ["reference-blobs"]
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "no worker is left running"


@pytest.mark.parametrize("allow", [False, True])
def test_a_run_is_offline_unless_allowed(tmp_path, allow):
    plugin = tmp_path / "plugins" / "phone_home.py"
    plugin.parent.mkdir()
    plugin.write_text(
        "import socket\nimport zoo\n\n"
        "class PhoneHome(zoo.Model):\n    name = 'phone-home'\n"
        "    def load(self, device):\n"
        "        socket.create_connection(('127.0.0.1', 9), timeout=0.5)\n\n"
        "@zoo.hookimpl\ndef register_models(register):\n    register(PhoneHome)\n"
    )
    options = ["--allow-network"] if allow else []
    code, _, stderr = run_zoo(
        "run",
        "--plugins-dir",
        str(plugin.parent),
        "--models",
        "phone-home",
        "--data",
        SMALL_SHAPES,
        "--out",
        str(tmp_path / "out"),
        *FAST,
        *options,
    )
    assert code == 1, stderr
    (row,) = read_results(tmp_path / "out").to_dict()["models"]
    assert row["status"] == "failed"
    if allow:
        assert "network access is off" not in row["reason"]
    else:
        assert "network access is off during a run" in row["reason"] and "--allow-network" in row["reason"]
