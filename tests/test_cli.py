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
