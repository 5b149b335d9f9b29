"""Run overhead: ``zoo run`` wall time ÷ the time inside the models — how much of a run is zoo (worker start-up,
imports, drawing the dataset, checking outputs, scoring, writing the run folder) rather than the models.

``zoo run --data shapes`` runs as a user runs it (a subprocess, worker processes, offline), every selected model
given ``--weights ID=untrained``: an untrained copy that goes through the whole protocol as a model with weights
does (the accuracy pass and its scoring included), so no weights are needed. The wall time is taken around the
subprocess. The time inside the models is the sum of each result's ``in_model_s`` (the seconds the runner clocks
inside the model's ``load`` and ``predict`` calls); where results.json has none, an estimate from what it records
(load, first call, warm-up, timed calls), said so in the row.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.catalogue import selected_ids
from bench.process import run_zoo
from bench.table import Row, missing_row, seconds
from zoo.runfolder import RESULTS, read_results

TITLE = "run overhead"
GOAL = 1.10
HOW = (
    "`zoo run` wall time (a subprocess, worker processes) ÷ the seconds inside the models' load and predict calls "
    "(results.json `in_model_s`), every model an untrained copy run as with weights"
)
MODELS = "reference-blobs,centre-box,ssdlite320_mobilenet_v3_large,yolov8n,yolos-tiny"
QUICK_MODELS = "reference-blobs,centre-box"
DATA, QUICK_DATA = "shapes", "shapes:count=6,size=96x80"
SPEED_BUDGET = "5"  # seconds of extra timing calls a model may spend (and again on batches)


def measure(quick: bool = False, models: str | None = None, **_: Any) -> Row:
    spec = models or (QUICK_MODELS if quick else MODELS)
    ids = selected_ids(spec)
    data = QUICK_DATA if quick else DATA
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        out = Path(folder) / "run"
        untrained = [arg for model_id in ids for arg in ("--weights", f"{model_id}=untrained")]
        args = ["run", "--data", data, "--models", ",".join(ids), "--out", str(out), "--speed-budget", SPEED_BUDGET]
        finished = run_zoo([*args, *untrained])
        if not (out / RESULTS).is_file():
            last = (finished.stderr_tail.strip().splitlines() or ["no output"])[-1]
            return missing_row(TITLE, GOAL, HOW, f"zoo run wrote no results (exit {finished.returncode}): {last}")
        results = read_results(out).to_dict()["models"]
    inside, source = time_inside(results)
    if not inside:
        return missing_row(TITLE, GOAL, HOW, "results.json records no time inside the models")
    return Row(
        TITLE,
        f"{seconds(finished.wall_s)} wall",
        f"{seconds(inside)} in models",
        finished.wall_s / inside,
        GOAL,
        HOW if source == "in_model_s" else f"{HOW}; {source}",
        details=_details(results, finished.wall_s, inside, data, finished.returncode),
    )


def time_inside(results: list[dict[str, Any]]) -> tuple[float, str]:
    """Seconds inside the models, and where the figure comes from."""
    if results and all(result.get("in_model_s") is not None for result in results):
        return sum(result["in_model_s"] for result in results), "in_model_s"
    estimate = sum(_estimate(result) for result in results)
    return estimate, (
        "ESTIMATED: results.json has no `in_model_s`; load_s + first call + warm-up + timed calls, without the "
        "accuracy pass's calls (an underestimate, so the ratio is too high)"
    )


def _estimate(result: dict[str, Any]) -> float:
    speed = result.get("speed") or {}
    samples = (speed.get("latency_samples_ms") or {}).get("total") or []
    spent = (result.get("load_s") or 0.0) + (result.get("first_call_s") or 0.0) + sum(samples) / 1000.0
    if samples:
        spent += max((speed.get("warmup_calls") or 1) - 1, 0) * speed["latency_ms"]["total"]["median"] / 1000.0
    if speed.get("images_per_s_batch"):
        calls = speed["batch_calls"] + 1  # and the untimed first batch
        spent += calls * speed["batch_size"] / speed["images_per_s_batch"]
    return spent


def _details(results: list[dict[str, Any]], wall: float, inside: float, data: str, code: int) -> list[str]:
    phases: dict[str, float] = {}
    for result in results:
        for phase, spent in (result.get("phases_s") or {}).items():
            phases[phase] = phases.get(phase, 0.0) + spent
    statuses = ", ".join(f"{result['id']} {result['status']}" for result in results)
    lines = [f"`--data {data}`, {len(results)} model(s): {statuses}; exit status {code}"]
    if phases:
        evaluated = sum(phases.values())
        split = ", ".join(f"{phase} {spent:.1f} s" for phase, spent in phases.items())
        lines.append(
            f"wall {wall:.1f} s = {evaluated:.1f} s in the models' evaluations ({split}) + {wall - evaluated:.1f} s "
            f"outside them; inside the models {seconds(inside)}"
        )
        lines.append(_outside(results, wall - evaluated))
    return lines


def _outside(results: list[dict[str, Any]], outside: float) -> str:
    """Where the seconds outside the evaluations go: the workers' birth (start asked → their main runs: a fork from
    the preloaded server, or a fresh interpreter importing everything), their setup (plugins, seeds) and hand-back
    (result written → read), and the rest in zoo's own process (its start-up and imports, the dataset, the fork
    server's start, merging, scoring summaries, writing the run folder)."""
    from zoo.workers import start_method

    parts = {"birth": 0.0, "setup": 0.0, "hand_back": 0.0}
    for result in results:
        for name, spent in (result.get("worker_s") or {}).items():
            if name in parts and spent is not None:
                parts[name] += spent
    workers = sum(parts.values())
    split = ", ".join(f"{name.replace('_', '-')} {spent:.1f} s" for name, spent in parts.items())
    return (
        f"outside {outside:.1f} s = workers ({start_method()}) {workers:.1f} s ({split}) + zoo's own process "
        f"{outside - workers:.1f} s (start-up, imports, dataset, scoring summaries, writing)"
    )
