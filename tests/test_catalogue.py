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
    recorded in registry.yaml — all but yolov8s-worldv2.pt, of which no digest is published or recorded anywhere:
    it is trusted on first use (its digest pinned at its first fetch), and only it."""
    plugins, entries = catalogue
    first_use = set()
    for entry in entries.values():
        for file in entry_files(entry, plugins):
            assert file.sha256 or file.hub or file.first_use, f"{entry.id}: {file.name} has no checksum to check it by"
            if file.first_use and not file.sha256:
                first_use.add(file.name)
    assert first_use == {"yolov8s-worldv2.pt"}


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


NOT_STATED = "not stated by the publisher"


def _checkpoint_zoo_loads(entry, plugins) -> str:
    """The exact weights zoo loads for ``entry``, written as registry.yaml's ``published.checkpoint`` names them."""
    import sys
    from pathlib import Path

    if entry.plugin in ("torchvision", "rcnn"):
        from torchvision.models import get_model_weights

        enum = get_model_weights(entry.model if entry.plugin == "torchvision" else "fasterrcnn_resnet50_fpn")
        member = enum[entry.weights] if entry.weights not in (None, "DEFAULT") else enum.DEFAULT
        return f"{member} ({Path(member.url).name})"
    if entry.plugin == "ultralytics":
        (file,) = entry_files(entry, plugins)
        return file.name
    if entry.plugin == "transformers":
        spec = sys.modules["zoo_plugin_transformers"].MODELS[entry.model]
        return f"{spec['hub_id']}@{spec['revision']}" if spec.get("revision") else spec["hub_id"]
    if entry.plugin == "open_vocabulary":  # a hub checkpoint (OWL, Grounding DINO), or ultralytics' file (YOLO-World)
        checkpoint = getattr(plugins.models[entry.model].cls, "checkpoint", None)
        if checkpoint is None:
            return entry.weights or f"{entry.model}.pt"
        return checkpoint.hub_id + (f"@{checkpoint.revision}" if checkpoint.revision != "main" else "")
    raise AssertionError(f"{entry.id}: a published number from plugin {entry.plugin!r}: say here which file it is for")


def test_every_published_number_has_a_source_to_open_and_names_the_exact_checkpoint_zoo_loads(catalogue):
    plugins, entries = catalogue
    numbers = [entry for entry in entries.values() if entry.published.get("box_ap") is not None]
    assert len(numbers) >= 20
    for entry in numbers:
        published = entry.published
        assert published["url"].startswith("https://") and " " not in published["url"], entry.id
        assert published["source"].strip(), entry.id
        checkpoint = _checkpoint_zoo_loads(entry, plugins)
        if "@" in checkpoint or entry.plugin not in ("transformers", "open_vocabulary") or checkpoint.endswith(".pt"):
            assert published["checkpoint"] == checkpoint, f"{entry.id}: the number is for other weights than zoo's"
        else:  # a hub id zoo does not pin: the entry says why
            assert published["checkpoint"].startswith(f"{checkpoint} (follows main: "), entry.id
        if entry.plugin == "torchvision":  # the builder's page of torchvision's docs, where its weights' table is
            assert published["url"].endswith(f"/torchvision.models.detection.{entry.model}.html"), entry.id


def test_the_rt_detr_and_conditional_detr_numbers_are_those_of_the_released_checkpoints(catalogue):
    """The PyTorch port's README lists the converted R18 file at 46.4 (46.5 is Paddle's); Conditional DETR's README
    lists its released R50 checkpoint at 41.0 (40.9 is the paper's)."""
    _, entries = catalogue
    expected = {
        "rtdetr_r18vd": (0.464, "rtdetr_r18vd_dec3_6x_coco_from_paddle.pth"),
        "rtdetr_r50vd": (0.531, "rtdetr_r50vd_6x_coco_from_paddle.pth"),
        "conditional-detr-resnet-50": (0.410, "Conditional DETR-R50"),
    }
    for model_id, (box_ap, named) in expected.items():
        assert entries[model_id].published["box_ap"] == box_ap and named in entries[model_id].published["source"]


def test_parameter_counts_follow_torchvision_s_published_convention(catalogue):
    """torchvision's ``num_params`` counts its detectors' BatchNorm frozen (buffers, not parameters): the catalogue
    does too, for every torchvision entry, and an untrained copy is built frozen where the published weights are."""
    from torchvision.models import get_model_weights

    from zoo.model import UNTRAINED

    plugins, entries = catalogue
    for entry in entries.values():
        if entry.plugin == "torchvision":
            published = get_model_weights(entry.model).DEFAULT.meta["num_params"]
            assert entry.meta["params"] == published, f"{entry.id}: {entry.meta['params']} != torchvision's"
    model = build_model(entries["fasterrcnn_mobilenet_v3_large_320_fpn"], plugins, UNTRAINED)
    model.load("cpu")
    assert (
        model.info().num_params == get_model_weights("fasterrcnn_mobilenet_v3_large_320_fpn").DEFAULT.meta["num_params"]
    )


def test_licences_say_what_the_publisher_says_and_nothing_more(catalogue):
    """torchvision states no licence for its weights (BSD-3-Clause is its code's); the Haar cascades carry their
    authors' own BSD-style agreement in the file's header, not literally BSD-3-Clause."""
    from pathlib import Path

    import cv2

    _, entries = catalogue
    for entry in entries.values():
        if entry.plugin in ("torchvision", "rcnn"):
            assert entry.licence == NOT_STATED, entry.id
    for model_id, file in (
        ("haar-fullbody", "haarcascade_fullbody.xml"),
        ("haar-upperbody", "haarcascade_upperbody.xml"),
    ):
        header = (Path(cv2.data.haarcascades) / file).read_text(errors="replace")[:1500]
        assert "Contributors License Agreement" in header and "Hannes Kruppa and Bernt Schiele" in header
        licence = entries[model_id].licence
        assert licence.startswith("Contributors License Agreement (BSD-style") and file in licence, model_id
