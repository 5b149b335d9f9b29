"""A file whose publisher gives no digest (YOLO-World's ``yolov8s-worldv2.pt``): fetched like every other file through
a server on 127.0.0.1, its sha256 and size pinned in zoo's weights manifest at the first download, and every later
use, fetch and copy checked against that pin; the dry run, the fetch lines and the bundle's manifest say so."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from tests.conftest import run_zoo
from zoo.fetch import pins

WORLD = "yolov8s-worldv2"
CLIP = "openai/clip-vit-base-patch32"
FIRST, CHANGED = b"the file first served " * 64, b"another file, same URL " * 64


@pytest.fixture
def world(online, places):
    """The server with a stand-in yolov8s-worldv2.pt at its official URL and a stand-in CLIP repository (zoo only
    fetches and checks them here, nothing loads them); the URL and ultralytics' weights_dir."""
    url = sys.modules["zoo_plugin_ultralytics"].official_url(f"{WORLD}.pt")
    online.put(url, FIRST)
    names = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt")
    online.put_hub(CLIP, {name: b"{}" for name in (*names, "model.safetensors")}, "c" * 40)
    return url, places[1]


def _line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(start))


def test_the_first_fetch_pins_the_file_and_a_changed_file_is_refused_after(world, online):
    url, weights_dir = world
    code, stdout, _ = run_zoo("pull", "--models", WORLD, "--dry-run")
    assert code == 0 and online.gets() == []
    assert f"{WORLD}.pt: no published digest: trusted on first use" in stdout and "not pinned yet" in stdout

    code, _, stderr = run_zoo("pull", "--models", WORLD)
    assert code == 0, stderr
    assert (weights_dir / f"{WORLD}.pt").read_bytes() == FIRST
    record = json.loads(pins.location().read_text())["files"][url]
    assert (record["sha256"], record["size"]) == (hashlib.sha256(FIRST).hexdigest(), len(FIRST))
    assert record["origin"].startswith(f"downloaded from {online.url}/github.com/")
    assert "no published digest: trusted on first use; sha256 " in _line(stderr, f"zoo: warning: {WORLD}.pt:")
    code, stdout, _ = run_zoo("pull", "--models", WORLD, "--dry-run")
    assert f"sha256 {record['sha256'][:16]}… ({len(FIRST)} bytes), pinned " in stdout

    (weights_dir / f"{WORLD}.pt").write_bytes(CHANGED)  # replaced here: not loaded, and fetched again
    code, stdout, _ = run_zoo("weights")
    assert "pinned at its first use" in _line(stdout, f"{WORLD}: corrupt: ")
    assert run_zoo("pull", "--models", WORLD)[0] == 0 and (weights_dir / f"{WORLD}.pt").read_bytes() == FIRST

    online.put(url, CHANGED)  # changed at the source: a later fetch is refused, and nothing is left
    (weights_dir / f"{WORLD}.pt").unlink()
    code, _, stderr = run_zoo("pull", "--models", WORLD)
    assert code == 1 and "Traceback" not in stderr
    line = _line(stderr, f"zoo: warning: could not fetch {WORLD}.pt: ")
    assert "pinned at its first use" in line and "the download from http://127.0.0.1" in line
    assert list(weights_dir.iterdir()) == []


def test_a_bundle_records_the_pin_and_takes_no_changed_copy(world, online, tmp_path, monkeypatch):
    url, weights_dir = world
    assert run_zoo("pull", "--models", WORLD)[0] == 0
    bundle = tmp_path / "bundle"
    code, _, stderr = run_zoo("pull", "--models", WORLD, "--to", str(bundle))
    assert code == 0, stderr
    manifest = {item["file"]: item for item in json.loads((bundle / "manifest.json").read_text())["files"]}
    assert manifest[f"{WORLD}.pt"]["sha256"] == hashlib.sha256(FIRST).hexdigest()
    assert manifest[f"{WORLD}.pt"]["digest"].startswith("no published digest: trusted on first use (sha256 ")
    assert "Hugging Face Hub" in manifest["vocab.json"]["digest"]

    import zoo.cli.pull

    def bad_copy(file, source):  # a copy that does not come out as the file it was copied from
        file.path.parent.mkdir(parents=True, exist_ok=True)
        file.path.write_bytes(CHANGED)
        return file.path

    with monkeypatch.context() as patch:  # into a new bundle: only the pin can tell
        patch.setattr(zoo.cli.pull, "_copy", bad_copy)
        code, stdout, _ = run_zoo("pull", "--models", WORLD, "--to", str(tmp_path / "other"))
    row = _line(stdout, f"{WORLD}  {WORLD}.pt ")
    assert code == 1 and "failed: its copy from " in row and "pinned at its first use" in row
    assert not (tmp_path / "other" / "ultralytics" / f"{WORLD}.pt").exists()

    (bundle / "ultralytics" / f"{WORLD}.pt").unlink()

    (weights_dir / f"{WORLD}.pt").write_bytes(CHANGED)  # this machine's copy changed, and the source's too
    online.put(url, CHANGED)
    code, stdout, stderr = run_zoo("pull", "--models", WORLD, "--to", str(bundle))
    assert code == 1 and "Traceback" not in stderr
    assert "pinned at its first use" in _line(stderr, f"zoo: warning: could not fetch {WORLD}")
    assert not (bundle / "ultralytics" / f"{WORLD}.pt").exists()


def test_a_file_found_before_zoo_fetched_it_is_pinned_as_found(world, online):
    url, weights_dir = world
    weights_dir.mkdir(parents=True, exist_ok=True)
    (weights_dir / f"{WORLD}.pt").write_bytes(FIRST)
    code, _, stderr = run_zoo("pull", "--models", WORLD)
    assert code == 0, stderr
    assert online.gets(f"{WORLD}.pt") == []
    assert pins.pinned(url)["origin"] == f"found at {weights_dir / f'{WORLD}.pt'}, not fetched by zoo"
    assert "sha256 " in _line(stderr, f"zoo: note: {WORLD}.pt: no published digest")
