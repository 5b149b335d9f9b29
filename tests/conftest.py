from __future__ import annotations

import contextlib
import io
import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.cli import main
from zoo.data import Dataset, load_dataset

SMALL_SHAPES = "shapes:count=6,size=96x80,seed=7"
FAST = ["--warmup", "1", "--iters", "3", "--batch", "2", "--batch-calls", "1"]


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="session", autouse=True)
def zoo_offline():
    """zoo offline for the whole session, module- and session-scoped fixtures included (the download tests turn it
    on again, against a server on loopback)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_OFFLINE", "1")
        for name in ("ZOO_WEIGHTS_DIR", "ZOO_WEIGHTS_MIRROR", "ZOO_FETCH_TIMEOUT", "HF_ENDPOINT"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs offline: a connection anywhere but this machine's loopback (where the download tests start
    their own server) fails the test loudly."""
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family == socket.AF_UNIX or (isinstance(address, tuple) and address[0] in LOOPBACK):
            return connect(self, address)
        raise RuntimeError(f"a test tried to reach the network: {address}")

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host in LOOPBACK:
            return getaddrinfo(host, *args, **kwargs)
        raise RuntimeError(f"a test tried to reach the network: {host}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No plugins folder from the environment, and torch's cache and zoo's home (benchmarks, trained checkpoints) in
    fresh folders."""
    monkeypatch.delenv("ZOO_PLUGINS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))


@pytest.fixture(autouse=True)
def torch_threads_kept():
    """A test that runs zoo in this process with ``--threads N`` leaves torch's thread count as it found it: the next
    test's hardware (which a resumed run compares) and its timings are its own, not the last test's."""
    import torch

    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture
def one_torch_thread():
    """Torch on one thread while a test runs (restored after), for modules that build real detectors: on a small
    machine shared with other processes, two spinning threads per process make every convolution crawl."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty current folder and ultralytics' ``weights_dir`` setting pointed at an empty folder: in memory for
    this process, and in a settings file under a temporary ``YOLO_CONFIG_DIR`` for zoo's worker processes (the
    user's own settings file is never touched)."""
    from zoo.plugins import load_plugins

    sys.modules[load_plugins().models["yolov8n"].cls.__module__].import_ultralytics()
    import ultralytics.utils

    cwd, weights, config = tmp_path / "cwd", tmp_path / "ultralytics-weights", tmp_path / "ultralytics-config"
    cwd.mkdir()
    (config / "Ultralytics").mkdir(parents=True)
    settings = {**ultralytics.utils.SETTINGS, "weights_dir": str(weights)}
    (config / "Ultralytics" / "settings.json").write_text(json.dumps(settings))  # $YOLO_CONFIG_DIR/Ultralytics/
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(config))
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(ultralytics.utils, "SETTINGS", settings)
    return cwd, weights


@pytest.fixture(scope="session")
def loopback():
    """One file server on 127.0.0.1 for the session, standing in for the internet (tests/loopback.py)."""
    from tests.loopback import Loopback

    server = Loopback()
    yield server
    server.close()


@pytest.fixture
def online(loopback, monkeypatch, tmp_path):
    """zoo online, with every download coming from the loopback server (as ZOO_WEIGHTS_MIRROR), a 2 s timeout, and
    an empty Hugging Face cache. The server starts each test empty."""
    loopback.reset()
    monkeypatch.delenv("ZOO_OFFLINE")
    monkeypatch.setenv("ZOO_WEIGHTS_MIRROR", loopback.url)
    monkeypatch.setenv("ZOO_FETCH_TIMEOUT", "2")
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    from zoo.fetch import http

    monkeypatch.setattr(http, "_unreachable", {})
    return loopback


@pytest.fixture
def shapes() -> Dataset:
    return load_dataset(SMALL_SHAPES)


def save_formats(dataset: Dataset, root: Path) -> dict[str, Path]:
    """Write ``dataset`` to disk as COCO, YOLO and Pascal VOC; return the path ``--data`` takes for each."""
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    for image in dataset.images:
        Image.fromarray(image.load()).save(images_dir / image.file_name)

    coco = root / "instances.json"
    coco.write_text(json.dumps(dataset.coco_ground_truth()))

    yolo = root / "yolo"
    (yolo / "images" / "val").mkdir(parents=True)
    (yolo / "labels" / "val").mkdir(parents=True)
    names = {c.id: c.name for c in dataset.categories}
    index = {c.id: i for i, c in enumerate(dataset.categories)}
    for image in dataset.images:
        Image.fromarray(image.load()).save(yolo / "images" / "val" / image.file_name)
        lines = []
        for (x1, y1, x2, y2), category in zip(image.boxes, image.category_ids):
            cx, cy = (x1 + x2) / 2 / image.width, (y1 + y2) / 2 / image.height
            w, h = (x2 - x1) / image.width, (y2 - y1) / image.height
            lines.append(f"{index[category]} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}")
        (yolo / "labels" / "val" / image.file_name).with_suffix(".txt").write_text("\n".join(lines))
    (yolo / "data.yaml").write_text(
        "path: .\nval: images/val\nnames:\n"
        + "".join(f"  {i}: {names[c.id]}\n" for i, c in enumerate(dataset.categories))
    )

    voc = root / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir(parents=True)
    for image in dataset.images:
        Image.fromarray(image.load()).save(voc / "JPEGImages" / image.file_name)
        objects = "".join(
            f"<object><name>{names[c]}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1:g}</xmin>"
            f"<ymin>{y1 + 1:g}</ymin><xmax>{x2:g}</xmax><ymax>{y2:g}</ymax></bndbox></object>"
            for (x1, y1, x2, y2), c in zip(image.boxes, image.category_ids)
        )
        xml = (
            f"<annotation><filename>{image.file_name}</filename><size><width>{image.width}</width>"
            f"<height>{image.height}</height><depth>3</depth></size>{objects}</annotation>"
        )
        (voc / "Annotations" / f"{Path(image.file_name).stem}.xml").write_text(xml)
    return {"coco": coco, "yolo": yolo / "data.yaml", "voc": voc}


def boxes_by_name(dataset: Dataset) -> list[list[tuple]]:
    """Each image's ground truth as sorted (category name, rounded box) pairs, to compare across formats."""
    names = dataset.category_names()
    return [
        sorted((names[int(c)], *np.round(box, 3)) for box, c in zip(image.boxes, image.category_ids))
        for image in dataset.images
    ]


def run_zoo(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def shapes_run(tmp_path_factory):
    """One run of the reference models and an untrained torchvision detector, shared by every test module."""
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(out / "empty-torch-home"))
        code, stdout, stderr = run_zoo(
            "run",
            "--models",
            "reference-blobs,centre-box,ssdlite320_mobilenet_v3_large",
            "--data",
            SMALL_SHAPES,
            "--out",
            str(out),
            *FAST,
        )
    assert code == 0, stderr
    return out
