"""Fetching on the command line: a progress bar per file while it transfers or unpacks (name, size, rate, time
left), and a line for each file fetched or not."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress

from zoo.console import console, safe
from zoo.data.benchmarks import Benchmark, fetch, missing
from zoo.fetch import FAILED, FETCHED, PRESENT, Outcome, Progress, config, ensure
from zoo.report.fmt import size
from zoo.weights import Need


class Bars(Progress):
    """One bar per file while it transfers; on a console that is not a terminal, only the lines `say` prints."""

    def __init__(self) -> None:
        self.bar: RichProgress | None = None
        self.task = None

    def begin(self, name: str, total: int | None, done: int = 0) -> None:
        self.end()
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        columns += (TransferSpeedColumn(), TimeRemainingColumn())
        self.bar = RichProgress(*columns, console=console, transient=True, disable=not console.is_terminal)
        self.bar.start()
        self.task = self.bar.add_task(f"  fetching {escape(safe(name))}", total=total, completed=done)

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=count)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def say(outcome: Outcome) -> None:
    """One line for a file that was fetched or could not be (names and causes come from catalogues and servers)."""
    name, detail = safe(outcome.file.name), safe(outcome.detail)
    if outcome.state == FETCHED:
        rate = f", {size(round(outcome.bytes / outcome.seconds))}/s" if outcome.seconds > 0 and outcome.bytes else ""
        where = f" → {safe(outcome.path)}" if outcome.path else ""
        console.print(f"  fetched {name} ({size(outcome.bytes)} in {outcome.seconds:.1f} s{rate}){where}", markup=False)
        if outcome.detail:
            console.print(f"  zoo: warning: {name}: {detail}", markup=False)
    elif outcome.state == PRESENT and outcome.detail:
        console.print(f"  zoo: note: {name}: {detail}", markup=False)
    elif outcome.state == FAILED:
        console.print(f"  zoo: warning: could not fetch {name}: {detail}", markup=False)


def fetch_benchmark(benchmark: Benchmark) -> None:
    """The benchmark fetched and unpacked when it is not here (a `ZooError` with the cause when it cannot be)."""
    if not missing(benchmark) or config.offline():
        return  # offline, reading it says what is missing and how to get it
    console.print(
        f"zoo: fetching {benchmark.name} ({size(benchmark.download_bytes)}: "
        f"{', '.join(archive.name for archive in benchmark.archives)}) into {benchmark.folder()}",
        markup=False,
    )
    console.print(f"  licence: {benchmark.licence}", markup=False)
    if benchmark.checks:
        console.print(f"  checks: {benchmark.checks}", markup=False)
    bars = Bars()
    try:
        outcomes = fetch(benchmark, bars)
    finally:
        bars.end()
    for outcome in outcomes:
        say(outcome)
    console.print(f"  unpacked {benchmark.name} ({benchmark.licence}; cite: {benchmark.citation})", markup=False)


def fetch_needs(needs: list[Need]) -> list[Outcome]:
    """Each file present and intact, or fetched, or failed with its cause (one failure never stops the rest)."""
    bars = Bars()
    outcomes = []
    for need in needs:
        outcome = ensure(need.file, bars)
        bars.end()
        say(outcome)
        outcomes.append(outcome)
    return outcomes
