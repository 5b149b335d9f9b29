"""registry.yaml and --models selection."""

from __future__ import annotations

import textwrap

import pytest

from zoo.errors import ZooError
from zoo.plugins import load_plugins
from zoo.registry import DEFAULT_REGISTRY, Entry, build_catalogue, build_model, load_registry, select


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue(load_registry(), load_plugins())


def write(tmp_path, text):
    path = tmp_path / "registry.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_shipped_registry_is_valid_and_every_entry_has_a_registered_model(catalogue):
    plugins = load_plugins()
    entries = load_registry(DEFAULT_REGISTRY)
    assert entries, "the catalogue is not empty"
    for entry in entries:
        assert entry.model in plugins.models, f"{entry.id}: no plugin registers {entry.model}"
        assert catalogue[entry.id].family, f"{entry.id} has no family"
        build_model(entry, plugins)  # options are accepted by the model class


def test_entries_take_defaults_and_options(tmp_path):
    path = write(
        tmp_path,
        """
        models:
          blobs:
            model: reference-blobs
            options: {min_area: 30}
            notes: fewer, larger blobs
          centre-box: {}
    """,
    )
    blobs, centre = load_registry(path)
    assert (blobs.id, blobs.model, blobs.options, blobs.where) == (
        "blobs",
        "reference-blobs",
        {"min_area": 30},
        f"{path}:3",
    )
    assert centre.model == "centre-box" and centre.weights is None
    model = build_model(blobs, load_plugins())
    assert model.min_area == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models:\n  a: [1, 2\n", r"registry.yaml:\d+: not valid YAML"),
        ("entries: {}\n", r"registry.yaml:1: expected a top-level 'models:' mapping"),
        ("models:\n  ok: {}\n  bad:\n    weigths: x\n", r"registry.yaml:3: entry 'bad': unknown key 'weigths'"),
        ("models:\n  bad:\n    options: [1]\n", r"registry.yaml:2: entry 'bad': 'options' must be a mapping"),
        ("models:\n  bad:\n    weights: 3\n", r"entry 'bad': 'weights' must be text"),
        ("models:\n  'bad id':\n    family: x\n", r"entry 'bad id': ids may hold only"),
        ("models:\n  bad: 7\n", r"entry 'bad': expected a mapping"),
    ],
    ids=["yaml", "no-models", "unknown-key", "options", "weights", "id", "not-mapping"],
)
def test_malformed_registry_errors_name_file_line_and_entry(tmp_path, text, message):
    with pytest.raises(ZooError, match=message) as raised:
        load_registry(write(tmp_path, text))
    assert "\n" not in str(raised.value)


def test_every_entry_carries_the_box_ap_its_authors_publish_or_why_there_is_none():
    for entry in load_registry(DEFAULT_REGISTRY):
        published = entry.published
        assert "box_ap" in published, f"{entry.id}: no published box_ap (null with a reason when there is none)"
        if published["box_ap"] is None:
            assert published.get("reason", "").strip(), f"{entry.id}: a null box_ap says why"
            assert "split" not in published and "source" not in published, entry.id
        else:
            assert 0 < published["box_ap"] < 1, f"{entry.id}: AP as a fraction"
            assert published["split"] in ("coco-val2017", "voc2007-test"), entry.id
            assert published["source"].strip() and isinstance(published.get("protocol"), dict), entry.id


def test_torchvision_entries_publish_what_torchvision_s_weights_metadata_says():
    from torchvision.models import get_model_weights

    entries = [entry for entry in load_registry(DEFAULT_REGISTRY) if entry.plugin == "torchvision"]
    assert entries
    for entry in entries:
        weights = get_model_weights(entry.model)
        member = weights[entry.weights] if entry.weights not in (None, "DEFAULT") else weights.DEFAULT
        box_map = member.meta["_metrics"]["COCO-val2017"]["box_map"]
        assert entry.published["box_ap"] == pytest.approx(box_map / 100, abs=1e-9), entry.id
        assert entry.published["split"] == "coco-val2017", entry.id
        assert entry.published["source"] == f"torchvision weights metadata: {member}", entry.id


@pytest.mark.parametrize(
    ("published", "message"),
    [
        (
            "[0.37]",
            r"'published' must be a mapping of box_ap, split, source, url, checkpoint, protocol, reason; got list",
        ),
        (
            "{box_ap: 37.0, split: coco-val2017, source: x}",
            r"'published.box_ap' is 37.0: give AP as a fraction, e.g. 0.37 for 37.0",
        ),
        ("{box_ap: -0.1, split: coco-val2017, source: x}", r"'published.box_ap' is -0.1"),
        ("{box_ap: high, split: coco-val2017, source: x}", r"'published.box_ap' must be a number in \[0, 1\] or null"),
        ("{box_ap: 0.37, source: x}", r"'published.split' is required text when box_ap is a number"),
        ("{box_ap: 0.37, split: coco-val2017}", r"'published.source' is required text when box_ap is a number"),
        ("{box_ap: 0.37, split: coco-val2017, source: x, protocol: 640}", r"'published.protocol' must be a mapping"),
        (
            "{box_ap: null, reason: x, sorce: y}",
            r"'published' has unknown key 'sorce'; the keys are box_ap, split, source, url, checkpoint, protocol, "
            "reason",
        ),
    ],
    ids=["not-mapping", "percent", "negative", "not-number", "no-split", "no-source", "protocol", "unknown-key"],
)
def test_malformed_published_values_are_one_line_errors(tmp_path, published, message):
    path = write(tmp_path, f"models:\n  ok: {{}}\n  bad:\n    published: {published}\n")
    with pytest.raises(ZooError, match=rf"registry.yaml:3: entry 'bad': {message}") as raised:
        load_registry(path)
    assert "\n" not in str(raised.value)


def test_published_values_are_kept(tmp_path):
    path = write(
        tmp_path,
        """
        models:
          a:
            published: {box_ap: 0.37, split: coco-val2017, source: 'docs', protocol: {conf: 0.001}}
          b:
            published: {box_ap: null, reason: made for --data shapes}
          c: {}
    """,
    )
    a, b, c = load_registry(path)
    assert a.published == {"box_ap": 0.37, "split": "coco-val2017", "source": "docs", "protocol": {"conf": 0.001}}
    assert b.published == {"box_ap": None, "reason": "made for --data shapes"}
    assert c.published == {}


def test_missing_registry(tmp_path):
    with pytest.raises(ZooError, match="registry not found"):
        load_registry(tmp_path / "none.yaml")


def test_an_option_the_model_does_not_take_is_an_error(tmp_path):
    (entry,) = load_registry(
        write(tmp_path, "models:\n  blobs:\n    model: reference-blobs\n    options: {min_aera: 3}\n")
    )
    with pytest.raises(
        ZooError,
        match=r"registry.yaml:2: entry 'blobs': option 'min_aera' is not accepted by Blobs "
        r"\(options: min_saturation, min_area\)",
    ):
        build_model(entry, load_plugins())


def test_an_entry_whose_plugin_is_missing_says_so(tmp_path):
    (entry,) = load_registry(write(tmp_path, "models:\n  yolo:\n    plugin: ultralytics_models\n"))
    with pytest.raises(ZooError, match="no plugin registers model 'yolo' \\(plugin 'ultralytics_models' is not"):
        build_model(entry, load_plugins())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("reference-blobs", ["reference-blobs"]),
        ("centre-box, reference-blobs", ["reference-blobs", "centre-box"]),
        ("family:ssd", ["ssd300_vgg16", "ssdlite320_mobilenet_v3_large"]),
        ("fasterrcnn_mobilenet*", ["fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn"]),
        ("reference-blobs,reference-*", ["reference-blobs"]),
    ],
)
def test_selection(catalogue, spec, expected):
    assert [entry.id for entry in select(spec, catalogue)] == [i for i in catalogue if i in expected]


def test_all_means_every_entry_in_catalogue_order(catalogue):
    assert [entry.id for entry in select("all", catalogue)] == list(catalogue)
    assert list(catalogue) == [entry.id for entry in load_registry()], "every shipped model is in registry.yaml"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("refrence-blobs", r"--models refrence-blobs: unknown model id; closest: reference-blobs"),
        ("family:transformer", r"no model of family 'transformer'; the families are .*faster-rcnn"),
        ("nosuchmodel*", r"--models nosuchmodel\*: the pattern matches no model id"),
        (" , ", r"--models is empty"),
    ],
)
def test_selection_errors_are_one_line_with_a_hint(catalogue, spec, message):
    with pytest.raises(ZooError, match=message):
        select(spec, catalogue)


def test_plugin_models_outside_the_registry_join_the_catalogue():
    import zoo

    class Extra:
        @zoo.hookimpl
        def register_models(self, register):
            register(type("Mine", (zoo.Model,), {"name": "mine", "family": "custom", "description": "d"}))

    catalogue = build_catalogue(load_registry(), load_plugins(extra=[Extra()]))
    assert catalogue["mine"] == Entry(
        id="mine", model="mine", family="custom", plugin="Extra-0", notes="d", where="plugin 'Extra-0'"
    )


def test_all_with_another_registry_adds_only_the_models_of_plugins_you_added(tmp_path):
    import zoo

    class Added:
        @zoo.hookimpl
        def register_models(self, register):
            register(type("Mine", (zoo.Model,), {"name": "mine", "family": "custom"}))

    entries = load_registry(write(tmp_path, "models:\n  reference-blobs: {}\n"))
    catalogue = build_catalogue(entries, load_plugins(extra=[Added()]))
    assert [entry.id for entry in select("all", catalogue)] == ["reference-blobs", "mine"]
    assert [entry.id for entry in select("ssd300_vgg16", catalogue)] == ["ssd300_vgg16"], "shipped models by id"
