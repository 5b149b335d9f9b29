"""docs/plugins.md stays true: each of its examples runs as a plugin through `zoo run` and gives an ok row with real
accuracy on shapes, and the page names every hook, every public part of `zoo.Model` and every field a plugin fills."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from tests.test_run import FAST, run_zoo
from zoo import hookspecs
from zoo.registry import ENTRY_KEYS, PUBLISHED_KEYS
from zoo.runfolder import read_results

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
TEXT = DOC.read_text(encoding="utf-8")
DATA = "shapes:count=3,size=160x120,seed=1"
EXAMPLES = dict(re.findall(r"<!-- example: ([\w-]+) -->\s*```python\n(.*?)```", TEXT, re.S))
REGISTRIES = dict(re.findall(r"<!-- registry: ([\w-]+) -->\s*```yaml\n(.*?)```", TEXT, re.S))


def _run_example(tmp_path: Path, name: str, *extra: str) -> tuple[dict, str]:
    """Write the example to its own plugins folder, run it on shapes in this process; its one result and stderr."""
    code = EXAMPLES[name]
    model_id = re.search(r'^    name = "([^"]+)"', code, re.M).group(1)
    folder = tmp_path / f"plugins-{name}"
    folder.mkdir(exist_ok=True)
    (folder / f"{name.replace('-', '_')}.py").write_text(code, encoding="utf-8")
    out = tmp_path / f"run-{name}-{len(list(tmp_path.glob('run-*')))}"
    args = ["run", "--plugins-dir", str(folder), "--models", model_id, "--data", DATA, "--no-isolation"]
    _, _, stderr = run_zoo(*args, "--out", str(out), *FAST, *extra)
    (result,) = read_results(out).to_dict()["models"]
    return result, stderr


def _assert_useful(result: dict) -> None:
    assert result["status"] == "ok", result["reason"]
    assert result["accuracy"]["coco"]["map"] > 0.5, "the example does real work on shapes"
    assert result["accuracy"]["localization"]["mean_iou"] > 0.5


def test_the_page_has_the_three_examples_each_short():
    assert set(EXAMPLES) == {"torch-detector", "onnx-runtime", "http-endpoint"}
    for name, code in EXAMPLES.items():
        assert len(code.splitlines()) <= 100, f"{name}: keep the example short"
        compile(code, name, "exec")


def test_the_torch_example_runs_and_handles_its_weights(tmp_path, one_torch_thread):
    result, stderr = _run_example(tmp_path, "torch-detector")
    _assert_useful(result)
    assert result["info"]["gflops_source"].startswith("counted"), "torch's flop counter sees the convolution"
    assert result["info"]["num_params"] == 12 and result["weights"] == "handmade"

    missing, _ = _run_example(tmp_path, "torch-detector", "--weights", f"torch-shapes={tmp_path / 'nowhere.pt'}")
    assert missing["status"] == "no-weights" and "no checkpoint at" in missing["reason"]
    assert missing["untrained"] and missing["speed"]["timed_calls"] >= 3, "timed on an untrained copy"

    import torch

    torch.manual_seed(1)
    saved = tmp_path / "saved.pt"
    torch.save(torch.nn.Conv2d(3, 3, kernel_size=1).state_dict(), saved)
    loaded, _ = _run_example(tmp_path, "torch-detector", "--weights", f"torch-shapes={saved}")
    assert loaded["status"] == "ok" and loaded["weights"] == str(saved)


def test_the_onnx_example_runs_declares_its_runtime_and_uses_the_threads(tmp_path, one_torch_thread):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    result, _ = _run_example(tmp_path, "onnx-runtime", "--threads", "1")
    _assert_useful(result)
    info = result["info"]
    assert info["gflops_source"] == "declared by the plugin" and info["gflops"] > 0
    assert set(info["versions"]) == {"onnxruntime", "onnx"}
    assert info["settings"]["intra_op_num_threads"] == 1

    missing, _ = _run_example(tmp_path, "onnx-runtime", "--weights", f"onnx-shapes={tmp_path / 'nowhere.onnx'}")
    assert missing["status"] == "no-weights" and missing["untrained"] and missing["speed"]["timed_calls"] >= 3


class _Detector(BaseHTTPRequestHandler):
    """The service the endpoint example calls: the reference plugin's colour-blob detector behind HTTP."""

    model: zoo.Model
    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer({"labels": list(self.model.labels), "version": "shapes-service 1.0"})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        image = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
        found = self.model.predict([image]).detections[0]
        boxes = zip(found.xyxy.tolist(), found.scores.tolist(), found.labels.tolist())
        self._answer({"detections": [{"box": b, "score": s, "label": label} for b, s, label in boxes]})

    def _answer(self, answer: dict) -> None:
        self.requests.append(self.command)
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def detection_service(monkeypatch):
    """The detection service on 127.0.0.1 (a free port), for as long as the test runs."""
    from zoo.plugins import load_plugins

    model = load_plugins(entry_points=False).models["reference-blobs"].cls()
    model.load("cpu")
    handler = type("Handler", (_Detector,), {"model": model, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("NO_PROXY", "no_proxy"):  # urllib must not send loopback through a proxy
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    yield f"127.0.0.1:{server.server_address[1]}", handler.requests
    server.shutdown()
    server.server_close()


def test_the_endpoint_example_runs_against_a_service_with_its_registry_entry(tmp_path, detection_service):
    address, requests = detection_service
    registry = tmp_path / "endpoint.yaml"
    assert "127.0.0.1:8000" in REGISTRIES["http-endpoint"]
    registry.write_text(REGISTRIES["http-endpoint"].replace("127.0.0.1:8000", address), encoding="utf-8")

    result, _ = _run_example(tmp_path, "http-endpoint", "--registry", str(registry), "--allow-network")
    _assert_useful(result)
    assert result["info"]["versions"] == {"endpoint": "shapes-service 1.0"}
    assert result["info"]["settings"]["url"] == f"http://{address}/detect", "the URL came from the registry"
    assert requests.count("GET") == 1 and requests.count("POST") >= 3

    refused, _ = _run_example(tmp_path, "http-endpoint", "--registry", str(registry))
    assert refused["status"] == "failed" and "--allow-network" in refused["reason"], "what the page says"


def _named(name: str) -> bool:
    return re.search(rf"`{re.escape(name)}\b", TEXT) is not None


def test_every_hook_and_every_public_part_of_the_model_is_named():
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks and all(_named(hook) for hook in hooks), hooks
    public = [name for name in vars(zoo.Model) if not name.startswith("_")]
    assert {"load", "predict", "option_names", "threads"} <= set(public)
    missing = [name for name in [*public, "weights", "__init__"] if not _named(name)]
    assert not missing, f"docs/plugins.md does not name zoo.Model's {missing}"


def test_every_field_a_plugin_fills_and_every_registry_key_is_named():
    classes = (zoo.ModelInfo, zoo.WeightsCheck, zoo.Detections, zoo.RemoteFile, zoo.Prediction, zoo.StageTimes)
    missing = [f"{c.__name__}.{f.name}" for c in classes for f in dataclasses.fields(c) if not _named(f.name)]
    missing += [key for key in (*ENTRY_KEYS, *PUBLISHED_KEYS) if not _named(key)]
    assert not missing, f"docs/plugins.md does not name {missing}"
    for name in ("UNTRAINED", "WeightsUnavailable", "hookimpl", "RemoteFile", "ModelInfo", "WeightsCheck"):
        assert f"zoo.{name}" in TEXT, name
