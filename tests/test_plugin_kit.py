"""The plugin kit: `zoo plugin new` writes a plugin that works at once (numpy, torch and ONNX templates), and
`zoo plugin check` / `zoo.testing` check a model against zoo's contract, catching each common mistake with its fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import zoo
from tests.test_run import FAST, run_zoo
from zoo import testing
from zoo.runfolder import read_results

TEMPLATES = ("numpy", "torch", "onnx")
DATA = "shapes:count=4,size=160x120,seed=3"


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory):
    """One scaffold per template, written once for the module."""
    root = tmp_path_factory.mktemp("scaffolds")
    for template in TEMPLATES:
        code, _, stderr = run_zoo("plugin", "new", f"kit-{template}", "--template", template, "--to", str(root))
        assert code == 0, stderr
    return {template: root / f"zoo-kit-{template}" for template in TEMPLATES}


def test_new_writes_a_package_with_its_entry_point_readme_and_test(scaffolds):
    folder = scaffolds["onnx"]
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "tests/test_zoo_kit_onnx.py",
        "zoo_kit_onnx/__init__.py",
        "zoo_kit_onnx/model.onnx",
    ]
    pyproject = (folder / "pyproject.toml").read_text()
    assert '[project.entry-points.zoo]\nkit-onnx = "zoo_kit_onnx"' in pyproject
    assert (
        '"zoo", ' in pyproject and '"onnxruntime>=1.17"' in pyproject and 'zoo_kit_onnx = ["model.onnx"]' in pyproject
    )
    readme = (folder / "README.md").read_text()
    assert "zoo run --plugins-dir zoo-kit-onnx --models kit-onnx --data shapes" in readme
    assert "zoo plugin check zoo-kit-onnx" in readme and "pip install -e zoo-kit-onnx" in readme
    assert "zoo.testing.assert_conforms(KitOnnx)" in (folder / "tests" / "test_zoo_kit_onnx.py").read_text()
    assert "{{" not in (folder / "zoo_kit_onnx" / "__init__.py").read_text() + readme + pyproject


def test_the_onnx_model_is_an_opset_18_saturation_graph_with_dynamic_size(scaffolds):
    import onnx

    graph = onnx.load(str(scaffolds["onnx"] / "zoo_kit_onnx" / "model.onnx"))
    assert [o.version for o in graph.opset_import if o.domain == ""] == [18]
    assert {"ReduceMax", "ReduceMin", "Sub", "Div"} <= {node.op_type for node in graph.graph.node}
    dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, "height", "width"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_passes_zoo_plugin_check(scaffolds, template):
    code, stdout, stderr = run_zoo("plugin", "check", str(scaffolds[template]))
    assert code == 0, stdout + stderr
    assert stdout.startswith(f"kit-{template}\n") and "✗" not in stdout
    assert "✓ a batch of 3 gives the batch-1 output" in stdout and "✓ no network access" in stdout
    assert "✓ a batch of mixed sizes gives the batch-1 output" in stdout
    assert "keep zoo's model contract" in stderr


def test_check_takes_a_model_id_with_plugins_dir(scaffolds):
    code, stdout, _ = run_zoo("plugin", "check", "kit-numpy", "--plugins-dir", str(scaffolds["numpy"]))
    assert code == 0 and "✓ untrained copy builds and predicts" in stdout


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_scores_on_shapes(scaffolds, template, tmp_path):
    out = tmp_path / "run"
    args = ["--plugins-dir", str(scaffolds[template]), "--models", f"kit-{template}", "--data", DATA]
    code, _, stderr = run_zoo("run", *args, "--no-isolation", *FAST, "--out", str(out))
    assert code == 0, stderr
    (row,) = read_results(out).to_dict()["models"]
    assert row["status"] == "ok", row["reason"]
    assert row["accuracy"]["localization"]["mean_iou"] > 0.5
    if template == "onnx":
        assert row["info"]["settings"]["onnxruntime"] and row["weights"].startswith("model.onnx sha256:")


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_generated_test_passes(scaffolds, template):
    env = {**os.environ, "ZOO_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=scaffolds[template],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "3d-net"], "plugin name '3d-net': give letters, digits"),
        (["new", "my.net"], "plugin name 'my.net'"),
        (["new", "my net"], "plugin name 'my net'"),
        (["new", "reference-blobs"], "already a model id (of plugin 'reference')"),
        (["check", "/no/such/plugin.py"], "/no/such/plugin.py: no such file or folder"),
        (["check", "no-such-model"], "no-such-model: unknown model id"),
    ],
)
def test_user_errors_are_one_line(args, message, tmp_path):
    code, _, stderr = run_zoo("plugin", *args, *(["--to", str(tmp_path)] if args[0] == "new" else []))
    assert code == 2 and stderr.startswith("zoo: error: ") and message in stderr
    assert stderr.count("\n") == 1, stderr


def test_new_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "zoo-taken").mkdir()
    (tmp_path / "zoo-taken" / "keep.txt").write_text("mine")
    code, _, stderr = run_zoo("plugin", "new", "taken", "--to", str(tmp_path))
    assert code == 2 and "already exists and is not empty" in stderr
    assert [p.name for p in (tmp_path / "zoo-taken").iterdir()] == ["keep.txt"]


# -- the mistakes zoo.testing catches, one small model each ------------------------------------------------------


class Good(zoo.Model):
    name = "good"

    def load(self, device):
        self.labels = ["circle", "square"]

    def forward(self, batch):
        return [image.shape[:2] for image in batch]

    def postprocess(self, outputs, images):
        return [zoo.Detections([[w / 4, h / 4, w * 3 / 4, h * 3 / 4]], [0.9], [1]) for h, w in outputs]


class NoSuperInit(Good):
    def __init__(self, *, weights=None):
        self.ready = True


class LabelsNeverSet(Good):
    def load(self, device):
        pass


class ScoresAboveOne(Good):
    def postprocess(self, outputs, images):
        return [zoo.Detections([[1, 1, 20, 20]], [7.5], [0]) for _ in outputs]


class NormalisedBoxes(Good):
    def postprocess(self, outputs, images):
        return [zoo.Detections([[0.25, 0.25, 0.75, 0.75]], [0.9], [0]) for _ in outputs]


class LabelOutOfRange(Good):
    def postprocess(self, outputs, images):
        return [zoo.Detections([[1, 1, 20, 20]], [0.9], [2]) for _ in outputs]


class BackgroundFirst(Good):
    def load(self, device):
        self.labels = ["__background__", "circle", "square"]


class NotDeterministic(Good):
    def postprocess(self, outputs, images):
        jitter = np.random.default_rng().uniform(0, 2, 4)
        return [zoo.Detections([[1, 1, 20, 20] + jitter], [0.9], [0]) for _ in outputs]


class DependsOnTheBatch(Good):
    def postprocess(self, outputs, images):
        return [zoo.Detections([[1, 1, 20, 20]], [1 / len(images)], [0]) for _ in outputs]


class ScalesByTheFirstImage(Good):
    def postprocess(self, outputs, images):
        h, w = outputs[0]
        return [zoo.Detections([[w / 4, h / 4, w / 2, h / 2]], [0.9], [0]) for _ in outputs]


class PadsTheBatch(Good):
    """Scores that see the batch's padding, as torchvision's and transformers' batching give."""

    def postprocess(self, outputs, images):
        height = max(h for h, _ in outputs)
        return [zoo.Detections([[1, 1, 20, 20]], [h / height], [0]) for h, _ in outputs]


class InfoIsADict(Good):
    def info(self):
        return {"num_params": 1}


class DownloadsInLoad(Good):
    def load(self, device):
        try:  # a library that falls back quietly when the download fails still counts
            socket.create_connection(("weights.example.com", 443), timeout=1)
        except OSError:
            pass
        self.labels = ["circle", "square"]


MISTAKES = [
    (NoSuperInit, testing.SUPER, "call super().__init__(weights=weights) in __init__"),
    (LabelsNeverSet, testing.LABELS_SET, "load() never assigned self.labels: set a list of names, or None"),
    (ScoresAboveOne, testing.SCORES, "scores run from 7.5 to 7.5: give confidences in [0, 1]"),
    (NormalisedBoxes, testing.BOXES, "every box lies within 0..1: give pixels of the original image"),
    (LabelOutOfRange, testing.LABELS, "label 2 is outside self.labels (0..1): labels index self.labels from 0"),
    (NotDeterministic, testing.REPEATS, "make inference deterministic"),
    (DependsOnTheBatch, testing.BATCHED, "must not depend on the rest of its batch"),
    (ScalesByTheFirstImage, testing.MIXED, "scale and clip each image's boxes by its own size"),
    (InfoIsADict, testing.INFO, "info() returned a dict: return zoo.ModelInfo("),
    (DownloadsInLoad, testing.NETWORK, "weights.example.com: declare the file in remote_files(); load() must not"),
]


@pytest.mark.parametrize(("cls", "item", "fix"), MISTAKES, ids=[cls.__name__ for cls, _, _ in MISTAKES])
def test_each_mistake_is_caught_with_its_fix(cls, item, fix):
    report = testing.check_model(cls)
    assert not report.ok
    assert report.item(item).status == testing.FAIL, "\n".join(report.lines())
    assert fix in report.item(item).detail
    assert f"✗ {item} — " in "\n".join(report.lines())
    with pytest.raises(AssertionError, match="does not keep zoo's model contract"):
        testing.assert_conforms(cls)


def test_a_background_label_first_is_a_warning_not_a_failure():
    report = testing.assert_conforms(BackgroundFirst)
    item = report.item(testing.BACKGROUND)
    assert item.status == testing.WARN and "torchvision's numbering" in item.detail
    assert item.line().startswith("! labels[0] is not a background class — labels[0] is '__background__'")


def test_padding_in_a_batch_of_mixed_sizes_is_a_warning():
    report = testing.assert_conforms(PadsTheBatch)
    assert report.item(testing.BATCHED).status == testing.PASS, "images of one size: the same results"
    item = report.item(testing.MIXED)
    assert item.status == testing.WARN and "padding the batch to its largest image" in item.detail


def test_a_good_model_passes_and_the_report_reads_as_a_list():
    report = testing.assert_conforms(Good)
    assert report.ok and report.failures == []
    lines = report.lines()
    assert lines[0] == "✓ builds" and lines[-1] == "✓ no network access"
    assert "✓ labels join COCO by name — 0 of 2 are COCO names; not in COCO: circle, square" in lines
    one_image = testing.check_model(Good, images=[np.zeros((120, 160, 3), np.uint8)])
    assert one_image.ok and len(one_image.items) == len(report.items)


def test_missing_weights_are_a_skip_and_the_checks_run_on_the_untrained_copy():
    class NeedsAFile(Good):
        def load(self, device):
            if self.weights != zoo.UNTRAINED:
                raise zoo.WeightsUnavailable("/nowhere/weights.pt is not here; zoo pull fetches it")
            super().load(device)

    report = testing.assert_conforms(NeedsAFile)
    assert report.item(testing.LOADS).line() == (
        "- loads its weights (skipped: weights not on this machine: /nowhere/weights.pt is not here; zoo pull "
        "fetches it)"
    )
    assert report.item(testing.UNTRAINED_ITEM).detail == "the checks below ran on it"
    assert report.item(testing.BOXES).status == testing.PASS


def test_plugin_check_exits_1_and_prints_the_fix(tmp_path):
    (tmp_path / "scores.py").write_text(
        "import zoo\n"
        "class Loud(zoo.Model):\n"
        "    name = 'loud'\n"
        "    def load(self, device):\n"
        "        self.labels = ['circle']\n"
        "    def forward(self, batch):\n"
        "        return batch\n"
        "    def postprocess(self, outputs, images):\n"
        "        return [zoo.Detections([[1, 1, 9, 9]], [3.0], [0]) for _ in images]\n"
        "@zoo.hookimpl\n"
        "def register_models(register):\n"
        "    register(Loud)\n"
    )
    (tmp_path / "broken.py").write_text("raise ImportError('needs a library that is not here')\n")
    code, stdout, stderr = run_zoo("plugin", "check", str(tmp_path / "scores.py"))
    assert code == 1 and "✗ scores are in [0, 1] — scores run from 3 to 3" in stdout
    assert "loud: does not keep zoo's model contract" in stderr
    code, stdout, _ = run_zoo("plugin", "check", str(tmp_path / "broken.py"))
    assert code == 1 and stdout.startswith("✗ plugin 'broken': failed to import")
