"""Robustness (`zoo run --corruptions`): the corruptions behave as their definitions say, the same seed gives the
same pixels, mPC and rPC follow the benchmark's formula, the cache is reused, and a run gives the columns and the
report section."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest

from tests.conftest import FAST, SMALL_SHAPES, run_zoo
from zoo.data.corrupt import CORRUPTIONS, corrupt, parse_corruptions, parse_severities
from zoo.errors import ZooError
from zoo.metrics.robustness import CorruptionScore, Robustness, mean_performance, relative
from zoo.results import json_schema

pytest.importorskip("imagecorruptions", reason="zoo[robustness] is not installed")


def textured(size: int = 48) -> np.ndarray:
    """A mid-grey image with a soft gradient: room for noise both ways, and edges for the blurs."""
    ramp = np.linspace(80, 170, size)
    return np.repeat(np.add.outer(ramp, ramp)[:, :, None] / 2, 3, axis=2).astype(np.uint8)


def test_noise_variance_grows_with_severity():
    image = textured()
    spread = [np.std(corrupt(image, "gaussian_noise", s, seed=1).astype(float) - image) for s in range(1, 6)]
    assert all(a < b for a, b in zip(spread, spread[1:])), spread
    assert spread[0] > 5, "severity 1 is visible noise (sigma 0.08 of the range: about 20 grey levels)"


def test_brightness_raises_the_mean_with_severity_and_contrast_lowers_the_spread():
    image = textured()
    means = [corrupt(image, "brightness", s, seed=1).mean() for s in range(1, 6)]
    assert image.mean() < means[0] and all(a < b for a, b in zip(means, means[1:])), means
    spreads = [corrupt(image, "contrast", s, seed=1).std() for s in range(1, 6)]
    assert image.std() > spreads[0] and all(a > b for a, b in zip(spreads, spreads[1:])), spreads


@pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise", "glass_blur", "snow", "elastic_transform"])
def test_the_same_seed_gives_identical_images_and_another_seed_others(name):
    image = textured(40)
    first, again, other = (corrupt(image, name, 2, seed) for seed in (5, 5, 6))
    assert first.shape == image.shape and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_numpy_global_generator_is_left_as_it_was():
    np.random.seed(3)
    expected = np.random.random(3)
    np.random.seed(3)
    corrupt(textured(), "shot_noise", 3, seed=9)
    assert np.array_equal(np.random.random(3), expected)


def test_an_image_smaller_than_the_library_allows_is_padded_and_cropped_back():
    small = textured(48)[:20, :30]
    assert corrupt(small, "defocus_blur", 1, seed=0).shape == (20, 30, 3)


def test_mpc_is_the_mean_over_corruptions_of_the_mean_over_severities_and_rpc_its_share_of_clean():
    # Michaelis et al.: mPC = 1/Nc sum_c 1/Ns sum_s P_cs; rPC = mPC / P_clean
    aps = {"gaussian_noise": {"1": 0.4, "3": 0.2}, "brightness": {"1": 0.5, "3": 0.5}}
    value = Robustness(map_clean=0.5, iou_clean=0.8)
    value.scores = {n: {s: CorruptionScore(map=ap, mean_iou=ap + 0.2) for s, ap in by.items()} for n, by in aps.items()}
    value.summarise()
    assert value.mpc == pytest.approx((0.3 + 0.5) / 2)
    assert value.rpc == pytest.approx(0.4 / 0.5)
    assert value.iou_mpc == pytest.approx(0.6) and value.iou_rpc == pytest.approx(0.6 / 0.8)
    assert mean_performance({"fog": {"1": 0.3, "2": None}}) is None, "a missing pass is no mPC, not a flattering one"
    assert relative(0.2, 0.0) is None and relative(None, 0.5) is None


def test_corruption_and_severity_options_are_checked():
    assert parse_corruptions("all") == CORRUPTIONS
    assert parse_corruptions("brightness,jpeg,noise") == (
        "gaussian_noise", "shot_noise", "impulse_noise", "brightness", "jpeg_compression"
    )  # fmt: skip
    assert parse_severities("3,1") == (1, 3)
    with pytest.raises(ZooError, match="'blurry' is not a corruption"):
        parse_corruptions("blurry")
    with pytest.raises(ZooError, match="--severities 0,6: give severities between 1 and 5"):
        parse_severities("0,6")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--corruptions", "gaussian,blurry"], "'blurry' is not a corruption"),
        (["--corruptions", "noise", "--severities", "2,7"], "--severities 2,7: give severities between 1 and 5"),
        (["--corruptions", "noise", "--executor", "ray", "--shards", "2"], "--corruptions with --shards"),
    ],
)
def test_a_bad_robustness_option_is_one_line_and_exit_2_before_anything_is_written(tmp_path, extra, message):
    out = str(tmp_path / "r")
    code, _, err = run_zoo("run", "--models", "centre-box", "--data", SMALL_SHAPES, "--out", out, *extra)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def _run(out, models: str) -> str:
    code, printed, err = run_zoo("run", "--models", models, "--data", SMALL_SHAPES, "--out", str(out), *FAST,
                           "--corruptions", "gaussian_noise,brightness", "--severities", "1,3")  # fmt: skip
    assert code == 0, err
    return printed + err


def test_a_run_with_corruptions_gives_the_figures_the_columns_and_the_section_and_a_resumed_run_reuses_the_cache(
    tmp_path,
):
    out = tmp_path / "run"
    printed = _run(out, "reference-blobs")
    assert "reference-blobs: corrupted 4/4: brightness 3 (6)" in printed, "a progress line per pass"
    pngs = sorted((tmp_path / "zoo-home" / "corruptions").rglob("*.png"))
    assert len(pngs) == 6 * 2 * 2, "one per image, corruption and severity"
    stamps = {p: p.stat().st_mtime_ns for p in pngs}
    _run(out, "reference-blobs,centre-box")  # resumed: reference-blobs is kept, centre-box runs on the cached images
    assert {p: p.stat().st_mtime_ns for p in pngs} == stamps, "the cached images were not made again"

    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, json_schema())
    models = {m["id"]: m for m in results["models"]}
    blobs, centre = models["reference-blobs"]["robustness"], models["centre-box"]["robustness"]
    assert blobs["cache"] == {"made": 24, "reused": 0} and centre["cache"] == {"made": 0, "reused": 24}
    for value in (blobs, centre):
        assert value["corruptions"] == ["gaussian_noise", "brightness"] and value["severities"] == [1, 3]
        assert set(value["scores"]) == {"gaussian_noise", "brightness"}
        assert all(set(by) == {"1", "3"} for by in value["scores"].values())
        assert value["seed"] == 0 and value["library"]["package"] == "imagecorruptions-imaug"
    assert blobs["map_clean"] == models["reference-blobs"]["accuracy"]["coco"]["map"]
    assert 0 <= blobs["mpc"] <= 1 and blobs["rpc"] == pytest.approx(blobs["mpc"] / blobs["map_clean"])
    assert centre.get("mpc") is None and 0 <= centre["iou_mpc"] <= 1, "class-agnostic: IoU only"
    assert "robustness" not in models["reference-blobs"]["speed"], "speed stays the clean protocol's"

    board = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert board.loc["reference-blobs", "mpc"] == pytest.approx(blobs["mpc"], rel=1e-5)
    assert pd.isna(board.loc["centre-box", "mpc"]) and board.loc["centre-box", "iou_rpc"] > 0
    page = (out / "index.html").read_text()
    assert 'id="robustness"' in page and "mPC" in page and "gaussian_noise" in page
    assert page.count('data-chart="robustness-') == 2, "one chart per corruption group run: noise and weather"


def test_a_failing_corrupted_pass_leaves_mpc_missing_with_the_reason_and_the_clean_row_ok(tmp_path, monkeypatch):
    import zoo.robustness

    real = zoo.robustness._score

    def breaks_on_bright_images(model, dataset, corruption, *args):
        if corruption == ("brightness", 3):
            raise RuntimeError("the model broke on bright images")
        return real(model, dataset, corruption, *args)

    monkeypatch.setattr(zoo.robustness, "_score", breaks_on_bright_images)
    out = tmp_path / "run"
    corruptions = ["--corruptions", "gaussian_noise,brightness", "--severities", "1,3"]
    code, _, err = run_zoo("run", "--models", "centre-box", "--data", SMALL_SHAPES, "--out", str(out), *FAST,
                           "--no-isolation", *corruptions)  # fmt: skip
    assert code == 0, err
    model = json.loads((out / "results.json").read_text())["models"][0]
    assert model["status"] == "ok" and model["accuracy"]["localization"]["mean_iou"] is not None
    assert model["robustness"]["scores"]["brightness"]["3"] == {} and "iou_mpc" not in model["robustness"]
    assert "brightness at severity 3: RuntimeError: the model broke on bright images" in model["missing"]["robustness"]
    board = pd.read_csv(out / "leaderboard.csv")
    assert pd.isna(board.loc[0, "iou_mpc"]) and "robustness: brightness at severity 3" in board.loc[0, "reason"]
