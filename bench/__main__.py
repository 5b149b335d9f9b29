"""``python -m bench``: measure zoo itself and print the table (and write it as markdown to bench/latest.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench import causes, fidelity, memory, overhead, readme, scoring
from bench.table import ROOT, CpuClock, Load, Row, conditions, load_average, markdown, missing_row, ratio_cell

MEASUREMENTS = {"fidelity": fidelity, "overhead": overhead, "scoring": scoring, "memory": memory}
EXTRA = {"causes": causes}  # run only when named with --only: what the fidelity's cost is made of
LATEST = ROOT / "bench" / "latest.md"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.readme:
        readme.write(LATEST.read_text(encoding="utf-8"))
        print(f"bench: copied {LATEST.name}'s table into README.md", file=sys.stderr)
        return 0
    os.environ["ZOO_OFFLINE"] = "1"  # zoo runs offline here, and so do the `zoo run` subprocesses
    names = args.only or list(MEASUREMENTS)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # other work on the machine skews timings
    started, cpu = time.perf_counter(), CpuClock.now()
    rows = [_measure(name, args) for name in names]
    others = CpuClock.now().others_since(cpu)
    text = markdown(rows, conditions(time.perf_counter() - started, args.quick, load, others))
    print(text)
    out = args.out or (LATEST if not args.quick and not args.only and not args.models else None)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        print(f"bench: wrote {out}", file=sys.stderr)
        if out.resolve() == LATEST.resolve():
            readme.write(text)
            print("bench: and its table into README.md", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="zoo measures itself: harness fidelity, run overhead, scoring and memory, each a ratio measured "
        "side by side. A full run (no --only, --quick or --models) writes its table to bench/latest.md.",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[*MEASUREMENTS, *EXTRA],
        metavar="NAME",
        help=f"run only this measurement (repeatable): {', '.join(MEASUREMENTS)}; or {', '.join(EXTRA)} (what the "
        "fidelity's cost is made of: zoo's timing loop with and without a sampler thread, images pre-decoded)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="measure each N times: the ratio shown is the median, and the spread over the N runs is printed",
    )
    parser.add_argument(
        "--readme", action="store_true", help="only copy bench/latest.md into README.md's bench section, and stop"
    )
    parser.add_argument("--quick", action="store_true", help="a smaller, faster version of each (under a minute)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the markdown table to FILE")
    parser.add_argument(
        "--models",
        metavar="MODELS",
        help=f"the run overhead's selection, as zoo run --models takes it ('all': the catalogue; default: "
        f"{overhead.MODELS}); for causes, the models to measure (ID,ID)",
    )
    return parser


def _measure(name: str, args: argparse.Namespace) -> Row:
    """The measurement ``args.repeat`` times, each with the machine's load while it ran; one row (the median run)."""
    rows = [_measure_once(name, args, number) for number in range(max(args.repeat, 1))]
    return rows[0] if len(rows) == 1 else repeated(rows)


def _measure_once(name: str, args: argparse.Namespace, number: int) -> Row:
    module = {**MEASUREMENTS, **EXTRA}[name]
    label = name if args.repeat <= 1 else f"{name} ({number + 1}/{args.repeat})"
    print(f"bench: {label}…", file=sys.stderr, flush=True)
    started, clock, load = time.perf_counter(), CpuClock.now(), load_average()
    try:
        row = module.measure(quick=args.quick, models=args.models)
    except Exception as error:  # a measurement that cannot be done is a missing row, never a 0
        row = missing_row(module.TITLE, module.GOAL, module.HOW, f"{type(error).__name__}: {error}")
    wall = time.perf_counter() - started
    row.load = Load.around(load, clock, wall).cell()
    print(f"bench: {label}: {ratio_cell(row)} ({wall:.0f} s; {row.load})", file=sys.stderr, flush=True)
    return row


def repeated(rows: list[Row]) -> Row:
    """One row for N runs of a measurement: the run whose ratio is the median (the lower middle one for an even N),
    and a line with every run's ratio and load, and their spread, so a change can be told from noise."""
    measured = sorted((row for row in rows if row.ratio is not None), key=lambda row: row.ratio or 0.0)
    if not measured:
        return rows[-1]
    middle = measured[(len(measured) - 1) // 2]
    ratios = [row.ratio or 0.0 for row in measured]
    runs = "; ".join(f"{row.ratio:.3f} ({row.load})" if row.ratio is not None else f"missing ({row.missing})"
                     for row in rows)  # fmt: skip
    middle.details = [
        *middle.details,
        f"over {len(rows)} runs: median {np.median(ratios):.3f}, spread {min(ratios):.3f}–{max(ratios):.3f} "
        f"({max(ratios) - min(ratios):.3f}); runs: {runs}",
    ]
    middle.load = f"{len(rows)} runs; this one: {middle.load}"
    return middle


if __name__ == "__main__":
    sys.exit(main())
