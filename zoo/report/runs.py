"""The runs and their series (one model in one run: a row of every table, a mark on every chart), read from each
run's ``results.json``; and the notices the page opens with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.context import reference_hardware
from zoo.leaderboard import row as leaderboard_row
from zoo.leaderboard import sort_key
from zoo.report import charts, fmt
from zoo.results import ModelResult, RunResults, Status

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#b07aa1",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#7f7f7f",
)
SHAPES = ("circle", "square", "diamond", "triangle")
OK, NO_WEIGHTS, FAILED = Status.OK.value, Status.NO_WEIGHTS.value, Status.FAILED.value


@dataclass(frozen=True)
class RunSource:
    """One run to report: its ``results.json`` and the folder it came from (None: only the results are known)."""

    results: RunResults
    directory: Path | None = None


@dataclass
class Run:
    index: int
    label: str
    shape: str
    context: dict[str, Any]
    directory: Path | None
    local: bool  # the run folder is the report's folder: its files can be linked
    summary: str
    counts: dict[str, int]
    finished: bool
    hardware: dict[str, Any]  # what its rows' hardware is compared with (`zoo.context.reference_hardware`)


@dataclass
class Series:
    """One model in one run: a row of every table and a mark on every chart, in one colour throughout."""

    key: str
    run: Run
    model: str
    label: str
    color: str
    status: str
    reason: str
    untrained: bool
    row: dict[str, Any]
    result: ModelResult

    @property
    def mark(self) -> charts.Mark:
        return charts.Mark(self.key, self.label, self.color, self.run.shape)

    @property
    def family(self) -> str:
        return str(self.result.family or "")


@dataclass
class Notice:
    level: str  # "warn", "info"
    text: str


def read_runs(sources: Sequence[RunSource], out_dir: Path | None) -> list[Run]:
    """A `Run` per source; ``out_dir`` is where the page will live (a run folder there is ``local``)."""
    labels = run_labels([s.directory for s in sources])
    runs = []
    for index, (source, label) in enumerate(zip(sources, labels)):
        models = source.results.models
        context = _with_model_versions(source.results.context, models)
        counts = {status: sum(1 for m in models if m.status == status) for status in (OK, NO_WEIGHTS, FAILED)}
        local = (
            source.directory is not None
            and out_dir is not None
            and source.directory.resolve() == Path(out_dir).resolve()
        )
        runs.append(
            Run(
                index=index,
                label=label,
                shape=SHAPES[index % len(SHAPES)],
                context=context,
                directory=source.directory,
                local=local,
                summary=_run_summary(context),
                counts=counts,
                finished="finished" in context,
                hardware=reference_hardware(
                    context.get("hardware") or {}, [m.host.to_dict() if m.host else None for m in models]
                ),
            )
        )
    return runs


def _with_model_versions(context: dict[str, Any], models: list[ModelResult]) -> dict[str, Any]:
    """The run's context with each model's own runtime (``info.versions`` of its result: onnxruntime, OpenCV, ...)
    beside the library versions the run recorded, as ``versions.models`` — for the page only."""
    runtimes = {}
    for model in models:
        versions = model.info.versions
        if isinstance(versions, dict) and versions:
            runtimes[model.id] = ", ".join(f"{name} {version}" for name, version in versions.items())
    if not runtimes:
        return context
    return {**context, "versions": {**(context.get("versions") or {}), "models": runtimes}}


def run_labels(directories: Sequence[Path | None]) -> list[str]:
    """A short, distinct name per run: its folder's name, with its parent's where two are alike, then a number."""
    paths = [d.resolve() if d is not None else None for d in directories]
    names = [p.name if p is not None else f"run {n + 1}" for n, p in enumerate(paths)]
    labels = [
        f"{p.parent.name}/{name}" if p is not None and names.count(name) > 1 else name for p, name in zip(paths, names)
    ]
    return [f"{label} ({n + 1})" if labels.count(label) > 1 else label for n, label in enumerate(labels)]


def _run_summary(context: dict[str, Any]) -> str:
    dataset, hardware = context.get("dataset") or {}, context.get("hardware") or {}
    parts = []
    if dataset:
        parts.append(
            f"{dataset.get('name', '?')} · {dataset.get('images', '?')} images · {dataset.get('boxes', '?')} boxes"
        )
    machine = [str(hardware[k]) for k in ("device", "gpu", "cpu") if hardware.get(k)]
    if hardware.get("torch_threads"):
        threads = hardware["torch_threads"]
        machine.append(f"{threads} thread{'' if threads == 1 else 's'}")
    if machine:
        parts.append(" · ".join(machine))
    if context.get("started"):
        parts.append(str(context["started"]).replace("T", " ").replace("+00:00", " UTC"))
    return " — ".join(parts)


def subtitle(runs: list[Run], series: list[Series]) -> str:
    if len(runs) == 1:
        return runs[0].summary
    return f"{len(runs)} runs, {len(series)} results"


def read_series(runs: list[Run], sources: Sequence[RunSource]) -> list[Series]:
    """Every model of every run, in leaderboard order (a model's results together, at its best place)."""
    entries = []
    for run, source in zip(runs, sources):
        for result in source.results.models:
            entries.append((run, result, leaderboard_row(result, run.context.get("hardware"))))
    best: dict[str, tuple] = {}
    for run, _, row in entries:
        key = (sort_key(row), run.index)
        if row["model"] not in best or key < best[row["model"]]:
            best[row["model"]] = key
    entries.sort(key=lambda e: (best[e[2]["model"]], e[0].index))
    colors: dict[str, str] = {}
    multi = len(runs) > 1
    series = []
    for n, (run, result, row) in enumerate(entries):
        model = result.id
        colors.setdefault(model, PALETTE[len(colors) % len(PALETTE)])
        series.append(
            Series(
                key=f"s{n}",
                run=run,
                model=model,
                label=f"{model} · {run.label}" if multi else model,
                color=colors[model],
                status=str(result.status),
                reason=_reason(result),
                untrained=result.untrained,
                row=row,
                result=result,
            )
        )
    return series


def _reason(result: ModelResult) -> str:
    """Why this row lacks numbers, in one line: the failure or the missing weights, then the notes."""
    parts = [str(text) for text in (result.reason, result.notes) if text]
    return " — ".join(parts)


def gap_notices(series: list[Series]) -> list[Notice]:
    """A line for each model whose measured AP is more than 1 AP point from the published one, with the causes."""
    notices = []
    for s in series:
        check = s.result.reproduction or {}
        if check.get("flagged"):
            notices.append(
                Notice(
                    "warn",
                    f"{s.label}: AP {check['measured']:.3f} measured, {check['published']:.3f} published "
                    f"({fmt.points(check['gap'])} points on {check['benchmark']}): {s.row['reproduction']}",
                )
            )
    return notices


def run_notices(runs: list[Run]) -> list[Notice]:
    """What the reader should know first: an unfinished run, plugin problems, runs that are not alike."""
    notices = []
    for run in runs:
        prefix = f"{run.label}: " if len(runs) > 1 else ""
        if not run.finished:
            notices.append(
                Notice(
                    "warn", f"{prefix}the run has not finished (or was interrupted); the models that finished are shown"
                )
            )
        for line in run.context.get("plugin_problems") or []:
            notices.append(Notice("warn", f"{prefix}plugin problem: {line}"))
        for line in (run.context.get("dataset") or {}).get("warnings") or []:
            notices.append(Notice("info", f"{prefix}dataset: {line}"))
        benchmark = (run.context.get("dataset") or {}).get("benchmark")
        if benchmark:
            subset = benchmark["subset"] and f"; a subset, {benchmark['subset']}: gaps to published AP are indicative"
            notices.append(
                Notice(
                    "info",
                    f"{prefix}{benchmark['title']} ({benchmark['homepage']}); licence: {benchmark['licence']}; "
                    f"cite: {benchmark['citation']}{subset or ''}",
                )
            )
    fingerprints = {(r.context.get("dataset") or {}).get("fingerprint") for r in runs}
    if len(fingerprints) > 1:
        notices.append(
            Notice(
                "warn",
                "these runs scored different data (dataset fingerprints differ): compare their accuracy with care",
            )
        )
    if len(runs) > 1:
        differing = []
        for group in ("settings", "hardware", "versions"):
            tables = [r.context.get(group) or {} for r in runs]
            measured = ("models", "peak_gflops", "peak_method")  # each run measures its own peak: not a difference
            keys = sorted({k for t in tables for k in t if k not in measured})
            differing += [f"{group}.{k}" for k in keys if any(t.get(k) != tables[0].get(k) for t in tables)]
        if differing:
            notices.append(Notice("info", "the runs differ in " + ", ".join(differing) + " (see the run context)"))
    return notices
