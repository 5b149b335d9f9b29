"""The catalogue's metadata in registry.yaml is measured, complete, and the README table is generated from it."""

from __future__ import annotations

import re

import pytest
import yaml

from tools.catalogue import README, markdown_table, measure, update_readme, update_registry
from zoo.plugins import load_plugins
from zoo.registry import build_catalogue, build_model, load_registry
from zoo.weights import entry_files


@pytest.fixture(scope="module")
def catalogue():
    plugins = load_plugins()
    return plugins, build_catalogue(load_registry(), plugins)


def test_every_entry_carries_measured_metadata_and_its_weights_licence(catalogue):
    plugins, entries = catalogue
    for entry in entries.values():
        assert set(entry.meta) - {"files"} == {"framework", "params", "gflops", "input_size"}, entry.id
        assert entry.meta["params"] is None or entry.meta["params"] >= 0
        for record in entry.meta.get("files", {}).values():
            assert record["size"] > 0 and re.fullmatch(r"[0-9a-f]{64}", record["sha256"]), entry.id
        has_weights = build_model(entry, plugins).check_weights().state != "none"
        assert bool(entry.licence) == has_weights, f"{entry.id}: the licence of its weights, and only if it has any"


def test_files_without_a_published_checksum_have_one_recorded(catalogue):
    """torchvision names its files by their hash and the Hub names them by digest; ultralytics' assets need theirs
    recorded in registry.yaml."""
    plugins, entries = catalogue
    for entry in entries.values():
        for file in entry_files(entry, plugins):
            assert file.sha256 or file.hub, f"{entry.id}: {file.name} has no checksum to check it by"


def test_the_readme_table_is_generated_from_the_registry(catalogue):
    _, entries = catalogue
    text = README.read_text()
    table = markdown_table(list(entries.values()))
    assert update_readme(text, table) == text, "run: python -m tools.catalogue --readme"


@pytest.mark.parametrize("model_id", ["reference-blobs", "centre-box", "ssdlite320_mobilenet_v3_large"])
def test_the_metadata_is_what_measuring_gives(catalogue, model_id):
    plugins, entries = catalogue
    assert measure(entries[model_id], plugins) == entries[model_id].meta


def test_updating_keeps_comments_and_other_keys():
    text = "# top comment\nmodels:\n  a:\n    plugin: p  # why\n    meta: {params: 1}\n\n  b: {}\n"
    updated = update_registry(text, {"a": {"params": 2, "input_size": "64x64"}, "b": {"params": 3}})
    assert updated.startswith("# top comment\n") and "plugin: p  # why" in updated
    data = yaml.safe_load(updated)["models"]
    assert data == {"a": {"plugin": "p", "meta": {"params": 2, "input_size": "64x64"}}, "b": {"meta": {"params": 3}}}
