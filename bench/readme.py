"""README.md's bench section is bench/latest.md, copied between two markers: the README never quotes a figure the
bench did not write (tests/test_bench.py fails when they differ)."""

from __future__ import annotations

from pathlib import Path

from bench.table import ROOT

README = ROOT / "README.md"
BEGIN, END = "<!-- bench -->", "<!-- /bench -->"


def section(text: str) -> str:
    """What stands between the markers in ``text`` (README.md's), without the newlines around it."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"README.md has no {BEGIN} … {END} section")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def write(latest: str, readme: Path = README) -> None:
    """Put ``latest`` (bench/latest.md's text) between README.md's markers."""
    text = readme.read_text(encoding="utf-8")
    section(text)  # the markers are there
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{BEGIN}\n{latest.strip()}\n{END}{after}", encoding="utf-8")
