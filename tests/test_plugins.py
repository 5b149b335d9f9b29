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
        (
            "import zoo\ndef register_models(register):\n    pass\n",
            "def register_models\\(register\\) lacks the @zoo.hookimpl decorator, so zoo never calls it",
        ),
        ("import zoo\nclass Helper:\n    pass\n", "defines no register_models hook, so it adds no model; add"),
    ],
    ids=["syntax", "import", "unknown-hook", "raises", "not-a-model", "bad-id", "no-hookimpl", "no-hook"],
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


# -- non-torch models: declared GFLOPs and runtime versions, the run's thread count -------------------------------

RUNTIME_PLUGIN = '''
import sys
import numpy as np
import zoo

class Runtime(zoo.Model):
    """A numpy model that declares what torch's flop counter cannot see, and reports the threads it was given."""
    name = "declares-runtime"
    family = "test"
    framework = "numpy"

    def load(self, device):
        self.labels = ["circle"]
        self.threads_at_load = self.threads

    def info(self):
        torch = sys.modules.get("torch")
        return zoo.ModelInfo(
            num_params=1234,
            gflops=2.5,
            versions={"fakeruntime": "9.8.7"},
            settings={"threads": self.threads_at_load, "torch_threads": torch.get_num_threads() if torch else None},
        )

    def forward(self, batch):
        return [image.shape[:2] for image in batch]

    def postprocess(self, outputs, images):
        return [zoo.Detections([[0, 0, w / 2, h / 2]], [0.5], [0]) for h, w in outputs]

class TorchDeclares(zoo.Model):
    """A torch model whose declared GFLOPs are far from what torch counts."""
    name = "declares-wrong-gflops"
    family = "test"
    framework = "torch"

    def load(self, device):
        import torch
        self.labels = None
        self.layer = torch.nn.Linear(64, 64)

    def info(self):
        return zoo.ModelInfo(gflops=100.0)

    def forward(self, batch):
        import torch
        with torch.inference_mode():
            return [self.layer(torch.ones(1, 64)) for _ in batch]

    def postprocess(self, outputs, images):
        return [zoo.Detections([[1, 1, 5, 5]], [1.0], [0]) for _ in images]

@zoo.hookimpl
def register_models(register):
    register(Runtime)
    register(TorchDeclares)
'''


def _runtime_run(tmp_path, *extra: str):
    from tests.conftest import SMALL_SHAPES
    from tests.test_run import FAST, run_zoo
    from zoo.runfolder import read_results

    folder = write_plugin(tmp_path / "plugins", "runtime.py", RUNTIME_PLUGIN)
    out = tmp_path / "run"
    args = ["run", "--plugins-dir", str(folder), "--data", SMALL_SHAPES, "--out", str(out), *FAST, *extra]
    code, _, stderr = run_zoo(*args)
    assert code == 0, stderr
    results = read_results(out).to_dict()
    return results, {m["id"]: m for m in results["models"]}, (out / "index.html").read_text()


def test_declared_gflops_and_versions_reach_results_and_report(tmp_path, one_torch_thread):
    _, models, page = _runtime_run(tmp_path, "--models", "declares-runtime,declares-wrong-gflops", "--no-isolation")
    runtime = models["declares-runtime"]
    assert runtime["status"] == "ok"
    info = runtime["info"]
    assert info["gflops"] == 2.5 and info["gflops_source"] == "declared by the plugin"
    assert info["num_params"] == 1234 and info["versions"] == {"fakeruntime": "9.8.7"}
    assert "gflops" not in runtime["missing"]
    assert "fakeruntime 9.8.7" in page and "2.5 (declared by the plugin)" in page

    counted = models["declares-wrong-gflops"]
    assert counted["info"]["gflops_source"].startswith("counted")
    assert counted["info"]["gflops"] == pytest.approx(2 * 64 * 64 / 1e9)
    assert "the plugin declares 100 GFLOPs" in counted["notes"], "a declared value far from the count is noted"


def test_the_run_thread_count_reaches_the_model_and_the_record(tmp_path, one_torch_thread):
    import torch

    torch.set_num_threads(2)  # what the machine would give; --threads 1 must win everywhere
    results, models, page = _runtime_run(tmp_path, "--models", "declares-runtime", "--threads", "1")  # a worker
    settings = models["declares-runtime"]["info"]["settings"]
    assert settings == {"threads": 1, "torch_threads": 1}, "Model.threads before load; torch's threads in the worker"
    assert results["context"]["hardware"]["torch_threads"] == 1 and results["context"]["settings"]["threads"] == 1
    assert re.search(r"\b1 thread\b", page) and not re.search(r"\b2 threads\b", page), "the page's header"


# -- the shipped plugins keep the model contract (zoo.testing) ----------------------------------------------------


@pytest.mark.parametrize("model_id", ["reference-blobs", "centre-box"])
def test_the_reference_models_keep_the_model_contract(model_id):
    from zoo.testing import assert_conforms

    assert_conforms(model_id)


def test_an_untrained_torchvision_detector_keeps_the_model_contract(one_torch_thread):
    from zoo.testing import BACKGROUND, WARN, assert_conforms, default_images

    report = assert_conforms("ssdlite320_mobilenet_v3_large", weights=zoo.UNTRAINED, images=default_images()[:2])
    assert report.item(BACKGROUND).status == WARN, "torchvision's '__background__' at 0: flagged, not failed"
