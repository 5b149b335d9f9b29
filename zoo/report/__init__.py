"""The HTML report: plain data first (`page_data`), rendering second (jinja2, autoescaped, templates shipped as
package data). Self-contained: one file, no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from zoo.files import atomic_write
from zoo.leaderboard import COLUMNS, rows

TEMPLATES = Path(__file__).parent / "templates"
HEADLINE = (
    "model",
    "family",
    "status",
    "mean_iou",
    "localized_50",
    "map",
    "map50",
    "map75",
    "latency_ms_p50",
    "latency_ms_p95",
    "images_per_s",
    "params_m",
    "gflops",
    "weights",
    "reason",
)


def page_data(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the page shows, as plain values."""
    return {
        "runs": [
            {
                "context": run.get("context", {}),
                "columns": HEADLINE,
                "rows": rows(run),
                "all_columns": COLUMNS,
            }
            for run in runs
        ]
    }


def render(runs: list[dict[str, Any]]) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["cell"] = _cell
    return environment.get_template("index.html").render(**page_data(runs))


def write_report(runs: list[dict[str, Any]], out_dir: Path) -> Path:
    path = out_dir / "index.html"
    atomic_write(path, render(runs))
    return path


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
