"""The README stays true: its test command is CI's, its plugin example runs, every hook is documented."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SMALL_SHAPES
from tests.test_run import FAST, run_zoo
from zoo import hookspecs
from zoo.runfolder import read_results

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    first_screen = "\n".join(README.splitlines()[:20])
    assert command in first_screen, "the README's first screen shows CI's exact command"
    assert ".venv/bin/zoo run --models all" in first_screen


def test_the_plugin_guide_example_runs(tmp_path):
    section = README.split("## Writing a plugin", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "guide.py").write_text(code)
    out = tmp_path / "run"
    status, _, stderr = run_zoo(
        "run",
        "--plugins-dir",
        str(tmp_path / "plugins"),
        "--models",
        "my-centre",
        "--data",
        SMALL_SHAPES,
        "--out",
        str(out),
        *FAST,
    )
    assert status == 0, stderr
    (row,) = read_results(out).to_dict()["models"]
    assert row["status"] == "ok" and row["accuracy"]["localization"]["mean_iou"] >= 0


def test_every_hook_is_documented():
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks
    for hook in hooks:
        assert f"`{hook}`" in README
        assert getattr(hookspecs, hook).__doc__


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed")
def test_the_code_is_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    result = subprocess.run([ruff, "check", "zoo", "plugins", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_readme_reliability_counts_come_from_the_suites():
    from tests.test_bad_input import BAD_INPUTS, OTHER_COMMANDS
    from tests.test_faults import FAULTS

    faults = re.search(r"<!-- faults -->(\d+) faults injected, (\d+) survived<!-- /faults -->", README)
    inputs = re.search(r"<!-- inputs -->(\d+) bad inputs tried, (\d+)\s+handled<!-- /inputs -->", README)
    assert faults and faults.groups() == (str(len(FAULTS)),) * 2
    assert inputs and inputs.groups() == (str(len(BAD_INPUTS) + len(OTHER_COMMANDS)),) * 2
