"""The HTML report: plain data first (`page.build_page` turns results into dataclasses), rendering second (jinja2
templates with autoescape, shipped as package data).

Self-contained: one ``index.html`` with its styles, script and charts (inline SVG) inlined; the only other files it
uses are the gallery's thumbnails, inside the same folder. It makes no network request.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from zoo.files import atomic_write
from zoo.report import fmt
from zoo.results import RunResults

if TYPE_CHECKING:
    import jinja2

    from zoo.report.page import Page

Results = RunResults | dict[str, Any]
"""A run's results: typed, or as results.json holds them."""

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

__all__ = ["RunSource", "build_page", "page_data", "render", "write_report"]


def __getattr__(name: str) -> Any:
    """The page model (`zoo.report.page`, with pandas and every chart) is imported when first used, not with the
    package: `zoo.report.fmt`, which the CLI's commands use, stays light, and so does a worker's start."""
    if name in ("RunSource", "build_page"):
        from zoo.report import page

        return getattr(page, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def page_data(
    runs: Sequence[Results], run_dirs: Sequence[Path | None] | None = None, out_dir: Path | None = None
) -> Page:
    """Everything the page shows, as plain values (dataclasses)."""
    from zoo.report.page import RunSource, build_page

    dirs = list(run_dirs) if run_dirs is not None else [None] * len(runs)
    typed = [results if isinstance(results, RunResults) else RunResults.from_dict(results) for results in runs]
    return build_page([RunSource(results, directory) for results, directory in zip(typed, dirs)], out_dir)


@functools.cache
def _environment() -> jinja2.Environment:
    """One per process: its templates are compiled once, not at every report a run writes after each model."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["plain"] = fmt.plain
    environment.filters["breakable"] = _breakable
    return environment


def _breakable(text: object) -> Markup:
    """Escaped text that may wrap after ``_ - . /`` (long model ids in narrow table cells)."""
    parts = re.split(r"(?<=[_\-./])", str(text))
    return Markup("<wbr>").join(escape(part) for part in parts)


def render_page(page: Page) -> str:
    static = {name: Markup(_static(name)) for name in ("report.css", "report.js")}
    return _environment().get_template("index.html").render(page=page, static=static)


def render(runs: Sequence[Results], run_dirs: Sequence[Path | None] | None = None, out_dir: Path | None = None) -> str:
    return render_page(page_data(runs, run_dirs, out_dir))


def write_report(runs: Sequence[Results], out_dir: Path, run_dirs: Sequence[Path | None] | None = None) -> Path:
    """Write ``out_dir/index.html`` for ``runs`` (read from ``run_dirs``, where their predictions, ground truth and
    thumbnails are); thumbnails of runs kept elsewhere are copied under ``out_dir/report-assets``."""
    from zoo.report.page import ASSETS_DIR

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir / ASSETS_DIR, ignore_errors=True)
    path = out_dir / "index.html"
    atomic_write(path, render(runs, run_dirs, out_dir))
    return path


def _static(name: str) -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    # inlined into <style> / <script>: a closing tag inside would end the element early
    return text.replace("</", "<\\/")
