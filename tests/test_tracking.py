"""``zoo track`` on ``moving-shapes``: the oracle, a detector that drops frames, MOT files, TrackEval agreement,
MOT17's distractor classes and duplicate copies, and broken sequences as one clear error."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.test_run import run_zoo
from zoo.plugins import load_plugins
from zoo.registry import Entry
from zoo.tracking import metrics
from zoo.tracking.protocol import score
from zoo.tracking.run import detector_row, oracle_row
from zoo.tracking.video import load_video, read_folder, read_mot, write_mot

pytest.importorskip("trackeval")
CALM = "moving-shapes:seqs=1,frames=24,objects=4,size=240x160,seed=3,occlusion=0"  # lanes: nothing overlaps
BUSY = "moving-shapes:seqs=2,frames=20,objects=5,size=200x160,seed=1"


@pytest.fixture(scope="module")
def calm(tmp_path_factory):
    return load_video(CALM, out=tmp_path_factory.mktemp("calm"))


@pytest.fixture(scope="module")
def blobs():
    plugins = load_plugins([])
    return plugins.models["reference-blobs"].cls


def _loaded(cls):
    model = cls()
    model.load("cpu")
    return model


def _scored(video, out: Path, *rows) -> dict:
    rows = list(rows)
    score(rows, video, out)
    return {row["id"]: row["metrics"]["combined"] for row in rows}


def test_moving_shapes_is_drawn_from_its_seed_with_exact_identities(tmp_path):
    first = load_video(BUSY, out=tmp_path / "a")
    again = load_video(BUSY, out=tmp_path / "b")
    assert first.fingerprint == again.fingerprint and len(first.sequences) == 2
    truth = first.sequences[0].ground_truth()
    starts = {int(i): int(truth.frames[truth.ids == i].min()) for i in np.unique(truth.ids)}
    assert min(starts.values()) == 1 and max(starts.values()) > 1  # some are there at once, some enter later
    assert truth.visibility.min() < 1  # something is hidden, by another shape or by the frame's edge
    assert first.sequences[0].objects == ("circle", "square", "triangle")
    other = load_video(BUSY.replace("seed=1", "seed=2"), out=tmp_path / "c")
    assert other.fingerprint != first.fingerprint


def test_the_oracle_is_perfect_but_for_bytetracks_confirmation_frames(calm, tmp_path):
    """Ground-truth boxes through ByteTrack on shapes that never overlap: exact boxes, no switch, no false track; the
    only misses are the first frames of objects that enter later (ByteTrack confirms a track on its second matched
    frame, and a shape entering as a sliver of a pixel overlaps its next box too little to be matched)."""
    row = oracle_row(calm, "bytetrack", tmp_path)
    numbers = _scored(calm, tmp_path, row)["oracle"]
    truth = calm.sequences[0].ground_truth()
    tracked = {(f, tuple(np.round(box, 6))) for f, _, box, _ in read_mot(tmp_path / row["files"]["shapes-01"])}
    first = {int(i): int(truth.frames[truth.ids == i].min()) for i in np.unique(truth.ids)}
    missed = [(int(f), int(i)) for f, i, box in zip(truth.frames, truth.ids, truth.boxes)
              if (f, tuple(np.round(box, 6))) not in tracked]  # fmt: skip
    assert missed and all(first[i] > 1 and f - first[i] < 3 for f, i in missed), missed
    assert numbers["idsw"] == 0 and numbers["fp"] == 0 and numbers["fn"] == len(missed)
    assert numbers["loca"] == pytest.approx(1.0)
    assert numbers["hota"] > 0.95 and numbers["assa"] > 0.95


def test_a_detector_that_drops_every_other_frame_loses_association(calm, blobs, tmp_path):
    """TrackEval's AssA counts an object's frames without its track as association misses: a detector blind on
    every other frame keeps its detection precision but loses about half its association."""

    class Dropping(blobs):
        calls = 0

        def postprocess(self, outputs, images):
            found = super().postprocess(outputs, images)
            Dropping.calls += 1
            return [type(d)(np.zeros((0, 4)), [], []) for d in found] if Dropping.calls % 2 else found

    quiet = lambda *args: None  # noqa: E731
    whole = detector_row(Entry("blobs", "reference-blobs"), _loaded(blobs), calm, "bytetrack", 0.1, tmp_path, quiet)
    half = detector_row(Entry("dropping", "dropping"), _loaded(Dropping), calm, "bytetrack", 0.1, tmp_path, quiet)
    numbers = _scored(calm, tmp_path, whole, half)
    assert numbers["blobs"]["assa"] > 0.8
    assert numbers["dropping"]["assa"] < 0.65 * numbers["blobs"]["assa"]
    assert numbers["dropping"]["hota"] < numbers["blobs"]["hota"]
    assert half["speed"]["fps"] > 0 and 0 < half["speed"]["tracker_share"] < 1


def test_mot_files_round_trip(tmp_path):
    rows = [(3, 7, np.array([1.25, 2.5, 40.125, 33.0]), 0.875), (1, 2, np.array([0.0, 0.0, 1e-3, 5.0]), 0.1)]
    path = tmp_path / "t" / "seq.txt"
    write_mot(path, rows)
    back = read_mot(path)
    assert [(f, i, s) for f, i, _, s in back] == [(1, 2, 0.1), (3, 7, 0.875)]
    np.testing.assert_array_equal(back[1][2], rows[0][2])
    np.testing.assert_allclose(back[0][2], rows[1][2], rtol=0, atol=1e-15)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("track")
    code, stdout, stderr = run_zoo("track", "--models", "reference-blobs", "--data", BUSY, "--out", str(out))
    assert code == 0, stderr
    return out, json.loads((out / "tracking.json").read_text())


def test_zoo_track_figures_equal_trackevals_own_evaluation_of_its_files(cli_run, tmp_path):
    """TrackEval run as its MOTChallenge script runs it (default configs, a seqmap), on the files zoo wrote."""
    import trackeval

    out, record = cli_run
    names = [s["name"] for s in record["data"]["sequences"]]
    seqmap = tmp_path / "seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{n}\n" for n in names))
    config = {**trackeval.Evaluator.get_default_eval_config(), "PRINT_RESULTS": False, "PLOT_CURVES": False}
    dataset = {**trackeval.datasets.MotChallenge2DBox.get_default_dataset_config(), "PRINT_CONFIG": False}
    dataset |= {"GT_FOLDER": record["data"]["root"], "TRACKERS_FOLDER": str(out / "trackers"),
                "OUTPUT_FOLDER": str(tmp_path / "own"), "SKIP_SPLIT_FOL": True, "SEQMAP_FILE": str(seqmap)}  # fmt: skip
    results, _ = trackeval.Evaluator(config).evaluate(
        [trackeval.datasets.MotChallenge2DBox(dataset)],
        [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()],
    )
    rows = {row["id"]: row for row in record["rows"]}
    assert set(rows) == {"oracle", "reference-blobs"}
    for row_id, row in rows.items():
        with open(tmp_path / "own" / row_id / "pedestrian_detailed.csv") as handle:
            table = {line["seq"]: line for line in csv.DictReader(handle)}
        for seq, numbers in row["metrics"].items():
            own = table["COMBINED" if seq == metrics.COMBINED else seq]
            for key, column in (("hota", "HOTA___AUC"), ("deta", "DetA___AUC"), ("assa", "AssA___AUC"),
                                ("mota", "MOTA"), ("idf1", "IDF1"), ("idsw", "IDSW"), ("fp", "CLR_FP")):  # fmt: skip
                assert numbers[key] == pytest.approx(float(own[column]), abs=1e-12), (row_id, seq, key)
    assert rows["oracle"]["metrics"]["combined"]["hota"] > rows["reference-blobs"]["metrics"]["combined"]["hota"]


def test_a_second_run_into_the_folder_keeps_the_rows_it_has(cli_run):
    out, record = cli_run
    code, _, stderr = run_zoo("track", "--models", "reference-blobs", "--data", BUSY, "--out", str(out))
    assert code == 0 and "done reference-blobs (earlier in this run folder" in stderr
    again = json.loads((out / "tracking.json").read_text())
    assert [r["metrics"] for r in again["rows"]] == [r["metrics"] for r in record["rows"]]


def test_the_run_folder_has_the_leaderboard_page_and_tracks(cli_run):
    out, record = cli_run
    with open(out / "leaderboard.csv") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["id"] for line in lines] == ["oracle", "reference-blobs"]  # by HOTA
    assert lines[0]["fps"] == "" and float(lines[1]["fps"]) > 0  # the oracle has no detector to time
    page = (out / "index.html").read_text()
    assert "ground truth → tracker" in page and "HOTA against time per frame" in page
    assert all((out / f).is_file() for f in record["rows"][1]["files"].values())
    for strip in (out / "strips").glob("*.png"):
        assert strip.name in page
    (out / "index.html").unlink()
    code, stdout, _ = run_zoo("report", str(out))  # zoo report rebuilds a track folder's page
    assert code == 0 and stdout.strip() == str(out / "index.html") and (out / "index.html").read_text() == page


def test_mot17_distractors_are_handled_by_trackevals_preprocessing(calm, blobs, tmp_path):
    """An object marked a static person (class 7, a distractor): the detector's track on it is removed before
    scoring, not counted a false positive — as when the object is simply absent from the ground truth it is."""
    source = calm.sequences[0].folder
    quiet = lambda *args: None  # noqa: E731
    counts = {}
    for variant in ("distractor", "absent"):
        root = tmp_path / variant
        shutil.copytree(source, root / source.name)
        gt = root / source.name / "gt" / "gt.txt"
        lines = gt.read_text().splitlines()
        if variant == "distractor":
            cells = [line.split(",") for line in lines]
            lines = [",".join(c[:7] + ["7"] + c[8:]) if c[1] == "1" else ",".join(c) for c in cells]
        else:
            lines = [line for line in lines if line.split(",")[1] != "1"]
        gt.write_text("\n".join(lines) + "\n")
        video = read_folder(root, variant)
        row = detector_row(Entry("blobs", "reference-blobs"), _loaded(blobs), video, "bytetrack", 0.1, root, quiet)
        counts[variant] = _scored(video, root, row)["blobs"]
    assert counts["distractor"]["gt_ids"] == counts["absent"]["gt_ids"]
    assert counts["distractor"]["fp"] < counts["absent"]["fp"]


def test_mot17s_three_copies_of_a_sequence_count_once(calm, tmp_path):
    for copy in ("DPM", "FRCNN", "SDP"):
        shutil.copytree(calm.sequences[0].folder, tmp_path / f"MOT17-02-{copy}")
    video = read_folder(tmp_path, "MOT17/train")
    assert [s.name for s in video.sequences] == ["MOT17-02-FRCNN"]
    assert "duplicate MOT17 copies" in video.notes[0]


def _broken(calm, tmp_path, how: str) -> Path:
    folder = tmp_path / "seqs" / "broken"
    shutil.copytree(calm.sequences[0].folder, folder)
    if how == "missing frame":
        (folder / "img1" / "000005.jpg").unlink()
    else:
        gt = folder / "gt" / "gt.txt"
        lines = gt.read_text().splitlines()
        cells = lines[2].split(",")
        if how == "bad class":
            cells[7] = "-1"
        else:
            cells[1] = {"bad id": "1.5", "duplicate id": lines[1].split(",")[1]}[how]
        cells[0] = lines[1].split(",")[0] if how == "duplicate id" else cells[0]
        gt.write_text("\n".join(lines[:2] + [",".join(cells)] + lines[3:]) + "\n")
    return folder.parent


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing frame", "1 of its 24 frames missing (first: "),
        ("bad id", "gt.txt:3: id 1.5 is not a whole number of 1 or more; fix that line"),
        ("duplicate id", "gt.txt:3: id "),
        ("bad class", "gt.txt:3: class -1 is not one of MOTChallenge's classes 1..13"),
    ],
)
def test_a_broken_sequence_is_one_clear_error(calm, tmp_path, how, message):
    folder = _broken(calm, tmp_path, how)
    code, _, stderr = run_zoo("track", "--models", "reference-blobs", "--data", str(folder), "--out", str(tmp_path))
    assert code == 2 and stderr.startswith("zoo: error: --data ") and message in stderr, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_a_detector_that_crashes_costs_its_row_only(tmp_path):
    """Each detector in its own worker, as in zoo run: a segfault is a failed row with the cause and the log's tail,
    and the good detector beside it is scored."""
    registry = tmp_path / "registry.yaml"
    registry.write_text("models:\n  reference-blobs: {}\n  crash:\n    model: faulty\n    options: {fault: segfault}\n")
    plugins = Path(__file__).parent / "fault_plugins"
    args = ("track", "--registry", str(registry), "--plugins-dir", str(plugins), "--models", "all", "--out")
    code, _, stderr = run_zoo(*args, str(tmp_path / "o"), "--data", "moving-shapes:seqs=1,frames=6")
    rows = {r["id"]: r for r in json.loads((tmp_path / "o" / "tracking.json").read_text())["rows"]}
    assert code == 1 and "1 row(s) failed: crash" in stderr
    assert rows["crash"]["status"] == "failed" and "the worker crashed (SIGSEGV)" in rows["crash"]["reason"]
    assert "Segmentation fault" in rows["crash"]["reason"] and (tmp_path / "o" / "logs" / "crash.log").is_file()
    assert rows["reference-blobs"]["status"] == "ok" and rows["reference-blobs"]["metrics"]["combined"]["hota"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "moving-shapes:speed=3"], "bad option 'speed=3'; use moving-shapes:"),
        (["--data", "/no/such/video"], "--data /no/such/video: no such folder"),
        (["--conf", "1.5"], "--conf 1.5: give a score threshold between 0 and 1"),
    ],
)
def test_bad_track_options_are_one_line(tmp_path, args, message):
    code, _, stderr = run_zoo("track", "--models", "reference-blobs", *args, "--out", str(tmp_path))
    assert code == 2 and message in stderr and stderr.count("\n") == 1, stderr
