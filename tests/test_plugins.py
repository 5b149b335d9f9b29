"""Plugin discovery: the project's plugins/, entry points, plugin folders, and every way a plugin can be broken."""

from __future__ import annotations

import re
import textwrap

import pytest

import zoo
from zoo.plugins import load_plugins

GOOD_PLUGIN = """
import zoo

class Mine(zoo.Model):
    name = "{name}"
    family = "custom"

@zoo.hookimpl
def register_models(register):
    register(Mine)
"""


def write_plugin(folder, filename, source):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(textwrap.dedent(source))
    return folder


def test_builtin_plugins_register_the_reference_and_torchvision_models():
    plugins = load_plugins()
    assert plugins.problems == []
    assert plugins.models["reference-blobs"].plugin == "reference"
    assert plugins.models["centre-box"].plugin == "reference"
    assert plugins.models["fasterrcnn_resnet50_fpn"].cls.family == "faster-rcnn"
    assert plugins.models["ssd300_vgg16"].cls.family == "ssd"


def test_plugins_dir_and_environment_variable(tmp_path, monkeypatch):
    flag_dir = write_plugin(tmp_path / "flag", "flagged.py", GOOD_PLUGIN.format(name="from-flag"))
    env_dir = write_plugin(tmp_path / "env", "environ.py", GOOD_PLUGIN.format(name="from-env"))
    package = tmp_path / "flag" / "packaged"
    package.mkdir()
    (package / "__init__.py").write_text(GOOD_PLUGIN.format(name="from-package"))
    monkeypatch.setenv("ZOO_PLUGINS_DIR", str(env_dir))
    plugins = load_plugins([flag_dir], builtin=False, entry_points=False)
    assert plugins.problems == []
    assert {m: r.plugin for m, r in plugins.models.items()} == {
        "from-flag": "flagged",
        "from-env": "environ",
        "from-package": "packaged",
    }


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch):
    (tmp_path / "zoo_thirdparty.py").write_text(GOOD_PLUGIN.format(name="third-party"))
    info = tmp_path / "zoo_thirdparty-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-thirdparty\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[zoo]\nthirdparty = zoo_thirdparty\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins(builtin=False)
    assert plugins.models["third-party"].plugin == "thirdparty"
    assert "zoo-thirdparty" in plugins.sources["thirdparty"]


def test_a_broken_entry_point_is_reported_and_the_rest_load(tmp_path, monkeypatch):
    (tmp_path / "zoo_broken_ep.py").write_text("raise ImportError('needs a library that is not installed')\n")
    info = tmp_path / "zoo_broken_ep-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-broken-ep\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[zoo]\nbrokenep = zoo_broken_ep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins()
    assert [str(p) for p in plugins.problems] == [
        "plugin 'brokenep': failed to import (entry point 'zoo_broken_ep' of zoo-broken-ep): "
        "ImportError: needs a library that is not installed"
    ]
    assert "reference-blobs" in plugins.models


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def broken(:\n", "failed to import .*bad.py: SyntaxError"),
        ("import not_a_module_anywhere\n", "failed to import .*ModuleNotFoundError: No module named"),
        (
            "import zoo\n@zoo.hookimpl\ndef register_model(register):\n    pass\n",
            "implements unknown hook 'register_model' \\(zoo's hooks: register_models\\)",
        ),
        (
            "import zoo\n@zoo.hookimpl\ndef register_models(register):\n    raise RuntimeError('boom')\n",
            "register_models failed: RuntimeError: boom",
        ),
        (
            "import zoo\n@zoo.hookimpl\ndef register_models(register):\n    register(int)\n",
            "registered <class 'int'>, which is not a zoo.Model subclass",
        ),
        (
            "import zoo\nclass M(zoo.Model):\n    name = 'bad id!'\n@zoo.hookimpl\ndef register_models(register):\n"
            "    register(M)\n",
            "is not a valid id",
        ),
    ],
    ids=["syntax", "import", "unknown-hook", "raises", "not-a-model", "bad-id"],
)
def test_broken_plugins_are_reported_by_name_and_the_others_still_load(tmp_path, source, problem):
    folder = write_plugin(tmp_path / "plugins", "bad.py", source)
    write_plugin(folder, "good.py", GOOD_PLUGIN.format(name="survivor"))
    plugins = load_plugins([folder])
    assert len(plugins.problems) == 1
    assert plugins.problems[0].plugin == "bad"
    assert re.search(problem, plugins.problems[0].message), plugins.problems[0].message
    assert "survivor" in plugins.models and "reference-blobs" in plugins.models


def test_a_duplicate_model_id_is_reported_and_the_first_kept(tmp_path):
    folder = write_plugin(tmp_path / "plugins", "a_first.py", GOOD_PLUGIN.format(name="twin"))
    write_plugin(
        folder,
        "b_second.py",
        """
        import zoo

        class Twin(zoo.Model):
            name = "twin"

        class Other(zoo.Model):
            name = "other"

        @zoo.hookimpl
        def register_models(register):
            register(Twin)
            register(Other)
    """,
    )
    plugins = load_plugins([folder], builtin=False, entry_points=False)
    assert plugins.models["twin"].plugin == "a_first"
    assert plugins.models["other"].plugin == "b_second", "the plugin's other models still load"
    assert [str(p) for p in plugins.problems] == [
        "plugin 'b_second': model id 'twin' is already registered by plugin 'a_first'; ignored"
    ]


def test_a_duplicate_plugin_name_is_reported(tmp_path):
    first = write_plugin(tmp_path / "one", "same.py", GOOD_PLUGIN.format(name="one"))
    second = write_plugin(tmp_path / "two", "same.py", GOOD_PLUGIN.format(name="two"))
    plugins = load_plugins([first, second], builtin=False, entry_points=False)
    assert "one" in plugins.models and "two" not in plugins.models
    assert plugins.problems[0].plugin == "same" and "not loaded from" in plugins.problems[0].message


def test_a_missing_plugins_folder_is_reported(tmp_path):
    plugins = load_plugins([tmp_path / "nowhere"], builtin=False, entry_points=False)
    assert "plugins folder not found" in str(plugins.problems[0])


def test_inline_plugins_register_like_any_other():
    class Inline:
        @zoo.hookimpl
        def register_models(self, register):
            register(type("Echo", (zoo.Model,), {"name": "echo", "family": "test"}))

    plugins = load_plugins(extra=[Inline()], builtin=False, entry_points=False)
    assert plugins.models["echo"].plugin == "Inline-0"
