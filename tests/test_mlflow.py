"""`zoo export mlflow` and `zoo run --mlflow`, against a real MLflow tracking server on loopback and MLflow's own
local store, read back with MlflowClient."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SMALL_SHAPES, run_zoo

mlflow = pytest.importorskip("mlflow", reason="zoo[mlflow] (in the test extra) is not installed")

FAST = ["--warmup", "1", "--iters", "3", "--batch", "2", "--batch-calls", "1"]
MODELS = "reference-blobs,centre-box"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1: a SQLite backend and a folder for artifacts it serves."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--artifacts-destination", str(root / "art")]  # fmt: skip
    log = (root / "server.log").open("w")
    # its own process group: `mlflow server` starts uvicorn as a child, and both are stopped at the end
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            assert server.poll() is None, (root / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the MLflow server did not start in 180 s"
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def exported_run(tracking_server, tmp_path_factory):
    """`zoo run --mlflow URI`: a small run that exports itself at its end."""
    out = tmp_path_factory.mktemp("run")
    code, _, stderr = run_zoo(
        "run", "--models", MODELS, "--data", SMALL_SHAPES, "--no-isolation", *FAST, "--out", str(out),
        "--mlflow", tracking_server,
    )  # fmt: skip
    assert code == 0, stderr
    assert "zoo: exported" in stderr and "2 model run(s) added" in stderr, stderr
    return out


def board(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "leaderboard.csv").open(newline="") as file:
        return {row["model"]: row for row in csv.DictReader(file)}


def zoo_runs(client, kind: str, experiment: str = "zoo") -> list:
    (found,) = [e for e in client.search_experiments() if e.name == experiment]
    return client.search_runs([found.experiment_id], f"tags.`zoo.kind` = '{kind}'")


def check_exported(client, run_dir: Path, experiment: str = "zoo") -> None:
    """One parent for the run, one child per leaderboard row, each child's metrics those of its row."""
    import json

    (parent,) = zoo_runs(client, "run", experiment)
    children = zoo_runs(client, "model", experiment)
    rows = board(run_dir)
    assert sorted(child.data.tags["zoo.model"] for child in children) == sorted(rows)
    context = json.loads((run_dir / "results.json").read_text())["context"]
    params = parent.data.params
    assert params["dataset.fingerprint"] == context["dataset"]["fingerprint"]
    assert params["settings.iou_conf"] == "0.5" and params["settings.iters"] == "3"
    assert params["versions.torch"] == context["versions"]["torch"] and params["hardware.cpu"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert artifacts >= {"index.html", "leaderboard.csv", "results.json"}
    for child in children:
        row = rows[child.data.tags["zoo.model"]]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        numbers = {k: float(v) for k, v in row.items() if v and k not in TEXT and k != "model"}
        assert child.data.metrics == numbers, row["model"]
        assert child.data.tags["status"] == row["status"] and child.data.tags["reason"] == row["reason"]
        assert child.data.params["model"] == row["model"] and child.data.params["family"] == row["family"]
        assert child.data.params["plugin"] == "reference" and child.data.params["device"] == "cpu"
        (folder,) = client.list_artifacts(child.info.run_id)
        assert [a.path for a in client.list_artifacts(child.info.run_id, folder.path)] == [
            f"predictions/{row['model']}.json"
        ]


TEXT = ("family", "status", "speed_precise", "input_size", "reproduction", "framework", "weights", "timed_on", "reason")


def test_a_run_lands_on_the_tracking_server_as_one_parent_and_a_child_per_row(tracking_server, exported_run, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_server)
    check_exported(client, exported_run)
    (parent,) = zoo_runs(client, "run")
    assert parent.data.tags["zoo.run_folder"] == str(exported_run.resolve())
    copy = Path(client.download_artifacts(parent.info.run_id, "leaderboard.csv", str(tmp_path)))
    assert copy.read_bytes() == (exported_run / "leaderboard.csv").read_bytes()


def test_exporting_the_same_run_again_adds_nothing(tracking_server, exported_run):
    from mlflow import MlflowClient

    code, _, stderr = run_zoo("export", "mlflow", str(exported_run), "--tracking-uri", tracking_server)
    assert code == 0, stderr
    assert "0 model run(s) added, 2 already there" in stderr
    client = MlflowClient(tracking_server)
    assert len(zoo_runs(client, "run")) == 1 and len(zoo_runs(client, "model")) == 2


def test_without_a_uri_it_writes_mlflow_s_own_local_store(exported_run, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, stderr = run_zoo("export", "mlflow", str(exported_run), "--experiment", "nightly")
    assert code == 0, stderr
    assert (tmp_path / "mlflow.db").is_file(), "MLflow 3's default store: ./mlflow.db, artifacts in ./mlruns"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    check_exported(client, exported_run, "nightly")


def test_a_server_that_is_down_is_one_clear_line(exported_run):
    port = free_port()  # nothing listens there
    code, stdout, stderr = run_zoo("export", "mlflow", str(exported_run), "--tracking-uri", f"http://127.0.0.1:{port}")
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith(f"zoo: error: --tracking-uri http://127.0.0.1:{port}: no MLflow tracking server answers")


def test_a_run_whose_export_fails_keeps_its_folder_and_exits_1(tmp_path):
    port = free_port()
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run", "--models", "centre-box", "--data", SMALL_SHAPES, "--no-isolation", *FAST, "--out", str(out),
        "--mlflow", f"http://127.0.0.1:{port}",
    )  # fmt: skip
    assert code == 1 and (out / "leaderboard.csv").is_file()
    assert "zoo: error: the MLflow export failed: --tracking-uri" in stderr and "retries" in stderr


def test_missing_mlflow_is_one_line_naming_the_extra(exported_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    code, _, stderr = run_zoo("export", "mlflow", str(exported_run))
    assert code == 2
    assert stderr == "zoo: error: MLflow is not installed; pip install 'zoo[mlflow]' (or pip install mlflow)\n"


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("torchvision SSD300_VGG16_Weights.COCO_V1 (ssd300_vgg16_coco-b556d3b4.pth)", "b556d3b4"),
        ("facebook/detr-resnet-50@1d5f47bd3bdd2c4bbfa585418ffe6da5028b4c0b (model.safetensors, Hugging Face cache /h)",
         "1d5f47bd3bdd2c4bbfa585418ffe6da5028b4c0b"),
        ("/w/yolov8n.pt (sha256 f59b3d83)", "f59b3d83"),
        ("untrained", None),
        (None, None),
    ],
)  # fmt: skip
def test_a_child_s_weights_hash_is_the_one_their_identity_names(identity, expected):
    from zoo.export.mlflow import weights_hash

    assert weights_hash(identity) == expected


def test_zoo_run_mlflow_without_mlflow_stops_before_any_model_runs(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", "centre-box", "--data", SMALL_SHAPES, "--out", str(out), "--mlflow")
    assert code == 2 and not out.exists()
    assert stderr == "zoo: error: MLflow is not installed; pip install 'zoo[mlflow]' (or pip install mlflow)\n"
