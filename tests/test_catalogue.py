"""The catalogue's metadata in registry.yaml is measured, complete, and the README table is generated from it."""

from __future__ import annotations

import pytest
import yaml

from zoo.catalogue import README, markdown_table, measure, update_readme, update_registry
from zoo.plugins import load_plugins
from zoo.registry import build_catalogue, load_registry


@pytest.fixture(scope="module")
def catalogue():
    plugins = load_plugins()
    return plugins, build_catalogue(load_registry(), plugins)


def test_every_entry_carries_measured_metadata(catalogue):
    _, entries = catalogue
    for entry in entries.values():
        assert set(entry.meta) == {"framework", "params", "gflops", "input_size"}, entry.id
        assert entry.meta["params"] is None or entry.meta["params"] >= 0


def test_the_readme_table_is_generated_from_the_registry(catalogue):
    _, entries = catalogue
    text = README.read_text()
    assert update_readme(text, markdown_table(list(entries.values()))) == text, "run: python -m zoo.catalogue --readme"


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
