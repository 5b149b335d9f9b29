"""`python -m bench --quick` runs end to end and prints its four ratios. No timing is asserted: bench/ measures zoo,
it does not test it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.table import markdown, missing_row

ROOT = Path(__file__).resolve().parent.parent
TITLES = ("harness fidelity", "run overhead", "scoring", "memory")


def table_rows(text: str) -> dict[str, list[str]]:
    """The markdown table's rows by their first cell (a ``|`` inside a cell is escaped as ``\\|``)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| measurement"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0]] = cells
    return rows


def test_the_quick_bench_prints_the_four_ratios(tmp_path):
    out = tmp_path / "latest.md"
    command = [sys.executable, "-m", "bench", "--quick", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    assert table.strip() in result.stdout, "the terminal shows the table the file holds"
    rows = table_rows(table)
    assert sorted(rows) == sorted(TITLES), table
    for title in TITLES:
        ratio = rows[title][3]
        assert re.fullmatch(r"\d+\.\d+", ratio), f"{title}: {ratio} ({result.stderr[-2000:]})"
        assert float(ratio) > 0
    assert "Measured by `python -m bench --quick`" in table


def test_a_measurement_that_could_not_be_done_says_why_and_is_never_zero():
    text = markdown([missing_row("memory", 1.2, "peak RSS", "zoo run failed (exit 1)")], "conditions")
    (row,) = table_rows(text).values()
    assert row[3] == "missing: zoo run failed (exit 1)" and row[4] == "≤ 1.2"


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed")
def test_the_bench_is_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    result = subprocess.run([ruff, "check", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
