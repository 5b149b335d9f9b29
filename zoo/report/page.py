"""What the report shows, as plain data: the page is built here from ``results.json`` (and the files beside it),
then rendered by the templates. Nothing here writes markup or escapes text; the templates do both.

Each section is built in its own module: `runs` (the runs, their series, the notices), `leaderboards` (the cards
and tables), `figures` (the charts and the per-class table), `gallery`, and `details` (each model, the context,
the catalogue entries, the files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zoo.report import charts, details, figures, leaderboards, robustness
from zoo.report.details import ContextGroup, Detail, Entry, Fact
from zoo.report.figures import PerClass
from zoo.report.gallery import ASSETS_DIR, Gallery, galleries
from zoo.report.leaderboards import Card, Table
from zoo.report.runs import (
    Notice,
    Run,
    RunSource,
    Series,
    gap_notices,
    read_runs,
    read_series,
    run_labels,
    run_notices,
    subtitle,
)
from zoo.runtimes import view as runtime_view

# what other modules import from here
__all__ = ["ASSETS_DIR", "Page", "RunSource", "build_page", "run_labels"]


@dataclass
class Page:
    title: str
    subtitle: str
    runs: list[Run]
    series: list[Series]
    notices: list[Notice]
    cards: list[Card]
    tables: list[Table]
    tradeoff: list[charts.ScatterChart]
    tradeoff_note: str
    latency: charts.LatencyChart | None
    per_class: PerClass | None
    pr: list[charts.LineChart]
    pr_without: list[tuple[Series, str]]
    galleries: list[Gallery]
    details: list[Detail]
    context: list[ContextGroup]
    entries: list[Entry] = field(default_factory=list)
    files: list[Fact] = field(default_factory=list)
    robustness: robustness.Section | None = None  # zoo run --corruptions
    runtimes: list = field(default_factory=list)  # zoo.runtimes.view: each model's runtime rows side by side

    @property
    def multi(self) -> bool:
        return len(self.runs) > 1


def build_page(sources: Sequence[RunSource], out_dir: Path | None = None) -> Page:
    """Everything the page shows. ``out_dir`` is where the page will live: thumbnails of runs kept elsewhere are
    copied under it (``report-assets/``) so the folder holds all it links to."""
    runs = read_runs(sources, out_dir)
    series = read_series(runs, sources)
    tradeoff, tradeoff_note = figures.tradeoff(series)
    pr, pr_without = figures.pr(series)
    return Page(
        title="zoo report",
        subtitle=subtitle(runs, series),
        runs=runs,
        series=series,
        notices=run_notices(runs) + gap_notices(series),
        cards=leaderboards.headline(series),
        tables=leaderboards.tables(series),
        tradeoff=tradeoff,
        tradeoff_note=tradeoff_note,
        latency=figures.latency(series),
        per_class=figures.per_class_table(series, sources),
        pr=pr,
        pr_without=pr_without,
        galleries=galleries(runs, series, out_dir),
        details=details.model_details(series),
        context=details.run_context(runs),
        entries=details.catalogue_entries(runs, sources),
        files=details.run_files(runs),
        robustness=robustness.section(series),
        runtimes=runtime_view.build(series),
    )
