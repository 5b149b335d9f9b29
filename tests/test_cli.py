"""The command line: user errors are one line, exit status 2, and never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import SMALL_SHAPES
from tests.test_run import run_zoo


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--models", "fasterrcnn_resnet5_fpn"], "unknown model id; closest: fasterrcnn_resnet50_fpn"),
        (["run", "--models", "family:nope"], "no model of family 'nope'"),
        (["run", "--data", "/no/such/data.json"], "--data /no/such/data.json: no such file or folder"),
        (["run", "--limit", "0"], "--limit 0: give a positive number of images"),
        (["run", "--iters", "0"], "--iters 0: give 1 or more"),
        (["run", "--iou-conf", "2"], "--iou-conf 2.0: give a score between 0 and 1"),
        (["run", "--device", "cuda:7"], "--device cuda:7"),
        (["run", "--device", "tpu"], "--device tpu: unknown device"),
        (["run", "--device", "cuda:x"], "--device cuda:x: unknown device"),
        (["run", "--weights", "nonsense"], "--weights nonsense: expected ID=PATH"),
        (["run", "--weights", "nope=/x.pth"], "unknown model id 'nope'"),
        (["run", "--registry", "/no/registry.yaml"], "registry not found"),
        (["report", "/no/run"], "no results.json here"),
        (["export", "mlflow", "/no/run"], "no results.json here"),
        (["train", "regressor", "--data", "shapes", "--device", "cuda:7"], "--device cuda:7"),
    ],
)
def test_user_errors_are_one_line_with_exit_status_2(args, message, tmp_path):
    code, stdout, stderr = run_zoo(*args, *(["--out", str(tmp_path / "o")] if args[0] == "run" else []))
    assert code == 2
    assert stderr.startswith("zoo: error: ") and message in stderr
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


def test_a_malformed_registry_names_file_and_line(tmp_path):
    registry = tmp_path / "registry.yaml"
    registry.write_text("models:\n  a: {}\n  b:\n    option: 1\n")
    code, _, stderr = run_zoo("models", "--registry", str(registry))
    assert code == 2 and f"{registry}:3: entry 'b': unknown key 'option'" in stderr


def test_broken_plugins_are_warnings_and_the_command_still_works(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('nope')\n")
    code, stdout, stderr = run_zoo("models", "--plugins-dir", str(tmp_path))
    assert code == 0
    assert "zoo: warning: plugin 'broken': failed to import" in stderr and "RuntimeError: nope" in stderr
    assert "reference-blobs" in stdout


def test_an_unknown_model_id_names_the_plugins_that_failed_and_plugins_dir(tmp_path):
    (tmp_path / "mine.py").write_text("import not_installed_anywhere\n")
    code, _, stderr = run_zoo("run", "--plugins-dir", str(tmp_path), "--models", "my-detector")
    assert code == 2
    error = stderr.strip().splitlines()[-1]
    assert error.startswith("zoo: error: --models my-detector: unknown model id;")
    assert "1 plugin(s) failed to load (warnings above), first: plugin 'mine': failed to import" in error
    assert "a model of your own plugin needs --plugins-dir DIR" in error


def test_the_console_script_exits_cleanly_in_a_real_process(tmp_path):
    """The installed entry point: a real process, a real exit status, nothing but the one line on stderr."""
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "zoo.cli",
            "run",
            "--models",
            "nope",
            "--data",
            SMALL_SHAPES,
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2
    assert process.stderr.startswith("zoo: error: --models nope: unknown model id")
    assert process.stderr.count("\n") == 1, process.stderr
    assert not (tmp_path / "o").exists(), "nothing is written before the input is checked"


ESCAPES = "\x1b[2J\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\rok\x9b31m\u202e"

HOSTILE_PLUGIN = f"""
import numpy as np
import zoo


class WantsWeights(zoo.Model):
    name = "escape-weights"
    family = "test"

    def load(self, device):
        if self.weights != zoo.UNTRAINED:
            raise zoo.WeightsUnavailable({ESCAPES!r})
        self.labels = ["circle"]

    def forward(self, batch):
        return batch

    def postprocess(self, outputs, images):
        return [zoo.Detections.empty() for _ in images]


class Fails(zoo.Model):
    name = "escape-fails"
    family = "test"

    def load(self, device):
        self.labels = ["circle"]

    def forward(self, batch):
        raise RuntimeError("multi\\nline " + {ESCAPES!r})


@zoo.hookimpl
def register_models(register):
    register(WantsWeights)
    register(Fails)
"""


def test_text_from_plugins_and_datasets_never_reaches_the_terminal_raw(tmp_path):
    """Escape sequences, carriage returns and bidi overrides in a plugin's reasons, a plugin's import error and a
    dataset's file name are shown escaped, on one line each: the terminal never obeys them."""
    import json

    from tests.conftest import save_formats
    from tests.test_run import FAST
    from zoo.data import load_dataset

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "hostile.py").write_text(HOSTILE_PLUGIN)
    (plugins / "broken.py").write_text(f"raise ImportError({ESCAPES!r})\n")
    coco = save_formats(load_dataset(SMALL_SHAPES), tmp_path / "data")["coco"]
    data = json.loads(coco.read_text())
    data["images"][1]["file_name"] = f"{ESCAPES}.png"  # listed, not on disk: a counted warning naming it
    coco.write_text(json.dumps(data))
    code, _, stderr = run_zoo(
        "run",
        "--no-isolation",
        "--plugins-dir",
        str(plugins),
        "--models",
        "escape-weights,escape-fails",
        "--data",
        str(coco),
        "--out",
        str(tmp_path / "run"),
        *FAST,
    )
    assert code == 1, stderr  # escape-fails failed
    assert "\x1b" not in stderr and "\r" not in stderr and "\x9b" not in stderr and "\u202e" not in stderr, stderr
    lines = stderr.splitlines()
    for what in ("plugin 'broken'", "images not found", "escape-weights — ", "escape-fails — "):
        (line,) = [line for line in lines if what in line]
        assert "\\x1b[2J\\x1b]8;;http:" in line and "click\\x1b]8;;\\x07" in line and "ok\\x9b31m\\u202e" in line, line
    assert "click\\x1b]8;;\\x07\\rok" in stderr, "a carriage return is shown as \\r"
    assert "predict failed: RuntimeError: multi line " in stderr, "a line break in a one-line message is a space"
