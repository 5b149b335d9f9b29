"""``zoo run --executor ray`` on a Ray cluster of this machine (loopback, 2 CPUs, started once for the module):
the same accuracy as the local executor bit for bit, shards merged into the unsharded numbers, a worker lost
mid-model as a ``failed`` row beside models that finish, a killed driver resumed, and user errors said in one line.
``zoo run`` without ``--executor`` never imports Ray."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import SMALL_SHAPES
from tests.test_faults import PLUGINS, _wait_for
from tests.test_run import FAST, run_zoo
from zoo.runfolder import read_results

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = "ssdlite320_mobilenet_v3_large"  # torchvision's; an untrained copy (seeded) gives real predictions here
MODELS = ("reference-blobs", "centre-box", DETECTOR)
SAME = ["--data", SMALL_SHAPES, "--threads", "1", "--speed-budget", "0.2", "--weights", f"{DETECTOR}=untrained", *FAST]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def cluster():
    """A Ray head on loopback with 2 CPUs, as `ray start --head` brings one up on a machine, started once for the
    session; its address."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}",
               "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
               "--disable-usage-stats"]  # fmt: skip
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # whatever token ~/.ray holds: the drivers join by address
    head = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        for line in head.stdout:  # "Ray runtime started." once the head is up
            if "Ray runtime started" in line or time.monotonic() > deadline:
                break
        assert head.poll() is None, "ray start --head failed"
        yield address
    finally:
        head.terminate()  # --block: the head stops its own processes on SIGTERM
        try:
            head.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def registry(tmp_path: Path, *faults: str) -> Path:
    path = tmp_path / "registry.yaml"
    lines = ["models:", *(f"  {model}: {{}}" for model in MODELS)]
    lines += [f"  fault-{fault}:\n    model: faulty\n    options: {{fault: {fault}}}" for fault in faults]
    path.write_text("\n".join(lines) + "\n")
    return path


def zoo_run(out: Path, *options: str, models: tuple[str, ...] = MODELS, registry_path: Path | None = None):
    where = ["--plugins-dir", str(PLUGINS)] + (["--registry", str(registry_path)] if registry_path else [])
    return run_zoo("run", *where, "--models", ",".join(models), "--out", str(out), *SAME, *options)


def rows(out: Path) -> dict:
    return {row["id"]: row for row in read_results(out).to_dict()["models"]}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local")
    code, _, stderr = zoo_run(out)
    assert code == 0, stderr
    return out


@pytest.fixture(scope="module")
def ray_run(cluster, tmp_path_factory) -> tuple[Path, int, str]:
    """The same models on the cluster, beside a model that kills its Ray worker mid-model (every attempt)."""
    out = tmp_path_factory.mktemp("ray")
    path = registry(tmp_path_factory.mktemp("registry"), "kill-parent")
    code, _, stderr = zoo_run(
        out, "--executor", "ray", "--ray-address", cluster, models=(*MODELS, "fault-kill-parent"), registry_path=path
    )
    return out, code, stderr


def test_ray_gives_the_local_executors_accuracy_bit_for_bit(local_run, ray_run):
    out, code, stderr = ray_run
    local, remote = rows(local_run), rows(out)
    for model in MODELS:
        assert remote[model]["status"] == local[model]["status"] == "ok", (model, remote[model]["reason"])
        assert remote[model]["accuracy"] == local[model]["accuracy"], model
        same = (out / "predictions" / f"{model}.json").read_bytes()
        assert same == (local_run / "predictions" / f"{model}.json").read_bytes(), model
        assert remote[model]["host"]["hostname"] == platform.node() and remote[model]["host"]["threads"] == 1
        assert (out / "logs" / f"{model}.log").is_file(), "each worker's log comes back into the run folder"
    assert local[DETECTOR]["accuracy"]["coco_agnostic"]["map"] is not None, "the detector was scored"
    assert "joined the Ray cluster at" in stderr and "submitted" in stderr
    assert read_results(out).to_dict()["context"]["executor"]["kind"] == "ray"
    assert "were timed on other hardware" not in (out / "index.html").read_text(), "all on the run's own hardware"


def test_a_worker_lost_mid_model_is_a_failed_row_and_the_others_finish(ray_run):
    out, code, stderr = ray_run
    assert code == 1, "a failed model gives exit status 1"
    lost = rows(out)["fault-kill-parent"]
    assert lost["status"] == "failed"
    assert re.fullmatch(r"its Ray worker died mid-model \(killed, or out of memory\?\), also on Ray's 1 retry",
                        lost["reason"]), lost["reason"]  # fmt: skip
    assert all(rows(out)[model]["status"] == "ok" for model in MODELS)


def test_shards_merge_into_the_unsharded_accuracy(cluster, ray_run, tmp_path):
    whole, _, _ = ray_run
    out = tmp_path / "sharded"
    code, _, stderr = zoo_run(out, "--executor", "ray", "--ray-address", cluster, "--shards", "2",
                              models=("reference-blobs", DETECTOR))  # fmt: skip
    assert code == 0, stderr
    for model in ("reference-blobs", DETECTOR):
        row, unsharded = rows(out)[model], rows(whole)[model]
        assert row["accuracy"] == unsharded["accuracy"], model
        assert row["labels"] == unsharded["labels"], model
        assert (out / "predictions" / f"{model}.json").read_bytes() == (
            whole / "predictions" / f"{model}.json"
        ).read_bytes()
        assert [shard["images"] for shard in row["shards"]] == [3, 3]
        assert row["speed"]["latency_ms"]["total"]["median"] > 0, "speed is timed, on the first shard's worker"
    log = (out / "logs" / "reference-blobs.log").read_text()
    assert "=== shard 1 of 2 ===" in log and "=== shard 2 of 2 ===" in log


def _driver(out: Path, cluster: str, registry_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "zoo.cli", "run", "--plugins-dir", str(PLUGINS), "--registry",
               str(registry_path), "--models", "reference-blobs,slow,centre-box", "--out", str(out), *SAME,
               "--executor", "ray", "--ray-address", cluster]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=ROOT)  # fmt: skip


def _slow_processes() -> list[psutil.Process]:
    """The Ray worker running the slow model (Ray titles it after the task) and the model's own worker process."""
    for process in psutil.process_iter(["cmdline"]):
        if "zoo slow" in " ".join(process.info["cmdline"] or []):
            return [process, *process.children(recursive=True)]
    return []


def test_a_killed_driver_resumes_and_leaves_no_model_running(cluster, tmp_path):
    path = tmp_path / "registry.yaml"
    slow = "  slow:\n    model: faulty\n    options: {fault: slow, seconds: 1}\n"
    path.write_text(f"models:\n  reference-blobs: {{}}\n{slow}  centre-box: {{}}\n")
    out = tmp_path / "run"
    driver = _driver(out, cluster, path)
    _wait_for(out, "reference-blobs", driver)
    deadline = time.monotonic() + 30
    while len(_slow_processes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    running = _slow_processes()
    assert len(running) >= 2, "the slow model runs in its Ray worker's own worker process"
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    _, alive = psutil.wait_procs(running, timeout=30)
    assert not alive, "the cluster ends a dead driver's tasks, and a model's worker ends with its Ray worker"
    before = rows(out)
    assert "reference-blobs" in before and "slow" not in before

    code, _, stderr = run_zoo("run", "--plugins-dir", str(PLUGINS), "--registry", str(path), "--models",
                              "reference-blobs,slow,centre-box", "--out", str(out), *SAME, "--executor", "ray",
                              "--ray-address", cluster)  # fmt: skip
    assert code == 0, stderr
    assert "done reference-blobs (earlier in this run folder" in " ".join(stderr.split())
    after = rows(out)
    assert after["reference-blobs"]["finished"] == before["reference-blobs"]["finished"], "not run again"
    assert {row["status"] for row in after.values()} == {"ok"} and set(after) == {
        "reference-blobs",
        "slow",
        "centre-box",
    }


def test_user_errors_are_one_line_and_fast(cluster, tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()
    code, _, stderr = zoo_run(out, "--executor", "ray", "--ray-address", f"127.0.0.1:{_free_port()}")
    assert code == 2 and time.monotonic() - started < 15
    assert re.search(r"--ray-address 127\.0\.0\.1:\d+: nothing answers there", stderr), stderr
    assert "Traceback" not in stderr and not out.exists(), "nothing is written for a run that cannot start"

    code, _, stderr = zoo_run(out, "--executor", "ray", "--ray-address", cluster, "--model-resources", "GPU=1")
    assert code == 2 and "--model-resources GPU=1: no node of the cluster has that much" in stderr, stderr
    assert not out.exists()
    for options, message in [
        (["--shards", "2"], "--shards 2 is for --executor ray"),
        (["--ray-address", cluster], "--ray-address is for --executor ray"),
        (["--executor", "ray", "--model-resources", "CPU=two"], "'CPU=two' is not NAME=NUMBER"),
    ]:
        code, _, stderr = zoo_run(out, *options)
        assert code == 2 and message in stderr, (options, stderr)


def _zoo_in_a_fresh_process(*arguments: str, before: str = "") -> subprocess.CompletedProcess:
    code = f"import sys; {before}from zoo.cli import main; code = main({list(arguments)!r}); "
    code += "print('ray imported' if 'ray' in sys.modules else 'no ray'); sys.exit(code)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "ZOO_OFFLINE": "1"})  # fmt: skip


def test_zoo_run_without_an_executor_never_imports_ray(tmp_path):
    ran = _zoo_in_a_fresh_process("run", "--models", "centre-box", "--data", SMALL_SHAPES, "--out",
                                  str(tmp_path / "out"), "--no-isolation", *FAST)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith("no ray")


def test_without_ray_installed_the_executor_says_how_to_install_it(tmp_path):
    ran = _zoo_in_a_fresh_process("run", "--models", "centre-box", "--data", SMALL_SHAPES, "--out",
                                  str(tmp_path / "out"), "--executor", "ray", *FAST,
                                  before="sys.modules['ray'] = None; ")  # fmt: skip
    assert ran.returncode == 2
    last = ran.stderr.strip().splitlines()[-1]
    assert last == "zoo: error: --executor ray: ray is not installed: pip install 'zoo[ray]'"


def test_a_small_dataset_travels_as_bytes_and_a_large_one_as_absolute_paths(shapes, tmp_path, monkeypatch):
    from tests.conftest import save_formats
    from zoo.data import load_dataset
    from zoo.data.images import EncodedImage
    from zoo.executors import base as executor

    coco = save_formats(shapes, tmp_path)["coco"]
    monkeypatch.chdir(tmp_path)
    dataset = load_dataset(coco.name, images_dir="images")
    small = executor.shippable(dataset)
    assert all(isinstance(image.source, EncodedImage) for image in small.images)
    assert all((a.load() == b.load()).all() for a, b in zip(dataset.images, small.images)), "the same pixels"
    monkeypatch.setattr(executor, "SHIP_BYTES", 0)
    large = executor.shippable(dataset)
    assert all(image.source.is_absolute() and image.source.is_file() for image in large.images)
    assert json.dumps(small.describe()) == json.dumps(dataset.describe())


def test_a_worker_without_the_models_plugin_gives_a_row_that_says_so(shapes):
    from zoo.executors.ray_worker import WorkerSpec, run_part
    from zoo.isolation import Limits, WorkerSetup
    from zoo.registry import Entry
    from zoo.settings import Settings

    entry = Entry("elsewhere", "only-on-the-driver", plugin="driver_only")
    spec = WorkerSpec(Settings(), WorkerSetup(plugin_dirs=()), Limits(), isolation=True)
    out = run_part(entry, shapes, spec, None, 1.0)
    row = out["run"].result.to_dict()
    assert row["status"] == "failed" and row["host"]["hostname"] == platform.node() and row["host"]["threads"] == 1
    assert row["reason"].startswith(f"no plugin registers model 'only-on-the-driver' on worker {platform.node()}")
    assert "install its plugin there too" in row["reason"]


def test_shards_that_disagree_about_weights_give_a_failed_row_naming_the_shard(shapes):
    from zoo.registry import Entry
    from zoo.results import ModelResult, ModelRun
    from zoo.settings import Settings
    from zoo.shards import merge

    entry = Entry("model", "model")

    def part(**values) -> ModelRun:
        return ModelRun(ModelResult.from_dict({"id": entry.id, "model": entry.model, **values}))

    timed = part(host={"hostname": "node-1"})
    missing = part(status="no-weights", reason="model.pt is not in ~/.cache", host={"hostname": "node-2"})
    row = merge(entry, shapes, Settings(), [timed, missing]).result.to_dict()
    assert row["status"] == "failed"
    assert row["reason"] == (
        "shard 2 of 2 (on node-2): no-weights: model.pt is not in ~/.cache; but shard 1 of 2 (on node-1) says ok: "
        "give every worker the same weights"
    )
    crashed = part(status="timeout", reason="no progress for 9 s", host={})
    row = merge(entry, shapes, Settings(), [crashed, timed]).result.to_dict()
    assert row["status"] == "timeout" and row["reason"] == "shard 1 of 2: no progress for 9 s"


def test_a_row_timed_on_other_hardware_is_marked_and_gets_no_share_of_the_runs_peak(local_run, tmp_path):
    from zoo.leaderboard import rows as board
    from zoo.report import write_report

    results = read_results(local_run)
    assert {row["model"]: row["peak_share"] for row in board(results)}[DETECTOR] > 0
    elsewhere = next(row for row in results.models if row.id == DETECTOR)
    elsewhere.host = dataclasses.replace(elsewhere.host, hostname="node-7", cpu="Other CPU 9000", cpu_count_logical=64)
    html = write_report([results], tmp_path).read_text()
    assert "Rows marked † were timed on other hardware than the rest of their run" in html
    assert html.count(" †</") == 1, "only that row's latency is marked"
    assert "node-7: Other CPU 9000 (64 CPUs), 1 thread — other hardware than the rest of the run" in html
    assert {row["model"]: row["peak_share"] for row in board(results)}[DETECTOR] is None, "not the run's peak"
    assert {row["model"]: row["timed_on"] for row in board(results)}[DETECTOR] == "node-7 (cpu)"


TRACK_DATA = "moving-shapes:seqs=2,frames=12,objects=3,size=160x120,seed=2"
TIMING = ("speed", "speed_first_call_s", "load_s")  # measured, so never the same twice


def zoo_track(out: Path, *options: str) -> tuple[int, str, str]:
    return run_zoo("track", "--models", "reference-blobs,centre-box", "--data", TRACK_DATA, "--threads", "1",
                   "--out", str(out), *options)  # fmt: skip


def test_zoo_track_on_ray_gives_the_local_executors_rows(cluster, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    code, _, stderr = zoo_track(local)
    assert code == 0, stderr
    code, _, stderr = zoo_track(remote, "--executor", "ray", "--ray-address", cluster)
    assert code == 0, stderr
    assert "joined the Ray cluster at" in stderr and "submitted" in stderr, "the rows ran as Ray tasks"
    records = [json.loads((out / "tracking.json").read_text()) for out in (local, remote)]
    assert [record["settings"]["executor"] for record in records] == ["local", "ray"]
    by_id = [{row["id"]: row for row in record["rows"]} for record in records]
    assert set(by_id[0]) == set(by_id[1]) == {"oracle", "reference-blobs", "centre-box"}
    for row_id, row in by_id[0].items():
        other = by_id[1][row_id]
        assert row["status"] == "ok", (row_id, row["reason"])
        assert {k: v for k, v in row.items() if k not in TIMING} == {k: v for k, v in other.items() if k not in TIMING}
        for relative in row["files"].values():  # the tracks the Ray task handed back, written by the driver
            assert (remote / relative).read_bytes() == (local / relative).read_bytes(), relative
    assert by_id[1]["reference-blobs"]["metrics"]["combined"]["hota"] is not None, "the Ray rows were scored"
    assert (remote / "logs" / "reference-blobs.log").is_file(), "each task's log comes back into the run folder"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--ray-address", "127.0.0.1:1"], "zoo: error: --ray-address is for --executor ray; add --executor ray"),
        (["--model-resources", "CPU=1"], "zoo: error: --model-resources is for --executor ray; add --executor ray"),
        (["--executor", "ray", "--model-resources", "CPU=two"], "'CPU=two' is not NAME=NUMBER; e.g. CPU=2,GPU=1"),
    ],
)
def test_zoo_tracks_executor_errors_are_one_line(tmp_path, options, message):
    code, _, stderr = zoo_track(tmp_path / "out", *options)
    assert code == 2 and message in stderr and "Traceback" not in stderr, stderr
    assert not (tmp_path / "out").exists()
