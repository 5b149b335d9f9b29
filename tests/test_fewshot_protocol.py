"""`zoo fewshot`: K-shot samples × seeds × models, each fine-tuned then scored on the whole test set; the CSVs, the
samples and the data-efficiency page; `zoo run --trained` on one sample's folder says shots and seed."""

from __future__ import annotations

import csv
import json

import pytest

from tests.test_run import FAST, run_zoo
from zoo.adapt.sampler import k_shot_ids
from zoo.data import load_dataset
from zoo.runfolder import read_results

TRAIN = "shapes:count=20,size=64x64,seed=21"
TEST = "shapes:count=4,size=64x64,seed=22"


@pytest.fixture(scope="module")
def fewshot(tmp_path_factory):
    out = tmp_path_factory.mktemp("fewshot")
    code, stdout, stderr = run_zoo("fewshot", "--models", "yolos-tiny,hog-people", "--data", TRAIN, "--test", TEST,
                                   "--shots", "1,2", "--seeds", "2", "--epochs", "1", "--imgsz", "64", "--out",
                                   str(out))  # fmt: skip
    return out, code, stdout, stderr


def test_fewshot_writes_a_row_per_model_k_and_seed_and_the_summary(fewshot):
    out, code, stdout, stderr = fewshot
    assert code == 0, stderr
    assert stdout.strip() == str(out / "fewshot.html")
    rows = list(csv.DictReader((out / "fewshot.csv").open()))
    ours = [(r["shots"], r["seed"]) for r in rows if r["model"] == "yolos-tiny"]
    assert ours == [("1", "0"), ("1", "1"), ("2", "0"), ("2", "1")]
    for row in rows:
        if row["model"] == "yolos-tiny":
            assert row["status"] == "ok" and row["map"] != "" and row["train_s"] != "" and row["from_scratch"] == "True"
        else:
            assert row["status"] == "unsupported" and row["map"] == "" and row["reason"]
    summary = {(r["model"], r["shots"]): r for r in csv.DictReader((out / "fewshot_summary.csv").open())}
    one = summary[("yolos-tiny", "1")]
    maps = [float(r["map"]) for r in rows if r["model"] == "yolos-tiny" and r["shots"] == "1"]
    assert float(one["map_mean"]) == pytest.approx(sum(maps) / 2) and one["seeds"] == "2"
    page = (out / "fewshot.html").read_text()
    assert "<svg" in page and "Data efficiency" in page and "From scratch" in page


def test_samples_json_holds_the_k_shot_rule_s_image_ids(fewshot):
    out = fewshot[0]
    samples = json.loads((out / "samples.json").read_text())["samples"]
    train = load_dataset(TRAIN)
    for k in (1, 2):
        for seed in (0, 1):
            assert samples[str(k)][str(seed)] == k_shot_ids(train, k, seed)
    manifest = json.loads((out / "train" / "2shot-s1" / "yolos-tiny" / "manifest.json").read_text())
    assert manifest["shots"] == 2 and manifest["settings"]["seed"] == 1
    assert manifest["dataset"]["images"] == len(samples["2"]["1"])


def test_a_fewshot_checkpoint_scored_by_zoo_run_says_shots_and_seed_and_matches_the_table(fewshot, tmp_path):
    out = fewshot[0]
    run = tmp_path / "run"
    code, _, stderr = run_zoo("run", "--models", "all", "--trained", str(out / "train" / "2shot-s1"), "--data", TEST,
                              "--out", str(run), "--no-isolation", "--speed-budget", "0", *FAST)  # fmt: skip
    assert code == 0, stderr
    (result,) = read_results(run).to_dict()["models"]
    assert result["id"] == "yolos-tiny-2shot-s1"
    assert result["trained_on"]["shots"] == 2 and result["trained_on"]["seed"] == 1
    rows = csv.DictReader((out / "fewshot.csv").open())
    row = next(r for r in rows if (r["model"], r["shots"], r["seed"]) == ("yolos-tiny", "2", "1"))
    assert result["accuracy"]["coco"]["map"] == pytest.approx(float(row["map"]), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shots", "1,x"], "--shots 1,x: give whole numbers"),
        (["--shots", "500"], "class 'circle' of shapes:count=20,size=64x64,seed=21 has only"),
        (["--seeds", "0"], "--seeds 0: give 1 or more"),
        (["--test", TRAIN], "also in --data"),
    ],
)
def test_bad_fewshot_input_is_one_line(args, message, tmp_path):
    base = {"--test": TEST, "--shots": "1", "--seeds": "1"}
    pairs = dict(zip(args[::2], args[1::2]))
    options = [item for key, value in {**base, **pairs}.items() for item in (key, value)]
    code, _, stderr = run_zoo("fewshot", "--models", "yolos-tiny", "--data", TRAIN, "--out", str(tmp_path), *options)
    assert code == 2 and message in stderr and stderr.count("\n") == 1
