"""Named benchmarks on first use — fetched from a server on 127.0.0.1 standing in for cocodataset.org and
host.robots.ox.ac.uk (miniature archives with the official names and layout, tests/minidata.py), checked, unpacked,
cached, bundled, refused when wrong, never fetched offline — and the reproduction check: measured AP beside the
published one, the gap flagged with its likely causes, VOC scored through the alias table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.loopback import Behaviour
from tests.minidata import COCO_91, as_official, coco_archives, serve, voc_archive
from tests.test_run import FAST, run_zoo
from zoo.data import load_dataset
from zoo.labels import ALIASES, normalise
from zoo.runfolder import read_results

ORACLE = '''
import json
import numpy as np
import zoo

class Oracle(zoo.Model):
    """Knows the answer: returns the ground truth of each image it was given (found by the image's pixels), under
    COCO's class names, with scores that fall with each box's index."""
    name = "oracle"
    family = "test"
    framework = "numpy"

    def __init__(self, *, weights=None, truth="", only=""):
        super().__init__(weights=weights)
        self.truth, self.only = truth, only

    def load(self, device):
        data = json.loads(open(self.truth).read())
        self.boxes, self.labels = data["images"], [self.only] if self.only else data["labels"]

    def forward(self, batch):
        return [self.boxes.get(f"{i.shape[0]}x{i.shape[1]}:{int(i.sum())}", []) for i in batch]

    def postprocess(self, outputs, images):
        results = []
        for found in outputs:
            found = [(box, name) for box, name in found if not self.only or name == self.only]
            boxes = np.array([box for box, _ in found], dtype=float).reshape(-1, 4)
            scores = [1.0 - 0.01 * n for n in range(len(found))]
            results.append(zoo.Detections(boxes, scores, [self.labels.index(name) for _, name in found]))
        return results

    def info(self):
        return zoo.ModelInfo(input_size="as given", settings={"conf": 0.0})

@zoo.hookimpl
def register_models(register):
    register(Oracle)
'''
COCO_NAMES = [name for name in COCO_91 if name not in ("__background__", "N/A")]


@pytest.fixture(scope="module")
def archives() -> dict[str, bytes]:
    sample = load_dataset("sample")
    return {**coco_archives(sample), **voc_archive(sample)}


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "zoo-home"  # conftest's isolated_env


@pytest.fixture
def served(online, archives, home, monkeypatch):
    """The miniature archives on the loopback server, recorded as the official ones (8 COCO images, 7 VOC)."""
    as_official(monkeypatch, archives, images={"coco-val2017": 8, "voc2007-test": 7})
    serve(online, archives)
    return online


def oracle(tmp_path: Path, benchmark: str, published: float | None = None, only: str = "") -> list[str]:
    """A plugins folder and a registry with the oracle for ``benchmark`` (already on this machine), with a
    fabricated published AP; the arguments that select it."""
    dataset = load_dataset(benchmark)
    truth = {}
    for image in dataset.images:
        pixels = image.load()
        names = dataset.category_names()
        coco = [ALIASES.get(normalise(names[int(c)]), normalise(names[int(c)])) for c in image.category_ids]
        truth[f"{pixels.shape[0]}x{pixels.shape[1]}:{int(pixels.sum())}"] = list(zip(image.boxes.tolist(), coco))
    (tmp_path / "truth.json").write_text(json.dumps({"images": truth, "labels": COCO_NAMES}))
    (tmp_path / "plugins").mkdir(exist_ok=True)
    (tmp_path / "plugins" / "oracle.py").write_text(ORACLE)
    options = f"{{truth: '{tmp_path / 'truth.json'}', only: '{only}'}}"
    protocol = "{input_size: 640x640}"
    number = (
        f"{{box_ap: {published}, split: coco-val2017, source: fabricated for a test, protocol: {protocol}}}"
        if published is not None
        else "{box_ap: null, reason: an oracle has no paper}"
    )
    registry = tmp_path / "registry.yaml"
    registry.write_text(f"models:\n  oracle:\n    options: {options}\n    published: {number}\n")
    return ["--registry", str(registry), "--plugins-dir", str(tmp_path / "plugins"), "--models", "oracle"]


# -- fetched on first use ------------------------------------------------------------------------------------------


def test_first_use_fetches_checks_unpacks_and_caches_the_benchmark(served, archives, home, tmp_path):
    images = "/images.cocodataset.org/zips/val2017.zip"
    served.behaviours[images] = Behaviour(cut_after=len(archives["val2017.zip"]) // 3)  # resumed with a Range
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run", "--models", "centre-box", "--data", "coco-val2017", "--limit", "3", "--out", str(out), *FAST
    )
    assert code == 0, stderr
    assert "fetching coco-val2017" in stderr and "fetched val2017.zip" in stderr and "unpacked coco-val2017" in stderr
    folder = home / "data" / "coco-val2017"
    assert sorted(p.name for p in (folder / "annotations").iterdir()) == ["instances_val2017.json"]
    assert len(list((folder / "val2017").glob("*.jpg"))) == 8
    assert not list((home / "data" / ".downloads").iterdir()), "the archives are deleted once unpacked"
    assert not list((home / "data").glob(".*.zoo-part")), "no part folder is left"
    assert [r for _, path, r in served.gets(images)][1].startswith("bytes="), "the cut transfer resumed"

    dataset = read_results(out).to_dict()["context"]["dataset"]
    assert dataset["name"] == "coco-val2017" and dataset["images"] == 3
    assert dataset["benchmark"]["subset"] == "the first 3 image ids of 8"
    assert dataset["benchmark"]["licence"].startswith("annotations CC-BY-4.0")
    ids = sorted(json.loads((out / "ground_truth.json").read_text())["images"], key=lambda i: i["id"])
    assert [image["id"] for image in ids] == [1, 2, 3], "the smallest ids, though the file lists them in reverse"

    served.requests.clear()  # cached: the next run asks nothing of the network
    code, _, stderr = run_zoo("run", "--models", "centre-box", "--data", "coco-val2017", "--out", str(out / "b"), *FAST)
    assert code == 0 and served.gets() == [], stderr

    (folder / "val2017" / "000000000002.jpg").unlink()  # a file lost since: noticed, fetched again
    code, _, stderr = run_zoo("run", "--models", "centre-box", "--data", "coco-val2017", "--out", str(out / "c"), *FAST)
    assert code == 0 and (folder / "val2017" / "000000000002.jpg").is_file(), stderr
    assert [path for _, path, _ in served.gets()] == [
        images,
        "/images.cocodataset.org/annotations/annotations_trainval2017.zip",
    ]


def test_a_corrupted_archive_is_refused_and_nothing_is_unpacked(served, archives, home, tmp_path):
    tampered = bytearray(archives["val2017.zip"])
    tampered[len(tampered) // 2] ^= 0xFF
    served.put("http://images.cocodataset.org/zips/val2017.zip", bytes(tampered))
    code, _, stderr = run_zoo("run", "--data", "coco-val2017", "--out", str(tmp_path / "run"), *FAST)
    assert code != 0
    assert "zoo: error: --data coco-val2017: could not fetch val2017.zip: sha256 " in stderr
    assert "does not match the recorded sha256" in stderr and "was discarded" in stderr and "Traceback" not in stderr
    assert not (home / "data" / "coco-val2017").exists()
    assert not [p for p in (home / "data" / ".downloads").iterdir() if p.name.startswith(".val2017")]


def test_offline_a_missing_benchmark_is_one_line_naming_files_sizes_place_and_pull_command(home, tmp_path):
    code, _, stderr = run_zoo("run", "--data", "coco-val2017", "--offline", "--out", str(tmp_path / "run"))
    assert code != 0 and len(stderr.strip().splitlines()) == 1, stderr
    assert "val2017.zip (778 MiB) and annotations_trainval2017.zip (241 MiB)" in stderr
    assert str(home / "data" / "coco-val2017") in stderr and "`zoo pull --data coco-val2017`" in stderr


def test_pull_fetches_ahead_and_a_bundle_carries_the_benchmark_to_a_machine_without_network(
    served, home, tmp_path, monkeypatch
):
    code, stdout, stderr = run_zoo("pull", "--data", "voc2007-test", "--dry-run")
    assert code == 0 and "VOCtest_06-Nov-2007.tar" in stdout and "missing" in stdout, stderr
    code, _, stderr = run_zoo("pull", "--data", "voc2007-test")
    assert code == 0 and "fetched VOCtest_06-Nov-2007.tar" in stderr, stderr
    assert not (home / "data" / "voc2007-test" / "VOCdevkit" / "VOC2007" / "SegmentationClass").exists()

    served.requests.clear()
    bundle = tmp_path / "bundle"
    code, _, stderr = run_zoo("pull", "--data", "voc2007-test", "--to", str(bundle))
    assert code == 0 and served.gets() == [] and "copied voc2007-test" in stderr, stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [(d["name"], d["path"]) for d in manifest["datasets"]] == [("voc2007-test", "data/voc2007-test")]

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "empty-home"))  # the other machine: nothing cached, no network
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run", "--models", "centre-box", "--data", "voc2007-test", "--offline", "--weights-dir", str(bundle),
        "--out", str(out), *FAST,
    )  # fmt: skip
    assert code == 0, stderr
    assert read_results(out).to_dict()["context"]["dataset"]["images"] == 7


# -- the reproduction check ----------------------------------------------------------------------------------------


def test_the_gap_to_the_published_ap_is_computed_and_flagged_with_its_likely_causes(served, tmp_path):
    assert run_zoo("pull", "--data", "coco-val2017")[0] == 0
    out = tmp_path / "run"
    selection = oracle(tmp_path, "coco-val2017", published=0.5)
    code, _, stderr = run_zoo(*("run", *selection, "--data", "coco-val2017", "--limit", "5", "--out", str(out), *FAST))
    assert code == 0, stderr
    (result,) = read_results(out).to_dict()["models"]
    assert result["accuracy"]["coco"]["map"] == pytest.approx(1.0)
    check = result["reproduction"]
    assert check["published"] == 0.5 and check["gap"] == pytest.approx(0.5)
    assert check["flagged"] and check["indicative"] and check["images"] == 5
    assert "a subset: 5 of 8 images, so the gap is indicative only" in check["causes"]
    assert "input size as given, where the published protocol uses 640x640" in check["causes"]

    row = pd.read_csv(out / "leaderboard.csv").iloc[0]
    assert row["published_map"] == 0.5 and row["ap_gap"] == pytest.approx(0.5)
    assert row["reproduction"].startswith("gap over 1 AP point (indicative: 5 images); likely causes: input size")
    assert "gap over 1 AP point" in stderr, "the closing table shows the check"
    page = (out / "index.html").read_text()
    assert "+50.0" in page and "flag-mark" in page and "gap over 1 AP point (indicative: 5 images)" in page
    assert "cite: Lin et al., Microsoft COCO" in page
    assert "0.500 on coco-val2017 (fabricated for a test; protocol: input_size: 640x640)" in page, "model details"
    assert "measured 1.000, +50.0 points: gap over 1 AP point; likely causes: a subset: 5 of 8 images" in page

    code, _, _ = run_zoo(*("run", *oracle(tmp_path, "coco-val2017", published=0.995), "--data", "coco-val2017"),
                         "--out", str(tmp_path / "close"), *FAST)  # fmt: skip
    (result,) = read_results(tmp_path / "close").to_dict()["models"]
    assert result["reproduction"]["gap"] == pytest.approx(0.005) and not result["reproduction"]["flagged"]
    assert not result["reproduction"]["indicative"], "the whole (miniature) split"


def test_a_coco_label_model_is_scored_on_voc_through_the_aliases_on_the_classes_it_covers(served, tmp_path):
    assert run_zoo("pull", "--data", "voc2007-test")[0] == 0
    out = tmp_path / "run"
    code, _, stderr = run_zoo(*("run", *oracle(tmp_path, "voc2007-test"), "--data", "voc2007-test", "--out", str(out)),
                              *FAST)  # fmt: skip
    assert code == 0, stderr
    (result,) = read_results(out).to_dict()["models"]
    assert result["labels"]["mapped"]["motorcycle"] == "motorbike", "COCO's name joined to VOC's through the alias"
    assert sorted(result["labels"]["covered"]) == ["bicycle", "bus", "cat", "motorbike", "person"]
    assert result["accuracy"]["coco"]["map"] == pytest.approx(1.0)
    assert result["reproduction"] is None, "a COCO number is not compared on VOC"

    code, _, stderr = run_zoo(*("run", *oracle(tmp_path, "voc2007-test", only="person"), "--data", "voc2007-test"),
                              "--out", str(tmp_path / "person"), *FAST)  # fmt: skip
    (result,) = read_results(tmp_path / "person").to_dict()["models"]
    assert result["labels"]["covered"] == ["person"] and result["accuracy"]["coco"]["categories"] == 1
    assert result["accuracy"]["coco"]["map"] == pytest.approx(1.0), "AP over the one class it covers, not 1/5 of it"


# -- MOT17 for zoo track: no published checksum, so checked as far as it can be and pinned ----------------------

MOT17_URL = "https://motchallenge.net/data/MOT17.zip"


def mot17_zip(seed: int = 0, leave_out: str = "") -> bytes:
    """A miniature MOT17.zip in the official layout: the 7 train sequences in their three copies (DPM, FRCNN, SDP:
    zoo keeps FRCNN's), a test sequence (not kept), 3 frames of 64x48 each, one pedestrian walking right."""
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    from zoo.data.benchmarks import MOT17_TRAIN

    buffer = io.BytesIO()
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(buffer, "w") as archive:
        for split, sequences in (("train", MOT17_TRAIN), ("test", ("MOT17-01",))):
            for sequence in sequences:
                for copy in ("DPM", "FRCNN", "SDP"):
                    name = f"{sequence}-{copy}"
                    if name == leave_out:
                        continue
                    folder = f"MOT17/{split}/{name}"
                    archive.writestr(f"{folder}/seqinfo.ini", f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\n"
                                     "seqLength=3\nimWidth=64\nimHeight=48\nimExt=.jpg\n")  # fmt: skip
                    for frame in (1, 2, 3):
                        image = io.BytesIO()
                        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(image, format="JPEG")
                        archive.writestr(f"{folder}/img1/{frame:06d}.jpg", image.getvalue())
                    if split == "train":
                        gt = "".join(f"{f},1,{8 * f},10,12,30,1,1,1.0\n" for f in (1, 2, 3))
                        archive.writestr(f"{folder}/gt/gt.txt", gt)
    return buffer.getvalue()


def test_mot17_is_fetched_on_first_use_checked_pinned_and_tracked(online, home, tmp_path):
    pytest.importorskip("trackeval")
    import hashlib

    archive = mot17_zip()
    online.put(MOT17_URL, archive)
    out = tmp_path / "track"
    code, _, stderr = run_zoo("track", "--models", "centre-box", "--data", "mot17", "--threads", "1", "--out", str(out))
    assert code == 0, stderr
    said = " ".join(stderr.split())
    assert said.index("licence: CC BY-NC-SA 3.0") < said.index("fetched MOT17.zip"), "the licence before the download"
    assert "checks: no published checksum or size" in said and "unpacked mot17" in said
    train = home / "data" / "mot17" / "MOT17" / "train"
    assert sorted(p.name for p in train.iterdir()) == [f"MOT17-{n}-FRCNN" for n in ("02", "04", "05", "09", "10",
                                                                                     "11", "13")]  # fmt: skip
    assert not (home / "data" / "mot17" / "MOT17" / "test").exists()
    pins = json.loads((home / "pins.json").read_text())["files"]  # zoo's one pin store, with the weights' pins
    assert pins[MOT17_URL]["sha256"] == hashlib.sha256(archive).hexdigest() and pins[MOT17_URL]["size"] == len(archive)
    record = json.loads((out / "tracking.json").read_text())
    assert record["data"]["benchmark"]["licence"].startswith("CC BY-NC-SA 3.0") and record["data"]["frames"] == 21
    assert {row["id"]: row["status"] for row in record["rows"]} == {"oracle": "ok", "centre-box": "ok"}

    shutil.rmtree(home / "data" / "mot17")  # a later download: checked against the pinned digest
    online.put(MOT17_URL, mot17_zip(seed=1))  # as valid a zip, but not the file first downloaded
    code, _, stderr = run_zoo("pull", "--data", "mot17")
    assert code == 1 and "Traceback" not in stderr, stderr
    line = next(line for line in stderr.splitlines() if line.startswith("zoo: error:"))
    assert line.startswith("zoo: error: --data mot17: could not fetch MOT17.zip: sha256 ") and "discarded" in line
    assert "checked against the sha256 pinned at its first download" in line, line
    assert not (home / "data" / "mot17").exists()
    online.put(MOT17_URL, archive)  # the pinned file again: accepted
    code, _, stderr = run_zoo("pull", "--data", "mot17")
    assert code == 0 and "mot17: ready at" in stderr, stderr


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "zoo: error: --data mot17: the archive could not be unpacked ("),
        ("a sequence missing", "MOT17/train/MOT17-13-FRCNN/seqinfo.ini is not in it"),
    ],
)
def test_a_broken_mot17_download_is_one_line_and_nothing_is_kept_or_pinned(online, home, how, message):
    archive = mot17_zip(leave_out="MOT17-13-FRCNN" if how == "a sequence missing" else "")
    online.put(MOT17_URL, archive[: len(archive) // 2] if how == "truncated" else archive)
    code, _, stderr = run_zoo("pull", "--data", "mot17")
    errors = [line for line in stderr.splitlines() if line.startswith("zoo: error:")]
    assert code == 1 and len(errors) == 1 and message in errors[0] and "Traceback" not in stderr, stderr
    assert not (home / "data" / "mot17").exists() and not (home / "pins.json").exists()


def test_offline_mot17_is_one_line_naming_the_archive_and_the_pull_command(home, tmp_path):
    code, _, stderr = run_zoo("track", "--data", "mot17", "--offline", "--out", str(tmp_path / "out"))
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert "MOT17.zip (about 5500 MiB, size not published)" in stderr and "`zoo pull --data mot17`" in stderr
    code, _, stderr = run_zoo("run", "--data", "mot17", "--out", str(tmp_path / "run"))
    assert code == 2 and "a tracking benchmark (video sequences); use it with `zoo track --data mot17`" in stderr
