"""Weights on first use: fetched through a server on 127.0.0.1 standing in for the internet (``ZOO_WEIGHTS_MIRROR``,
``HF_ENDPOINT``), checked, resumed, refused when wrong, bundled for a closed network — and never fetched offline.

The files served are made here: an ultralytics checkpoint saved by ultralytics, a tiny DETR saved by transformers,
and a stand-in under a torchvision checkpoint's official name (which cannot match the hash in that name).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import SMALL_SHAPES
from tests.test_run import FAST, run_zoo
from zoo import fetch
from zoo.fetch import http
from zoo.fetch.progress import Counting
from zoo.report.fmt import size
from zoo.runfolder import read_results

YOLO_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0/yolov8n.pt"
SSD = "ssdlite320_mobilenet_v3_large"
SSD_URL = "https://download.pytorch.org/models/ssdlite320_mobilenet_v3_large_coco-a79551df.pth"
DETR = "facebook/detr-resnet-50"
DETR_COMMIT = "1d5f47bd3bdd2c4bbfa585418ffe6da5028b4c0b"  # the commit zoo pins
RUN = ["--data", SMALL_SHAPES, "--limit", "2", "--no-isolation", *FAST]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def fabricated(tmp_path_factory) -> dict[str, bytes]:
    """The files the server hands out, made once: yolov8n.pt, the tiny DETR's three files, the SSD stand-in."""
    import torch
    import torchvision

    from tests.test_transformers import _tiny
    from tests.test_ultralytics import checkpoint
    from zoo.plugins import load_plugins

    folder = tmp_path_factory.mktemp("fabricated")
    files = {"yolov8n.pt": checkpoint("yolov8n", folder / "yolov8n.pt", tmp_path_factory).read_bytes()}
    module = __import__(load_plugins().models["detr-resnet-50"].cls.__module__, fromlist=["coco_id2label"])
    model, processor = _tiny("detr-resnet-50", module.coco_id2label)
    model.save_pretrained(folder / "detr")
    processor.save_pretrained(folder / "detr")
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        files[f"detr/{name}"] = (folder / "detr" / name).read_bytes()
    torch.manual_seed(0)
    ssd = torchvision.models.get_model(SSD, weights=None, weights_backbone=None)
    torch.save(ssd.state_dict(), folder / "ssd.pth")
    files["ssd"] = (folder / "ssd.pth").read_bytes()
    return files


def registry(tmp_path: Path, yolo: bytes) -> Path:
    """The catalogue's entries for the models here, with the fabricated yolov8n.pt's size and sha256 recorded in
    place of the official file's (the real registry.yaml pins the official one, which a stand-in cannot match)."""
    from zoo.registry import load_registry

    entries = {entry.id: entry for entry in load_registry()}
    digest = hashlib.sha256(yolo).hexdigest()
    lines = ["models:"]
    for model_id in ("yolov8n", "detr-resnet-50", SSD):
        entry = entries[model_id]
        lines += [f"  {model_id}:", f"    plugin: {entry.plugin}", f"    licence: {entry.licence}"]
        if model_id == "yolov8n":
            lines.append(f"    meta: {{files: {{yolov8n.pt: {{size: {len(yolo)}, sha256: '{digest}'}}}}}}")
    path = tmp_path / "registry.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def serve(server, fabricated: dict[str, bytes]) -> None:
    server.put(YOLO_URL, fabricated["yolov8n.pt"])
    server.put(SSD_URL, fabricated["ssd"])
    detr = {name.removeprefix("detr/"): data for name, data in fabricated.items() if name.startswith("detr/")}
    server.put_hub(DETR, detr, DETR_COMMIT)


def rows(out: Path) -> dict[str, dict]:
    return {row["id"]: row for row in read_results(out).to_dict()["models"]}


# -- first use -----------------------------------------------------------------------------------------------------


def test_zoo_run_fetches_what_is_missing_and_refuses_a_file_that_does_not_match(online, fabricated, places, tmp_path):
    """Empty caches: zoo run fetches each model's files before measuring it, through each library's cache layout;
    the stand-in under torchvision's official name is refused (never loaded) and its row says why."""
    serve(online, fabricated)
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run", "--registry", str(registry(tmp_path, fabricated["yolov8n.pt"])), "--models", "all", "--out", str(out),
        "--data", SMALL_SHAPES, "--limit", "2", *FAST,
    )  # fmt: skip
    assert code == 0, stderr
    found = rows(out)
    assert found["yolov8n"]["status"] == "ok" and found["detr-resnet-50"]["status"] == "ok"
    _, weights_dir = places
    assert (weights_dir / "yolov8n.pt").read_bytes() == fabricated["yolov8n.pt"], "where ultralytics looks"
    snapshot = tmp_path / "hf-home" / "hub" / "models--facebook--detr-resnet-50" / "snapshots" / DETR_COMMIT
    blob = (snapshot / "model.safetensors").resolve()
    assert blob.parent.name == "blobs" and blob.name == hashlib.sha256(fabricated["detr/model.safetensors"]).hexdigest()
    assert found["detr-resnet-50"]["weights"].startswith(f"{DETR}@{DETR_COMMIT} (model.safetensors")
    assert {f["file"]: f["state"] for f in found["yolov8n"]["fetch"]} == {"yolov8n.pt": "fetched"}

    ssd = found[SSD]
    assert ssd["status"] == "no-weights" and ssd["untrained"]
    assert ssd["reason"].startswith("could not fetch ssdlite320_mobilenet_v3_large_coco-a79551df.pth: ")
    assert "does not match the hash in its name (a79551df…); the download from http://127.0.0.1:" in ssd["reason"]
    checkpoints = tmp_path / "torch-home" / "hub" / "checkpoints"
    assert list(checkpoints.iterdir()) == [], "nothing is left in torchvision's cache, not even a part"
    assert "fetched yolov8n.pt" in stderr and "could not fetch ssdlite320" in stderr
    assert {row["licence"] for row in found.values()} == {"AGPL-3.0", "Apache-2.0", "BSD-3-Clause"}

    online.requests.clear()  # a second run into another folder: everything is here, nothing is fetched
    code, _, stderr = run_zoo(
        "run", "--registry", str(registry(tmp_path, fabricated["yolov8n.pt"])), "--models", "yolov8n,detr-resnet-50",
        "--out", str(tmp_path / "again"), *RUN,
    )  # fmt: skip
    assert code == 0 and online.gets() == [], stderr


def test_pull_lists_fetches_skips_and_ends_with_a_table(online, fabricated, places, tmp_path, capsys):
    serve(online, fabricated)
    reg = str(registry(tmp_path, fabricated["yolov8n.pt"]))
    code, stdout, _ = run_zoo("pull", "--registry", reg, "--dry-run")
    assert code == 0 and online.gets() == [], "a dry run fetches nothing"
    assert "5 file(s); 5 to fetch: " in stdout and "unknown size" not in stdout, "sizes not recorded are asked for"
    assert {r[0] for r in online.requests} == {"HEAD"}
    yolo_line = next(line for line in stdout.splitlines() if line.startswith("yolov8n "))
    assert yolo_line.split()[1:5] == ["yolov8n.pt", size(len(fabricated["yolov8n.pt"])).split()[0], "MiB", "missing"]
    assert yolo_line.endswith("AGPL-3.0")
    code, stdout, stderr = run_zoo("pull", "--registry", reg, "--models", "yolov8n,detr-resnet-50")
    assert code == 0, stderr
    _, weights_dir = places
    table = stdout.splitlines()
    assert table[0].split() == ["model", "file", "size", "where", "licence", "result"]
    assert any(line.split()[:2] == ["yolov8n", "yolov8n.pt"] and line.endswith("fetched") for line in table)
    assert f"{weights_dir / 'yolov8n.pt'}" in stdout and "Apache-2.0" in stdout
    gets = len(online.gets())
    code, stdout, _ = run_zoo("pull", "--registry", reg, "--models", "yolov8n,detr-resnet-50")
    assert code == 0 and len(online.gets()) == gets, "files present and intact are skipped"
    assert all(line.endswith("present") for line in stdout.splitlines()[1:])


def test_progress_reports_each_file_with_its_size(online, fabricated, tmp_path):
    online.put(YOLO_URL, fabricated["yolov8n.pt"])
    file = fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt")
    progress = Counting()
    outcome = fetch.ensure(file, progress)
    size = len(fabricated["yolov8n.pt"])
    assert outcome.state == "fetched" and outcome.bytes == size
    assert progress.files == [("yolov8n.pt", size, 0)] and progress.transferred == size


# -- failures: one line, no waiting, nothing half-written ---------------------------------------------------------


def test_404_refused_and_unresolved_hosts_are_one_line_causes(online, tmp_path, monkeypatch):
    file = fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt")
    outcome = fetch.ensure(file)
    assert outcome.state == "failed"
    assert outcome.detail == f"HTTP 404 Not Found from {online.url}/github.com/ultralytics/assets/releases/download" \
        "/v8.4.0/yolov8n.pt"  # fmt: skip
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("ZOO_WEIGHTS_MIRROR", f"http://127.0.0.1:{closed}")
    assert fetch.ensure(file).detail == f"127.0.0.1:{closed} refused the connection"
    monkeypatch.setenv("ZOO_WEIGHTS_MIRROR", "http://no-such-host.invalid")
    monkeypatch.setattr(socket, "getaddrinfo", _unresolvable)
    assert fetch.ensure(file).detail == "the name no-such-host.invalid could not be resolved (no network, or no DNS)"
    assert not list(tmp_path.iterdir()), "nothing written"


def _unresolvable(host, *args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_an_unreachable_mirror_fails_every_model_at_once_with_the_cause(online, places, tmp_path, monkeypatch):
    """No network: the first connection is refused, the host is not tried again (huggingface_hub would retry each
    file for 23 s), and each row says why."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("ZOO_WEIGHTS_MIRROR", f"http://127.0.0.1:{closed}")
    attempts = _count_connections(monkeypatch)
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", "yolov8n,yolov8s,ssdlite320_mobilenet_v3_large,detr-resnet-50",
                              "--out", str(out), "--no-untrained-speed", *RUN)  # fmt: skip
    assert code == 0, stderr
    for row in rows(out).values():
        assert row["status"] == "no-weights"
        assert row["reason"].endswith(f"127.0.0.1:{closed} refused the connection"), row["reason"]
    assert len(attempts) == 1, "the host that refused is not asked again"


def test_a_slow_server_times_out_instead_of_hanging(online, fabricated, tmp_path, monkeypatch):
    from tests.loopback import Behaviour

    online.put(YOLO_URL, fabricated["yolov8n.pt"])
    online.behaviours["/github.com/ultralytics/assets/releases/download/v8.4.0/yolov8n.pt"] = Behaviour(delay=8)
    monkeypatch.setenv("ZOO_FETCH_TIMEOUT", "0.5")
    outcome = fetch.ensure(fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt"))
    assert outcome.state == "failed"
    assert outcome.detail == f"127.0.0.1:{online.url.rsplit(':', 1)[1]} sent nothing for 0.5 s (timed out; " \
        "ZOO_FETCH_TIMEOUT sets the limit)"  # fmt: skip
    assert outcome.seconds < 8, "it did not wait for the server"


def test_a_transfer_cut_mid_file_resumes_with_a_range_request(online, fabricated, tmp_path):
    from tests.loopback import Behaviour

    data = fabricated["yolov8n.pt"]
    path = "/github.com/ultralytics/assets/releases/download/v8.4.0/yolov8n.pt"
    online.put(YOLO_URL, data)
    online.behaviours[path] = Behaviour(cut_after=len(data) // 3)
    file = fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt", sha256=hashlib.sha256(data).hexdigest())
    outcome = fetch.ensure(file)
    assert outcome.state == "fetched" and (tmp_path / "yolov8n.pt").read_bytes() == data
    assert [r[2] for r in online.gets()] == [None, f"bytes={len(data) // 3}-"]
    assert outcome.bytes == len(data), "the first third once, then the rest"


def test_an_interrupted_pull_resumes_where_it_stopped(online, fabricated, tmp_path):
    from tests.loopback import Behaviour

    data = fabricated["yolov8n.pt"]
    path = "/github.com/ultralytics/assets/releases/download/v8.4.0/yolov8n.pt"
    online.put(YOLO_URL, data)
    online.behaviours[path] = Behaviour(cut_after=len(data) // 2, then=503)  # cut, then down
    file = fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt", size=len(data))
    first = fetch.ensure(file)
    assert first.state == "failed" and first.detail.startswith("HTTP 503 Service Unavailable from ")
    assert first.detail.endswith(f"; {len(data) // 2} bytes kept, the next fetch resumes there")
    part = http.part_path(tmp_path / "yolov8n.pt")
    assert part.stat().st_size == len(data) // 2 and not (tmp_path / "yolov8n.pt").exists()

    online.behaviours.clear()
    online.requests.clear()
    second = fetch.ensure(file)
    assert second.state == "fetched" and (tmp_path / "yolov8n.pt").read_bytes() == data
    assert online.gets()[0][2] == f"bytes={len(data) // 2}-" and second.bytes == len(data) - len(data) // 2
    assert not part.exists()


def test_a_checksum_mismatch_is_discarded_and_a_bad_cached_file_is_fetched_again(online, fabricated, tmp_path):
    data = fabricated["yolov8n.pt"]
    online.put(YOLO_URL, data)
    wrong = fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt", sha256="0" * 64)
    outcome = fetch.ensure(wrong)
    assert outcome.state == "failed" and "does not match the recorded sha256 (0000000000000000…)" in outcome.detail
    assert list(tmp_path.iterdir()) == [], "the download was discarded"

    right = fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt", sha256=hashlib.sha256(data).hexdigest())
    (tmp_path / "yolov8n.pt").write_bytes(data[:-10] + b"tampered!!")
    assert fetch.state(right).state == "corrupt"
    outcome = fetch.ensure(right)
    assert outcome.state == "fetched" and "was not the official one" in outcome.detail
    assert (tmp_path / "yolov8n.pt").read_bytes() == data


def test_a_full_disk_is_a_clear_error_and_leaves_no_part(online, fabricated, tmp_path, monkeypatch):
    import errno

    online.put(YOLO_URL, fabricated["yolov8n.pt"])
    real_open = open

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(http, "open", lambda *a, **k: Full(real_open(*a, **k)), raising=False)
    outcome = fetch.ensure(fetch.RemoteFile(url=YOLO_URL, path=tmp_path / "yolov8n.pt"))
    assert outcome.detail == f"the disk is full at {tmp_path}; free some space and try again"
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_cached_file_is_refused_offline_and_never_loaded(fabricated, places, tmp_path, monkeypatch):
    _, weights_dir = places
    weights_dir.mkdir()
    (weights_dir / "yolov8n.pt").write_bytes(fabricated["yolov8n.pt"])  # not the official yolov8n.pt
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", "yolov8n", "--out", str(out), "--no-untrained-speed", *RUN)
    assert code == 0, stderr
    row = rows(out)["yolov8n"]
    assert row["status"] == "no-weights" and row["info"] == {}
    assert f"{weights_dir / 'yolov8n.pt'} is not the official file: " in row["reason"]
    assert f"bytes where {6549796} were expected" in row["reason"] and "it was not loaded" in row["reason"]


# -- offline, bundles, mirrors -------------------------------------------------------------------------------------


def test_offline_makes_no_connection_attempt(online, places, tmp_path, monkeypatch):
    attempts = _count_connections(monkeypatch)
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--offline", "--models", "yolov8n,detr-resnet-50", "--out", str(out),
                              "--no-untrained-speed", *RUN)  # fmt: skip
    assert code == 0, stderr
    assert {row["status"] for row in rows(out).values()} == {"no-weights"}
    assert "`zoo pull --models yolov8n` fetches" in rows(out)["yolov8n"]["reason"]
    code, _, stderr = run_zoo("pull", "--offline", "--models", "yolov8n")
    assert code == 1 and "1 of 1 file(s) are not here" in stderr
    assert attempts == [] and online.requests == []


def test_a_bundle_carries_the_files_to_a_machine_without_network(online, fabricated, places, tmp_path, monkeypatch):
    """pull --to DIR copies what this machine has and fetches the rest; with empty caches and no network, run
    --weights-dir DIR uses it; a file that no longer matches the manifest is refused."""
    serve(online, fabricated)
    reg = str(registry(tmp_path, fabricated["yolov8n.pt"]))
    assert run_zoo("pull", "--registry", reg, "--models", "yolov8n")[0] == 0  # into ultralytics' weights_dir
    bundle = str(tmp_path / "bundle")
    code, stdout, stderr = run_zoo("pull", "--registry", reg, "--models", "yolov8n,detr-resnet-50", "--to", bundle)
    assert code == 0, stderr
    table = stdout.splitlines()
    assert any(line.split()[:2] == ["yolov8n", "yolov8n.pt"] and line.endswith("copied") for line in table)
    bundle = tmp_path / "bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    files = {item["path"]: item for item in manifest["files"]}
    assert files["ultralytics/yolov8n.pt"]["sha256"] == hashlib.sha256(fabricated["yolov8n.pt"]).hexdigest()
    yolo = files["ultralytics/yolov8n.pt"]
    assert (yolo["licence"], yolo["url"], yolo["models"]) == ("AGPL-3.0", YOLO_URL, ["yolov8n"])
    weights_path = f"huggingface/models--facebook--detr-resnet-50/snapshots/{DETR_COMMIT}/model.safetensors"
    assert files[weights_path]["size"] == len(fabricated["detr/model.safetensors"])

    # the other machine: empty caches, no network at all
    shutil.rmtree(places[1])
    shutil.rmtree(tmp_path / "hf-home", ignore_errors=True)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.delenv("ZOO_WEIGHTS_MIRROR")
    attempts = _count_connections(monkeypatch)
    out = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--registry", reg, "--weights-dir", str(bundle), "--models",
                              "yolov8n,detr-resnet-50", "--out", str(out), *RUN)  # fmt: skip
    assert code == 0, stderr
    found = rows(out)
    assert found["yolov8n"]["status"] == "ok" and found["detr-resnet-50"]["status"] == "ok", found
    assert found["yolov8n"]["weights"].startswith(str(bundle / "ultralytics" / "yolov8n.pt"))
    assert attempts == []

    (bundle / weights_path).write_bytes(fabricated["detr/model.safetensors"][:-4] + b"oops")
    code, stdout, _ = run_zoo("weights", "--registry", reg, "--weights-dir", str(bundle))
    assert "detr-resnet-50: corrupt: " in stdout and "does not match the bundle's manifest" in stdout


def test_hf_endpoint_is_honoured_for_hugging_face_files(online, fabricated, tmp_path, monkeypatch):
    serve(online, fabricated)
    monkeypatch.delenv("ZOO_WEIGHTS_MIRROR")
    monkeypatch.setenv("HF_ENDPOINT", f"{online.url}/huggingface.co")
    code, _, stderr = run_zoo("pull", "--models", "detr-resnet-50")
    assert code == 0, stderr
    assert {r[1].rsplit("/", 1)[1] for r in online.gets()} == {"config.json", "preprocessor_config.json",
                                                                "model.safetensors"}  # fmt: skip
    assert all(f"/resolve/{DETR_COMMIT}/" in r[1] for r in online.gets()), "at the pinned revision"


def _count_connections(monkeypatch) -> list:
    """Every connection attempt from now on, recorded (and still let through to loopback)."""
    seen = []
    connect = socket.socket.connect

    def counting(self, address):
        seen.append(address)
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", counting)
    return seen
