"""The typed result: results.json round-trips through it unchanged, a run folder written by the previous release
(tests/fixtures/run-0.1.0, zoo 0.1.0) still loads in ``zoo report``, the shipped JSON Schema is the one the classes
give and every results.json validates against it, and the same selection run today measures what 0.1.0 measured."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from tests.conftest import run_zoo
from zoo.results import SCHEMA_VERSION, ModelResult, RunResults, Status, json_schema
from zoo.runfolder import read_results

OLD = Path(__file__).parent / "fixtures" / "run-0.1.0"
SCHEMA = Path(__file__).parent.parent / "zoo" / "results.schema.json"

# what depends on the clock or the machine's load: never compared
TIMING_FIELDS = {"speed", "first_call_s", "load_s", "phases_s", "in_model_s", "finished", "memory", "host", "fetch"}
TIMING_MISSING = {"throughput_batch"}  # its reason quotes the seconds a batch would take
TIMING_COLUMNS = {
    "latency_ms_p50", "latency_ms_p95", "images_per_s", "preprocess_ms_p50", "inference_ms_p50", "postprocess_ms_p50",
    "latency_ms_ci_low", "latency_ms_ci_high", "latency_ci_halfwidth", "speed_precise", "images_per_s_batch",
    "load_s", "first_call_ms", "batch_size", "gflops_per_s", "peak_share", "memory_mb", "timed_on", "reason",
}  # fmt: skip


# deliberate changes since 0.1.0, applied to its records before comparing: a missing class-aware AP's reason says
# "no class shared with the dataset" (issue 20); torchvision states no licence for its weights (issue 25)
REWORDED = {
    "none of the model's classes is a dataset category": "no class shared with the dataset: none of the model's "
    "classes is a dataset category"
}
RELICENSED = {"ssdlite320_mobilenet_v3_large": "not stated by the publisher"}


def _as_today(model: dict) -> dict:
    missing = {key: REWORDED.get(why, why) for key, why in model.get("missing", {}).items()}
    return {**model, "missing": missing, "licence": RELICENSED.get(model["id"], model.get("licence"))}


def _without_nulls(value):
    """A record as its meaning: a null field and an absent one are the same (not measured)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _comparable(model: dict) -> dict:
    """The non-timing fields; the machine's torch cache folder (named in a no-weights reason) made neutral."""
    kept = {key: value for key, value in model.items() if key not in TIMING_FIELDS}
    kept["reason"] = re.sub(r"\S+/hub/checkpoints", "TORCH_HOME/hub/checkpoints", model.get("reason", ""))
    kept["missing"] = {key: why for key, why in model.get("missing", {}).items() if key not in TIMING_MISSING}
    return _without_nulls(kept)


def test_results_json_round_trips_through_the_typed_result_unchanged():
    data = json.loads((OLD / "results.json").read_text())
    typed = RunResults.from_dict(data)
    assert all(isinstance(model, ModelResult) and isinstance(model.status, Status) for model in typed.models)
    assert {model.id: model.status for model in typed.models}["ssdlite320_mobilenet_v3_large"] == Status.NO_WEIGHTS
    again = typed.to_dict()
    assert again["schema_version"] == SCHEMA_VERSION
    assert [_without_nulls(m) for m in again["models"]] == [_without_nulls(m) for m in data["models"]]


def test_fields_a_newer_zoo_wrote_survive_a_read_and_a_write():
    result = ModelResult.from_dict({"id": "m", "status": "ok", "tracking": {"hota": 0.5}, "speed": {"new": 1}})
    assert result.extra == {"tracking": {"hota": 0.5}} and result.speed.extra == {"new": 1}
    assert result.to_dict()["tracking"] == {"hota": 0.5} and result.to_dict()["speed"]["new"] == 1


def test_a_results_json_from_a_newer_schema_or_with_an_unknown_status_is_one_clear_error(tmp_path):
    data = json.loads((OLD / "results.json").read_text())
    for change, expected in (
        ({"schema_version": SCHEMA_VERSION + 1}, "is newer than this zoo's"),
        ({"models": [{**data["models"][0], "status": "exploded"}]}, "'exploded' is not a valid Status"),
    ):
        folder = tmp_path / expected[:5]
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps({**data, **change}))
        code, _, stderr = run_zoo("report", str(folder))
        assert code == 2 and expected in stderr and "Traceback" not in stderr, stderr


def test_a_run_folder_of_the_previous_release_loads_in_zoo_report(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(OLD, folder)
    code, stdout, stderr = run_zoo("report", str(folder))
    assert code == 0, stderr
    page = (folder / "index.html").read_text()
    assert "reference-blobs" in page and "ssdlite320_mobilenet_v3_large" in page and "hog-people" in page
    then = pd.read_csv(OLD / "leaderboard.csv")
    now = pd.read_csv(folder / "leaderboard.csv")
    pd.testing.assert_frame_equal(now[then.columns], then)  # the same board (columns added since are empty for it)
    assert now.drop(columns=then.columns).isna().all().all()


def test_the_shipped_schema_is_the_one_the_classes_give_and_results_validate_against_it(shapes_run):
    shipped = json.loads(SCHEMA.read_text())
    assert shipped == json_schema(), "run: python -c 'import zoo.results as r, json; print(json.dumps(...))'"
    jsonschema.Draft202012Validator.check_schema(shipped)
    for path in (OLD / "results.json", shapes_run / "results.json"):
        jsonschema.validate(json.loads(path.read_text()), shipped)
    broken = json.loads((OLD / "results.json").read_text())
    broken["models"][0]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, shipped)


def test_the_same_selection_measures_what_the_previous_release_measured(tmp_path):
    """Behaviour unchanged: the command that wrote the fixture, run again, gives equal non-timing fields in
    results.json and leaderboard.csv (accuracy, labels, parameters, GFLOPs, statuses, reasons, settings)."""
    old = json.loads((OLD / "results.json").read_text())
    args = shlex.split(old["context"]["command"])[1:]
    args[args.index("--out") + 1] = str(tmp_path / "again")
    code, _, stderr = run_zoo(*args, "--no-isolation")
    assert code == 0, stderr
    new = read_results(tmp_path / "again").to_dict()
    added = {key: value for key, value in new["context"]["settings"].items() if key not in old["context"]["settings"]}
    assert all(value is None for value in added.values()), f"settings added since 0.1.0 are off by default: {added}"
    assert {key: new["context"]["settings"][key] for key in old["context"]["settings"]} == old["context"]["settings"]
    assert new["context"]["dataset"] == old["context"]["dataset"]
    before = {model["id"]: _comparable(_as_today(model)) for model in old["models"]}
    after = {model["id"]: _comparable(model) for model in new["models"]}
    assert after == before
    columns = [c for c in pd.read_csv(OLD / "leaderboard.csv").columns if c not in TIMING_COLUMNS]
    then = pd.read_csv(OLD / "leaderboard.csv")[columns].set_index("model").sort_index()
    now = pd.read_csv(tmp_path / "again" / "leaderboard.csv")[columns].set_index("model").sort_index()
    pd.testing.assert_frame_equal(now, then)
