"""``zoo pull --data``: named benchmarks fetched ahead of a run, listed (``--dry-run``) or bundled (``--to DIR``)."""

from __future__ import annotations

import json
from pathlib import Path

from zoo import __version__
from zoo.cli.common import console, print_columns
from zoo.cli.downloads import fetch_benchmark
from zoo.data import benchmarks
from zoo.data.benchmarks import MARKER, Benchmark, copy, missing
from zoo.errors import ZooError
from zoo.fetch import config
from zoo.fetch.bundle import write_manifest
from zoo.report.fmt import size


def benchmarks_named(names: str | None) -> list[Benchmark]:
    """The benchmarks ``--data`` names (comma-separated); a `ZooError` for a name zoo cannot fetch."""
    chosen = []
    for name in filter(None, (n.strip() for n in (names or "").split(","))):
        benchmark = benchmarks.get(name)
        if benchmark is None:
            known = ", ".join(benchmarks.BENCHMARKS)
            raise ZooError(f"--data {name}: not a benchmark zoo can fetch; the benchmarks: {known}")
        chosen.append(benchmark)
    return chosen


def pull_data(chosen: list[Benchmark], to: str | None, dry_run: bool) -> int:
    """Each benchmark present (or listed, or written into the bundle ``to``); 1 when one could not be fetched."""
    if dry_run:
        return _dry_run(chosen, to)
    if to is None:
        return _each(chosen, fetch_benchmark)
    target = Path(to).expanduser().absolute()
    here = {benchmark.name: (benchmark.folder(), missing(benchmark)) for benchmark in chosen}
    with config.environment(**{config.WEIGHTS_DIR: str(target)}):

        def into_bundle(benchmark: Benchmark) -> None:
            folder, absent = here[benchmark.name]
            if missing(benchmark) and not absent:
                copy(benchmark, folder)
                console.print(f"  copied {benchmark.name} from {folder}", markup=False)
            else:
                fetch_benchmark(benchmark)

        status = _each(chosen, into_bundle)
        present = [benchmark for benchmark in chosen if not missing(benchmark)]
        _manifest(target, present)
    console.print(
        f"zoo: {len(present)} benchmark(s) in {target / 'data'}; on the other machine: zoo run --weights-dir {target}",
        markup=False,
    )
    return status


def _each(chosen: list[Benchmark], action) -> int:
    """``action`` on every benchmark; a failure is printed and the others still go."""
    failed = 0
    for benchmark in chosen:
        try:
            action(benchmark)
        except ZooError as error:
            console.print(f"zoo: error: {error}", markup=False)
            failed += 1
            continue
        console.print(f"  {benchmark.name}: ready at {benchmark.folder()}", markup=False)
    return 1 if failed else 0


def _dry_run(chosen: list[Benchmark], to: str | None) -> int:
    rows = [("benchmark", "file", "size", "state", "where", "licence")]
    with config.environment(**({config.WEIGHTS_DIR: str(Path(to).expanduser().absolute())} if to else {})):
        for benchmark in chosen:
            state = "present" if not missing(benchmark) else "missing"
            for archive in benchmark.archives:
                where, shown = str(benchmark.folder()), size(archive.size) if archive.size else archive.size_text()
                rows.append((benchmark.name, archive.name, shown, state, where, benchmark.licence))
        todo = sum(b.download_bytes for b in chosen if missing(b))
    print_columns(rows)
    print(f"\n{len(chosen)} benchmark(s); to fetch: {size(todo)} (the archives are deleted once unpacked).")
    return 0


def _manifest(target: Path, present: list[Benchmark]) -> None:
    records = []
    for benchmark in present:
        files = json.loads((benchmark.folder() / MARKER).read_text(encoding="utf-8"))["files"]
        records.append(
            {
                "name": benchmark.name,
                "path": f"data/{benchmark.name}",
                "files": len(files),
                "bytes": sum(files.values()),
                "archives": [archive.url for archive in benchmark.archives],
                "licence": benchmark.licence,
                "citation": benchmark.citation,
            }
        )
    write_manifest(target, __version__, datasets=records)
