"""What ``zoo run`` prints: a line per model as it finishes, the closing leaderboard (with the reproduction check
on a benchmark), and the exit status."""

from __future__ import annotations

import platform

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from zoo.cli.common import cell, console, safe
from zoo.context import describe_host
from zoo.results import ModelResult, RunResults, Status


def exit_status(results: RunResults, selected: list[str], strict: bool) -> int:
    """0 when every selected model has a result; 1 when one failed or timed out (with ``--strict``, also when one
    had no weights), with a line naming them — so a CI job notices a broken plugin."""

    def bad(status: Status) -> bool:
        return status.broken or (strict and status == Status.NO_WEIGHTS)

    failed = [safe(r.id) for r in results.models if r.id in selected and bad(r.status)]
    if not failed:
        return 0
    console.print(
        f"zoo: {len(failed)} of {len(selected)} model(s) {'did not pass' if strict else 'failed'}: "
        f"{', '.join(failed)}; their reasons are above, their logs in logs/ (exit status 1)",
        markup=False,
    )
    return 1


def print_result(result: ModelResult) -> None:
    status = result.status
    colour = {Status.OK: "green", Status.NO_WEIGHTS: "yellow", Status.UNSUPPORTED: "yellow"}.get(status, "red")
    reason = f" — {result.reason}" if result.reason else ""
    console.print(f"  [{colour}]{status.value:>10}[/] {escape(safe(result.id + reason))}")
    speed = result.missing.get("speed")
    host = result.host.to_dict() if result.host else {}
    elsewhere = host.get("hostname") not in (None, platform.node()) and f"ran on {describe_host(host)}"
    for line in filter(None, [result.notes, speed and f"no speed: {speed}", elsewhere]):
        console.print(f"             {safe(line)}", markup=False)


def print_leaderboard(results: RunResults) -> None:
    from zoo.leaderboard import rows

    columns = {"model": "model", "status": "status", "mean_iou": "IoU", "map": "AP", "map50": "AP50"}
    board = rows(results)
    if any(row["ap_gap"] is not None for row in board):  # a benchmark with published numbers: the reproduction check
        columns = {"model": "model", "status": "status", "map": "AP", "published_map": "published", "ap_gap": "gap"}
        columns["mean_iou"] = "IoU"
    columns |= {"latency_ms_p50": "p50 ms", "images_per_s": "img/s"}
    table = Table(title="leaderboard")
    for key, header in columns.items():
        table.add_column(header, no_wrap=key == "model", justify="left" if key in ("model", "status") else "right")
    for row in board:
        table.add_row(*(Text(_points(row[c]) if c == "ap_gap" else cell(row[c])) for c in columns))
    if console.is_terminal:
        console.print(table)
    else:  # a log: wide enough for every column whole (rich would squeeze them into 80 characters)
        width, console.width = console.width, max(console.width, 160)
        try:
            console.print(table)
        finally:
            console.width = width
    for row in board:
        if row["reproduction"]:
            console.print(
                f"  {safe(row['model'])}: {_points(row['ap_gap'])} AP points: {safe(row['reproduction'])}", markup=False
            )
    line = time_split(results)
    if line:
        console.print(line, markup=False)


def time_split(results: RunResults) -> str:
    """Where the run's time went, in one line: inside the models (their load and predict calls) against the whole,
    and what timing cost on top of the accuracy pass (for the models that had one)."""
    started, duration = results.context.get("started") or "", results.context.get("duration_s")
    models = [m for m in results.models if m.phases_s and (m.finished or "") >= started]
    if not models or not duration:  # (a resumed run counts the models it ran itself)
        return ""
    inside = sum(m.in_model_s or 0 for m in models)
    parts = [f"time: {_s(duration)}; in the models' load and predict calls {_s(inside)} ({inside / duration:.0%})"]
    scored = [m.phases_s for m in models if m.phases_s and "predict" in m.phases_s]
    accuracy = sum(p.get("predict", 0) + p.get("score", 0) for p in scored)
    timing = sum(p.get("warm_up", 0) + p.get("speed", 0) for p in scored)
    if accuracy:
        parts.append(
            f"timing (warm-up and speed) {_s(timing)} on top of {_s(accuracy)} of accuracy passes "
            f"({timing / accuracy:.2f}×, {len(scored)} model(s))"
        )
    return "; ".join(parts)


def _s(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _points(value: float | None) -> str:
    from zoo.report.fmt import points

    return "" if value is None else points(value)
