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


def test_the_readme_bench_section_is_bench_latest_md():
    from bench import readme

    latest = (ROOT / "bench" / "latest.md").read_text(encoding="utf-8")
    assert readme.section(readme.README.read_text(encoding="utf-8")) == latest.strip("\n"), (
        "README.md's bench section differs from bench/latest.md: run `python -m bench --readme`"
    )


def test_copying_latest_into_the_readme_replaces_only_its_section(tmp_path):
    from bench import readme

    path = tmp_path / "README.md"
    path.write_text("intro\n<!-- bench -->\nold table\n<!-- /bench -->\nrest\n")
    readme.write("| new | table |\n", path)
    assert path.read_text() == "intro\n<!-- bench -->\n| new | table |\n<!-- /bench -->\nrest\n"


def test_repeated_runs_show_the_median_run_and_the_spread_with_each_load():
    from bench.__main__ import repeated
    from bench.table import Row

    rows = [
        Row("fidelity", "z", "r", ratio, 1.02, "how", load=f"load {n}") for n, ratio in enumerate((1.05, 1.01, 1.03))
    ]
    row = repeated(rows)
    assert row.ratio == 1.03
    assert "median 1.030, spread 1.010–1.050 (0.040)" in row.details[-1]
    assert "1.010 (load 1)" in row.details[-1] and row.load.startswith("3 runs")
    cells = table_rows(markdown([row], "conditions"))["fidelity"]
    assert cells[3] == "1.030" and cells[5] == row.load, "the load is a column of the table"
