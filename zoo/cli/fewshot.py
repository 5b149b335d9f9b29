"""``zoo fewshot``: the few-shot protocol (`zoo.adapt.protocol`) from the command line."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from zoo.cli.common import console, load_dataset, safe
from zoo.errors import ZooError


def add(commands, common: argparse.ArgumentParser) -> None:
    fewshot = commands.add_parser(
        "fewshot",
        parents=[common],
        help="fine-tune models on K-shot samples of a dataset and score each on a test set",
        description="For each K and seed, a K-shot sample of TRAIN (TFA / FsDet: images in a seeded order until "
        "every class has exactly K instances; an image that would push a class past K is skipped); each model "
        "fine-tuned on it under the same budget, then scored on the whole TEST. Writes fewshot.csv, "
        "fewshot_summary.csv, samples.json and fewshot.html.",
    )
    fewshot.add_argument("--models", required=True, help="ids, globs (yolo*) or family:NAME, comma-separated")
    fewshot.add_argument("--data", required=True, help="the training set the samples are drawn from")
    fewshot.add_argument("--test", required=True, help="the test set every fine-tuned model is scored on")
    fewshot.add_argument("--shots", default="1,5,10", help="K values, comma-separated (default 1,5,10)")
    fewshot.add_argument("--seeds", type=int, default=3, help="samples per K, seeds 0..N-1 (default 3)")
    length = fewshot.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, metavar="N", help="passes over each sample (default 10)")
    length.add_argument("--minutes", type=float, metavar="M", help="minutes of training per model and sample")
    fewshot.add_argument("--imgsz", type=int, metavar="PIXELS", help="training and test input size")
    fewshot.add_argument("--batch", type=int, default=4, metavar="N", help="images per step (default 4)")
    fewshot.add_argument("--from-scratch", action="store_true", help="start from untrained copies")
    fewshot.add_argument("--images", metavar="DIR", help="folder the datasets' image paths are relative to")
    fewshot.add_argument("--split", default="train", help="YOLO / VOC split of --data (default: train)")
    fewshot.add_argument("--limit", type=int, metavar="N", help="use only the first N images of --data")
    fewshot.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    fewshot.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    fewshot.add_argument("--out", metavar="DIR", help="the folder to write (default: reports/fewshot-<date-time>)")
    fewshot.set_defaults(command=cmd_fewshot, seed=0)


def parse_shots(text: str) -> list[int]:
    try:
        shots = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ZooError(f"--shots {text}: give whole numbers, comma-separated (1,5,10)") from None
    if not shots or shots[0] < 1:
        raise ZooError(f"--shots {text}: give one or more numbers of 1 or more")
    return shots


def cmd_fewshot(args: argparse.Namespace) -> int:
    from zoo import context
    from zoo.adapt.folder import check_disjoint
    from zoo.adapt.protocol import draw_samples, run_fewshot
    from zoo.cli.finetune import load_other, prepare, train_all, train_settings

    shots = parse_shots(args.shots)
    if args.seeds < 1:
        raise ZooError(f"--seeds {args.seeds}: give 1 or more")
    plugins, _, entries, device = prepare(args)
    train = load_dataset(args)
    test = load_other(args.test, args, "val")
    check_disjoint(train, test)
    samples = draw_samples(train, shots, args.seeds)
    settings = train_settings(args, device)
    out = Path(args.out) if args.out else Path("reports") / datetime.now().strftime("fewshot-%Y%m%d-%H%M%S")
    console.print(
        f"zoo: few-shot, {len(entries)} model(s) × K {', '.join(map(str, shots))} × {args.seeds} seed(s) on "
        f"{safe(train.name)}, scored on {safe(test.name)} ({len(test.images)} images) → {out}",
        markup=False,
    )
    index = {"command": context.command_line(), "versions": context.versions(), "settings": asdict(settings)}
    rows = run_fewshot(entries, plugins, train, test, samples, settings, out, train_all, index)
    print(out / "fewshot.html")
    return 1 if any(row["status"] == "failed" for row in rows) else 0
