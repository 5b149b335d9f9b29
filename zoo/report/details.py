"""The lower half of the page: each model's details, the run's context, the catalogue entries and the run's files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.context import describe_host, other_hardware
from zoo.flops import CATALOGUE, CATALOGUE_IMAGE, DECLARED
from zoo.report import fmt
from zoo.report.gallery import inside
from zoo.report.runs import Run, RunSource, Series
from zoo.results import FetchRecord, Info, Labels, ModelResult, Speed


@dataclass
class Fact:
    label: str
    value: str
    href: str | None = None


@dataclass
class Detail:
    series: Series
    facts: list[Fact]
    traceback: str


@dataclass
class ContextRow:
    key: str
    values: list[str]
    differs: bool


@dataclass
class ContextGroup:
    title: str
    rows: list[ContextRow]


@dataclass
class Entry:
    """A catalogue entry as the run recorded it."""

    run: str
    id: str
    plugin: str
    model: str
    weights: str
    options: str
    notes: str


def model_details(series: list[Series]) -> list[Detail]:
    """What each model is, what it was given and what happened to it."""
    return [Detail(s, _facts(s), s.result.traceback or "") for s in series]


def _facts(s: Series) -> list[Fact]:
    r = s.result
    info, speed = r.info, r.speed
    facts = [
        Fact("status", s.status),
        Fact("family", fmt.plain(r.family)),
        Fact("plugin", fmt.plain(r.plugin)),
        Fact("framework", fmt.plain(r.framework)),
        Fact("weights", fmt.plain(r.weights)),
        Fact("licence", _licence(r)),
        *_fetch_facts(r.fetch or [], _mirror(s.run)),
        Fact("input size", fmt.plain(info.input_size)),
        Fact("parameters", fmt.whole(info.num_params)),
        Fact("GFLOPs", _gflops(info)),
    ]
    if info.versions:
        facts.append(Fact("runtime", fmt.plain(info.versions)))
    facts += _published_facts(r.published, r.reproduction)
    if info.settings:
        facts.append(Fact("model settings", fmt.plain(info.settings)))
    if r.prompts:
        facts += _prompt_facts(r.prompts)
    facts += _label_facts(r.labels)
    if not speed.empty():
        batches = f", {speed.batch_calls} at batch {speed.batch_size}" if speed.batch_calls else ""
        facts.append(
            Fact(
                "timing",
                f"{_or_unknown(speed.warmup_calls)} warm-up calls, {_or_unknown(speed.timed_calls)} timed at batch 1"
                + batches
                + (" (stopped by the speed budget)" if speed.stopped_by_budget else "")
                + _interval(speed),
            )
        )
    if r.load_s is not None:
        facts.append(Fact("load time", f"{fmt.significant(r.load_s)} s"))
    if r.first_call_s is not None:
        facts.append(Fact("first call after loading", f"{fmt.ms(r.first_call_s * 1000)} ms"))
    if r.phases_s:
        facts.append(Fact("where the time went", _phases(r.phases_s, r.in_model_s)))
    if r.host:
        facts.append(Fact("ran on", _host(r.host.to_dict(), s.run.hardware)))
    if r.shards:
        facts.append(Fact("shards", _shards(r.shards)))
    for what, why in r.missing.items():
        facts.append(Fact(f"no {what}", str(why)))
    if r.notes:
        facts.append(Fact("notes", r.notes))
    if r.reason:
        facts.append(Fact("reason", r.reason))
    if s.run.local and s.run.directory is not None and inside(s.run.directory, r.predictions_file):
        facts.append(Fact("predictions", str(r.predictions_file), href=str(r.predictions_file)))
    return facts


def _or_unknown(value: Any) -> str:
    return "?" if value is None else str(value)


def _prompt_facts(prompts: dict[str, Any]) -> list[Fact]:
    """An open-vocabulary model's prompts (``result.prompts``): the template, the chunks, the text encoding's
    one-off cost, and the prompts themselves."""
    template = str(prompts.get("template"))
    asked = prompts.get("asked_template")
    origin = "--prompt-template" if asked else "the model's default"
    chunks = prompts.get("chunks")
    seconds = prompts.get("text_encoding_s")
    facts = [
        Fact(
            "prompt template",
            f"{template!r} ({origin}), {prompts.get('classes')} classes"
            + (f" in {chunks} chunks" if chunks and chunks > 1 else ""),
        ),
        Fact(
            "text encoding",
            (f"{fmt.ms(seconds * 1000)} ms once per run" if seconds is not None else "not measured")
            + (f"; {prompts['text_encoder']}" if prompts.get("text_encoder") else ""),
        ),
        Fact("prompts", fmt.plain(prompts.get("prompts"))),
    ]
    if prompts.get("truncated"):
        facts.append(Fact("prompts cut to the text encoder's length", fmt.plain(prompts["truncated"])))
    return facts


PHASES = {"load": "load", "warm_up": "warm-up", "describe": "FLOP count", "predict": "accuracy pass",
          "score": "scoring", "speed": "speed timing", "text_encoding": "text encoding"}  # fmt: skip


def _phases(phases: dict[str, float], in_model: float | None) -> str:
    """The model's wall time by phase, and how much of it was inside its own load and predict calls."""
    parts = [f"{PHASES.get(name, name)} {fmt.significant(seconds)} s" for name, seconds in phases.items()]
    total = sum(phases.values())
    if in_model is not None and total:
        parts.append(f"{in_model / total:.0%} of the {fmt.significant(total)} s inside the model's own calls")
    return ", ".join(parts)


def _host(record: dict[str, Any], reference: dict[str, Any]) -> str:
    """The machine it ran on, its threads, and whether that is other hardware than the rest of the run's."""
    threads = record.get("threads")
    text = describe_host(record) + (f", {threads} thread{'' if threads == 1 else 's'}" if threads else "")
    return text + (" — other hardware than the rest of the run" if other_hardware(record, reference) else "")


def _shards(shards: list[dict[str, Any]]) -> str:
    """How the accuracy pass was split (``--shards``): images per shard and where each ran; speed from the first."""
    parts = [f"{s.get('images')} images on {(s.get('host') or {}).get('hostname') or '?'}" for s in shards]
    return f"the accuracy pass in {len(shards)} shards ({'; '.join(parts)}), merged and scored once; timed on shard 1"


def _gflops(info: Info) -> str:
    """GFLOPs of one forward pass: counted by torch on the run's first image, as the plugin declares them, or the
    catalogue's count where none was counted in the run."""
    value = fmt.one_decimal(info.gflops)
    if info.gflops is not None and info.gflops_source == DECLARED:
        return f"{value} (declared by the plugin)"
    if info.gflops is not None and info.gflops_source == CATALOGUE:
        return f"{value} on a {CATALOGUE_IMAGE} image (the catalogue's count; none was counted in this run)"
    return f"{value} on a {info.gflops_image or '?'} image"


def _label_facts(labels: Labels) -> list[Fact]:
    """How the model's labels were joined to the dataset's classes."""
    if labels.empty():
        return []
    facts = []
    if labels.class_agnostic:
        facts.append(Fact("labels", "class-agnostic: boxes only"))
    else:
        mapped = labels.mapped or {}
        facts.append(
            Fact(
                "labels",
                f"{len(labels.space or [])} in its label space, {len(mapped)} joined to dataset "
                f"classes: {fmt.plain([f'{k}→{v}' for k, v in mapped.items()])}",
            )
        )
        if labels.dropped:
            facts.append(Fact("predictions of other classes", fmt.plain(labels.dropped)))
    if labels.predictions is not None:
        facts.append(Fact("predictions", fmt.whole(labels.predictions)))
    return facts


def _interval(speed: Speed) -> str:
    """The 95% interval of the median latency and why timing stopped, for the timing fact."""
    interval, halfwidth = speed.median_ci_ms, speed.ci_halfwidth
    if not interval or halfwidth is None:
        return ""
    low, high = (fmt.ms(value) for value in interval)
    why = {"precision": "precise enough", "iters": "--iters reached", "budget": "budget spent"}
    stop = why.get(speed.latency_stop or "", speed.latency_stop or "")
    return f"; median ±{100 * halfwidth:.1f}% (95% interval {low}–{high} ms){f', stopped: {stop}' if stop else ''}"


def _published_facts(number: dict[str, Any] | None, check: dict[str, Any] | None) -> list[Fact]:
    """The published AP with its benchmark, source and protocol; the reproduction check where the run allows one."""
    if not number:
        return []
    protocol = f"; protocol: {fmt.plain(number['protocol'])}" if number.get("protocol") else ""
    where = f"{number.get('split', '?')} ({fmt.plain(number.get('source'))}{protocol})"
    facts = [Fact("published AP", f"{fmt.score(number['box_ap'])} on {where}")]
    if check:
        causes = "; ".join(check["causes"]) or "none zoo can see"
        verdict = "gap over 1 AP point" if check["flagged"] else "within 1 AP point"
        facts.append(
            Fact(
                "reproduction",
                f"measured {fmt.score(check['measured'])}, {fmt.points(check['gap'])} points: {verdict}; "
                f"likely causes: {causes}",
            )
        )
    return facts


def _licence(result: ModelResult) -> str:
    """The weights' licence (an SPDX id). ``zoo run`` records null where the catalogue entry names none: the models
    without weights, or a plugin's model the catalogue does not list."""
    if not result.recorded("licence"):
        return "unknown: not recorded by the zoo that wrote this run"
    if result.licence:
        return result.licence
    if result.weights:
        return "not recorded: the catalogue entry names no licence"
    return "none: the model has no weights"


def _fetch_facts(records: list[FetchRecord], mirror: str | None) -> list[Fact]:
    """A fact per file zoo fetched, or failed to fetch, for the model before measuring it (none when the record
    is empty: everything was on the machine; or absent: a results.json from an older zoo)."""
    facts = []
    for record in records:
        name, state, detail = record.file or "", record.state or "", record.detail or ""
        url = fmt.plain(record.url)
        if state == "fetched":
            took = f"{fmt.size(record.bytes)} in {fmt.one_decimal(record.seconds)} s"
            via = f" via the mirror {mirror}" if mirror else ""
            facts.append(Fact("fetched", f"{name} ({took}) from {url}{via}" + (f"; {detail}" if detail else "")))
        elif state == "failed":
            facts.append(Fact("could not fetch", f"{name} from {url}: {detail or 'no reason recorded'}"))
        else:  # missing, corrupt: found so and not fetched
            where = f" at {record.path}" if record.path else ""
            facts.append(Fact(f"{state or 'unknown'} file", f"{name}{where}" + (f": {detail}" if detail else "")))
    return facts


def _mirror(run: Run) -> str | None:
    source = run.context.get("weights_source") if isinstance(run.context, dict) else None
    return str(source["mirror"]) if isinstance(source, dict) and source.get("mirror") else None


def weights_source(source: Any) -> str:
    """Where the run's weights came from, in words, from ``context.weights_source``."""
    if not isinstance(source, dict):
        return fmt.plain(source)
    folder, mirror = source.get("weights_dir"), source.get("mirror")
    kept = f"the weights folder {folder}" if folder else "each library's own cache"
    if source.get("offline"):
        return f"offline: nothing fetched; only files already in {kept}"
    return f"fetched when missing from {f'the mirror {mirror}' if mirror else 'the official sources'} into {kept}"


def run_files(runs: list[Run]) -> list[Fact]:
    """The run folders' files: links when the page lives in its run folder, paths otherwise."""
    files = []
    for run in runs:
        if run.directory is None:
            continue
        for name, what in (
            ("results.json", "everything measured, and the context"),
            ("leaderboard.csv", "one row per model"),
            ("ground_truth.json", "the ground truth, COCO format"),
        ):
            if run.local and inside(run.directory, name):
                files.append(Fact(what, name, href=name))
            elif not run.local:
                files.append(Fact(f"{run.label}: {what}", str(run.directory / name)))
    return files


# ---------------------------------------------------------------------------------------------------- context


def _machine(hardware: dict[str, Any]) -> dict[str, Any]:
    """The machine, its measured peak in one row: GFLOP/s and how they were measured (or why they were not)."""
    if not isinstance(hardware, dict) or "peak_gflops" not in hardware:
        return hardware
    shown = {k: v for k, v in hardware.items() if k != "peak_method"}
    peak, method = hardware["peak_gflops"], hardware.get("peak_method")
    shown["peak_gflops"] = f"{fmt.significant(peak)} GFLOP/s ({method})" if peak is not None else method
    return shown


GROUPS: tuple[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]], ...] = (
    (
        "Run",
        lambda c: {k: c.get(k) for k in ("started", "finished", "duration_s", "command", "zoo_commit") if k in c},
    ),
    ("Weights", lambda c: {"source": weights_source(c["weights_source"])} if "weights_source" in c else {}),
    ("Machine", lambda c: _machine(c.get("hardware") or {})),
    ("Software", lambda c: c.get("versions") or {}),
    ("Dataset", lambda c: c.get("dataset") or {}),
    ("Settings", lambda c: c.get("settings") or {}),
)


def run_context(runs: list[Run]) -> list[ContextGroup]:
    """The runs' context, a table per group, side by side; rows where runs differ are marked."""
    groups = []
    for title, pick in GROUPS:
        tables = [pick(run.context) if isinstance(run.context, dict) else {} for run in runs]
        keys: list[str] = []
        for table in tables:
            keys += [str(k) for k in table if str(k) not in keys]
        rows = []
        for key in keys:
            raw = [table.get(key) for table in tables]
            values = [fmt.plain(v) for v in raw]
            rows.append(ContextRow(key, values, len(runs) > 1 and len(set(values)) > 1))
        if rows:
            groups.append(ContextGroup(title, rows))
    return groups


def catalogue_entries(runs: list[Run], sources: Sequence[RunSource]) -> list[Entry]:
    """Each model's catalogue entry as its run recorded it (``key.entry`` and ``entry_notes`` of its result)."""
    entries = []
    for run, source in zip(runs, sources):
        for result in source.results.models:
            key = result.key if isinstance(result.key, dict) else {}
            entry = {**(key.get("entry") or {}), "notes": result.entry_notes}
            if key.get("weights"):
                entry["weights"] = key["weights"]
            entries.append(
                Entry(
                    run.label,
                    result.id,
                    *(fmt.plain(entry.get(k)) for k in ("plugin", "model", "weights", "options", "notes")),
                )
            )
    return entries
