"""``python -m bench``: measure zoo itself and print the table (and write it as markdown to bench/latest.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench import fidelity, memory, overhead, scoring
from bench.table import ROOT, CpuClock, Row, conditions, markdown, missing_row, ratio_cell

MEASUREMENTS = {"fidelity": fidelity, "overhead": overhead, "scoring": scoring, "memory": memory}
LATEST = ROOT / "bench" / "latest.md"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
        choices=list(MEASUREMENTS),
        metavar="NAME",
        help=f"run only this measurement (repeatable): {', '.join(MEASUREMENTS)}",
    )
    parser.add_argument("--quick", action="store_true", help="a smaller, faster version of each (under a minute)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the markdown table to FILE")
    parser.add_argument(
        "--models",
        metavar="MODELS",
        help=f"the run overhead's selection, as zoo run --models takes it ('all': the catalogue; default: "
        f"{overhead.MODELS})",
    )
    return parser


def _measure(name: str, args: argparse.Namespace) -> Row:
    module = MEASUREMENTS[name]
    print(f"bench: {name}…", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        row = module.measure(quick=args.quick, models=args.models)
    except Exception as error:  # a measurement that cannot be done is a missing row, never a 0
        row = missing_row(module.TITLE, module.GOAL, module.HOW, f"{type(error).__name__}: {error}")
    print(f"bench: {name}: {ratio_cell(row)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return row


if __name__ == "__main__":
    sys.exit(main())
