"""Installed like any library: the wheel carries the plugins that ship with zoo and its catalogue, so a
non-editable install lists and runs the models from any folder (.ci/run also installs the wheel into a fresh
virtual environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = dist.glob("zoo-*.whl")
    return path


def test_the_wheel_carries_the_shipped_plugins_and_the_catalogue(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "zoo/_shipped/registry.yaml" in names
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "plugins").rglob("*.py")}
    assert {f"zoo/_shipped/{name}" for name in shipped} <= names, "every shipped plugin module"
    assert not [name for name in names if "__pycache__" in name]
    assert not [name for name in names if name.startswith(("tools/", "bench/")) or name == "zoo/catalogue.py"], (
        "maintainer scripts stay in the checkout"
    )


def test_installed_from_the_wheel_zoo_lists_and_runs_its_models_from_another_folder(wheel, tmp_path):
    """The wheel's zoo, first on the path (the test environment's other packages serve its dependencies), run
    from a folder that is not the checkout."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def zoo(*arguments: str) -> subprocess.CompletedProcess:
        args = list(arguments)
        code = f"import sys; sys.path.insert(0, {str(site)!r}); from zoo.cli import main; sys.exit(main({args!r}))"
        env = {**os.environ, "ZOO_OFFLINE": "1"}
        return subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)

    listed = zoo("models")
    assert listed.returncode == 0, listed.stderr
    assert "yolov8n" in listed.stdout and "reference-blobs" in listed.stdout and "warning" not in listed.stderr
    out = elsewhere / "run"
    ran = zoo("run", "--models", "reference-blobs,centre-box", "--data", "shapes:count=3,size=96x80,seed=2",
              "--out", str(out), "--warmup", "1", "--iters", "3", "--batch", "2", "--batch-calls", "1")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    results = json.loads((out / "results.json").read_text())
    assert {m["id"]: m["status"] for m in results["models"]} == {"reference-blobs": "ok", "centre-box": "ok"}
    assert results["context"]["zoo_commit"] is None, "an installed zoo is not a git checkout"
