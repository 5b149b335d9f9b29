"""``zoo pull``: fetch the selected models' official weights and named benchmarks (``--data``) ahead of a run, list
them first (``--dry-run``), or write a portable bundle for a machine without network (``--to DIR``, used there with
``--weights-dir DIR``)."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from zoo import __version__, fetch
from zoo.cli.common import console, load_catalogue, parse_weights, print_columns, safe
from zoo.cli.data import benchmarks_named, pull_data
from zoo.cli.downloads import fetch_needs
from zoo.errors import ZooError
from zoo.fetch import Outcome, config, pins
from zoo.report.fmt import size
from zoo.weights import Need, plan


def add(commands, common: argparse.ArgumentParser, weights: argparse.ArgumentParser) -> None:
    pull = commands.add_parser(
        "pull",
        parents=[common, weights],
        help="fetch the models' weights ahead of a run, or bundle them for a closed network",
        description="Fetch the official weights of the selected models (default: all) into the places their "
        "libraries look, skipping files already present and intact, and list them: model, file, size, where, "
        "licence.",
    )
    pull.add_argument(
        "--models",
        help="all (the default, unless --data is given alone), ids, globs or family:NAME, comma-separated",
    )
    pull.add_argument(
        "--data",
        metavar="NAMES",
        help="also fetch these benchmarks (coco-val2017, voc2007-test; comma-separated) into $ZOO_HOME/data",
    )
    pull.add_argument("--weights", action="append", default=[], metavar="ID=PATH", help=argparse.SUPPRESS)
    pull.add_argument("--dry-run", action="store_true", help="list the files and their total size; fetch nothing")
    pull.add_argument(
        "--to",
        metavar="DIR",
        help="write a portable bundle to DIR: the files (copied from the caches, or fetched) and manifest.json; "
        "on the other machine, zoo run --weights-dir DIR",
    )
    pull.set_defaults(command=cmd_pull)


def cmd_pull(args: argparse.Namespace) -> int:
    chosen = benchmarks_named(args.data)
    if args.to:
        target = Path(args.to).expanduser().absolute()
        if target.exists() and not target.is_dir():
            raise ZooError(f"--to {args.to}: exists and is not a folder; choose another path")
    status = 0
    if args.models or not chosen:
        status = _pull_weights(args)
    if chosen:
        status = max(status, pull_data(chosen, args.to, args.dry_run))
    return status


def _pull_weights(args: argparse.Namespace) -> int:
    from zoo.registry import select

    plugins, catalogue = load_catalogue(args)
    entries = select(args.models or "all", catalogue, plugins.problems)
    weights = parse_weights(args.weights, catalogue)
    if args.to:
        target = Path(args.to).expanduser().absolute()
        sources, _ = plan(entries, plugins, weights)  # where the files are on this machine now
        with config.environment(**{config.WEIGHTS_DIR: str(target)}):
            needs, problems = plan(entries, plugins, weights)
            _warn(problems)
            if args.dry_run:
                return _dry_run(needs)
            target.mkdir(parents=True, exist_ok=True)
            outcomes = [_into_bundle(need, sources) for need in needs]
            path = _manifest(target, needs, outcomes)
        _table(needs, outcomes)
        console.print(
            f"zoo: bundle written to {target} ({path.name} lists every file); on the other machine: "
            f"zoo run --weights-dir {target}",
            markup=False,
        )
        return _status(outcomes)
    needs, problems = plan(entries, plugins, weights)
    _warn(problems)
    if args.dry_run:
        return _dry_run(needs)
    outcomes = fetch_needs(needs)
    _table(needs, outcomes)
    return _status(outcomes)


def _warn(problems: dict[str, str]) -> None:
    for model_id, problem in problems.items():
        console.print(f"zoo: warning: {safe(model_id)}: {safe(problem)}", markup=False)


def _dry_run(needs: list[Need]) -> int:
    """The files, their sizes, their state here and where they go; the total still to fetch."""
    rows = [("model", "file", "size", "state", "where", "licence")]
    todo, total, unknown, estimated = 0, 0, 0, False
    for need in needs:
        found = fetch.state(need.file)
        if found.state == fetch.PRESENT:
            count, exact = found.path.stat().st_size, True
        else:
            count, exact = _size(need.file)
            todo, total, unknown = todo + 1, total + (count or 0), unknown + (count is None)
            estimated |= not exact and count is not None
        text = "?" if count is None else size(count) if exact else f"≈{size(count)}"
        where = str(need.file.destination)
        rows.append((", ".join(need.models), need.file.name, text, found.state, where, need.licence or "—"))
    print_columns(rows)
    _trusted_on_first_use([need.file for need in needs])
    amount = f"{'about ' if estimated else ''}{size(total)}"
    amount += f" and {unknown} file(s) of unknown size" if unknown else ""
    print(f"\n{len(needs)} file(s); {todo} to fetch: {amount}.")
    return 0


def _trusted_on_first_use(files: list[fetch.RemoteFile]) -> None:
    """A line for each file whose publisher gives no digest: it is trusted on first use, and whether it is pinned."""
    for file in files:
        if not file.first_use or file.sha256 is not None:
            continue
        record = pins.pinned(file.url)
        state = f"{pins.describe(record)}" if record else "not pinned yet: the first fetch pins it"
        print(
            f"\n{file.name}: {pins.NO_DIGEST} — zoo pins its sha256 and size in {pins.location()} when it first has "
            f"the file and refuses any other file under that URL from then on ({state})"
        )


def _size(file: fetch.RemoteFile) -> tuple[int | None, bool]:
    """The file's size and whether it is exact: known, else asked of its source (unless offline), else estimated."""
    if file.size is not None:
        return file.size, True
    if not config.offline():
        from zoo.fetch.sizes import probe

        probed = probe(file)
        if probed is not None:
            return probed, True
    return file.size_estimate, False


def _into_bundle(need: Need, sources: list[Need]) -> Outcome:
    """The file in the bundle: already there, copied from this machine's cache, or fetched."""
    found = fetch.state(need.file)
    if found.state == fetch.PRESENT:
        return Outcome(need.file, fetch.PRESENT, found.path)
    urls = {need.file.url} | ({need.file.alternative.url} if need.file.alternative else set())
    for source in sources:
        here = fetch.state(source.file)
        if source.file.url in urls and here.state == fetch.PRESENT:
            return _copied(need.file, here.path)
    (outcome,) = fetch_needs([need])
    return outcome


def _copied(file: fetch.RemoteFile, source: Path) -> Outcome:
    """The file copied into the bundle and checked there (against its pin too, where it has no published digest)."""
    copy = _copy(file, source)
    found = fetch.state(file)
    if found.state != fetch.PRESENT:
        copy.unlink(missing_ok=True)
        return Outcome(file, fetch.FAILED, None, f"its copy from {source} is refused: {found.detail}")
    note = pins.NO_DIGEST if file.first_use and file.sha256 is None else ""
    return Outcome(file, fetch.COPIED, copy, "; ".join(filter(None, (f"from {source}", note))))


def _copy(file: fetch.RemoteFile, source: Path) -> Path:
    if file.hub is not None:
        from zoo.fetch import huggingface

        return huggingface.copy_into(file, source, huggingface.cache_dir())
    file.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = file.path.with_name(f".{file.path.name}.zoo-part")
    shutil.copyfile(source, temporary)
    os.replace(temporary, file.path)
    return file.path


def _manifest(target: Path, needs: list[Need], outcomes: list[Outcome]) -> Path:
    from zoo.fetch.bundle import Record, write_manifest
    from zoo.fetch.integrity import digest

    records = []
    for need, outcome in zip(needs, outcomes):
        if outcome.path is None or not outcome.path.is_file():
            continue
        path = outcome.path.absolute()
        records.append(
            Record(
                path=path.relative_to(target).as_posix(),
                file=path.name,
                models=need.models,
                url=need.file.url,
                sha256=digest(path.resolve()),
                size=path.stat().st_size,
                licence=need.licence,
                digest=_digest_source(need.file),
            )
        )
    return write_manifest(target, __version__, files=records)


def _digest_source(file: fetch.RemoteFile) -> str:
    """What the file was checked by before it was bundled, for the manifest."""
    if file.sha256 is not None:
        return "the sha256 zoo records for it (the catalogue's, or the prefix in its name)"
    if file.hub is not None:
        return "the digest the Hugging Face Hub serves it under (huggingface_hub's etag)"
    if not file.first_use:
        return "its size" if file.size is not None else "nothing (no digest known)"
    record = pins.pinned(file.url)
    return f"{pins.NO_DIGEST} ({pins.describe(record) if record else 'not pinned'}, {pins.location()})"


def _table(needs: list[Need], outcomes: list[Outcome]) -> None:
    rows = [("model", "file", "size", "where", "licence", "result")]
    for need, outcome in zip(needs, outcomes):
        where = outcome.path or need.file.destination
        count = outcome.path.stat().st_size if outcome.path and outcome.path.is_file() else need.file.expected_bytes
        result = outcome.state if outcome.ok else f"{outcome.state}: {outcome.detail}"
        rows.append(
            (", ".join(need.models), need.file.name, size(count), str(where or "—"), need.licence or "—", result)
        )
    print_columns(rows)


def _status(outcomes: list[Outcome]) -> int:
    bad = [o for o in outcomes if not o.ok]
    if not outcomes:
        console.print("zoo: the selected models need no files from the network", markup=False)
    if bad:
        console.print(
            f"zoo: {len(bad)} of {len(outcomes)} file(s) are not here; the reasons are above. Fix them and run the "
            "same command again: what is here is kept, and a cut transfer resumes",
            markup=False,
        )
        return 1
    return 0
