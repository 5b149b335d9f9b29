"""The reproduction check's rules, on fabricated results: which published number applies, when a gap is computed,
and each cause zoo names for a gap."""

from __future__ import annotations

import dataclasses

import pytest

from zoo import reproduction
from zoo.data import DatasetIssues, load_dataset
from zoo.data.benchmarks import BENCHMARKS
from zoo.registry import Entry
from zoo.results import ModelResult

PUBLISHED = {"box_ap": 0.37, "split": "coco-val2017", "source": "a table", "protocol": {"input_size": "640x640"}}


def coco_like(images: int = 8, of: int = 8, skipped: int = 0):
    """The sample, dressed as a benchmark run: COCO val2017 with ``images`` of ``of`` images scored."""
    dataset = load_dataset("sample", limit=images)
    issues = DatasetIssues()
    for n in range(skipped):
        issues.add("images that could not be decoded skipped", f"bad-{n}.jpg")
    benchmark = dataclasses.replace(BENCHMARKS["coco-val2017"], images=of).describe(images if images < of else None)
    return dataclasses.replace(dataset, benchmark=benchmark, issues=issues)


def result(ap: float = 0.30, **changes) -> ModelResult:
    base = {
        "status": "ok",
        "untrained": False,
        "accuracy": {"coco": {"map": ap}},
        "labels": {"covered": [c.name for c in coco_like().categories], "dropped": {}},
        "info": {"input_size": "640x640", "settings": {"conf": 0.001}},
        "published": PUBLISHED,
    }
    return ModelResult.from_dict({**base, **changes})


def test_the_catalogue_number_applies_to_the_entrys_own_weights_only():
    entry = Entry(id="m", model="m", published=PUBLISHED)
    assert reproduction.published(entry, None, result())["box_ap"] == 0.37
    assert reproduction.published(entry, "my-finetune.pt", result()) is None, "other weights: not their number"
    assert reproduction.published(entry, None, result(untrained=True)) is None
    from_plugin = result(info={"published_map": 0.5, "published_source": "the plugin"})
    assert reproduction.published(Entry(id="m", model="m"), None, from_plugin) == {
        "box_ap": 0.5,
        "split": "coco-val2017",
        "source": "the plugin",
    }


def test_a_gap_is_computed_only_on_the_benchmark_the_number_is_published_for():
    assert reproduction.check(result(), load_dataset("sample")) is None, "not a benchmark"
    voc = dataclasses.replace(coco_like(), benchmark=BENCHMARKS["voc2007-test"].describe(None))
    assert reproduction.check(result(), voc) is None, "a COCO number is not compared on VOC"
    check = reproduction.check(result(ap=0.365), coco_like())
    assert check["gap"] == pytest.approx(-0.005) and not check["flagged"] and not check["indicative"]
    assert check["causes"] == []


@pytest.mark.parametrize(
    ("changes", "dataset", "cause"),
    [
        ({}, coco_like(images=5, of=5000), "a subset: 5 of 5000 images, so the gap is indicative only"),
        ({}, coco_like(skipped=2), "2 image(s) of the benchmark could not be read and were skipped"),
        (
            {"labels": {"covered": ["person"], "dropped": {}}},
            coco_like(),
            "the model's labels cover 1 of the 9 categories (AP is over those 1)",
        ),
        (
            {"labels": {"covered": [c.name for c in coco_like().categories], "dropped": {"kite": 12, "N/A": 3}}},
            coco_like(),
            "15 predictions had labels that are no category of the benchmark (kite, N/A)",
        ),
        (
            {"info": {"input_size": "shorter side 512", "settings": {}}},
            coco_like(),
            "input size shorter side 512, where the published protocol uses 640x640",
        ),
        (
            {"published": {**PUBLISHED, "protocol": {"conf": 0.001}}, "info": {"settings": {"conf": 0.25}}},
            coco_like(),
            "conf 0.25, where the published protocol uses 0.001",
        ),
    ],
)
def test_each_cause_zoo_can_see_is_named(changes, dataset, cause):
    check = reproduction.check(result(**changes), dataset)
    assert check["flagged"] and cause in check["causes"]
