"""Fetching on the command line: a progress bar per file while it transfers (name, size, rate, time left), and a
line for each file fetched or not."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress

from zoo.cli.common import console
from zoo.fetch import FAILED, FETCHED, Outcome, Progress, ensure
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
        self.task = self.bar.add_task(f"  fetching {escape(name)}", total=total, completed=done)

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=count)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def say(outcome: Outcome) -> None:
    """One line for a file that was fetched or could not be."""
    file = outcome.file
    if outcome.state == FETCHED:
        rate = f", {size(round(outcome.bytes / outcome.seconds))}/s" if outcome.seconds > 0 and outcome.bytes else ""
        where = f" → {outcome.path}" if outcome.path else ""
        console.print(
            f"  fetched {file.name} ({size(outcome.bytes)} in {outcome.seconds:.1f} s{rate}){where}", markup=False
        )
        if outcome.detail:
            console.print(f"  zoo: warning: {file.name}: {outcome.detail}", markup=False)
    elif outcome.state == FAILED:
        console.print(f"  zoo: warning: could not fetch {file.name}: {outcome.detail}", markup=False)


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
