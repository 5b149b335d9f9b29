"""``zoo train --models SELECTION --data TRAIN``: fine-tune each selected model on the dataset's classes into a
training folder (`zoo.adapt`), one progress bar per model, a line per model as it finishes."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.cli.common import console, load_catalogue, load_dataset, safe
from zoo.errors import ZooError


def check_lengths(args: argparse.Namespace) -> None:
    """``--epochs``, ``--minutes``, ``--batch``, ``--threads`` and ``--seed`` checked, each a one-line error."""
    for name, low in (("epochs", 1), ("threads", 1), ("limit", 1), ("batch", 1), ("seed", 0)):
        value = getattr(args, name, None)
        if value is not None and value < low:
            raise ZooError(f"--{name.replace('_', '-')} {value}: give {low} or more")
    if args.minutes is not None and not args.minutes > 0:
        raise ZooError(f"--minutes {args.minutes}: give a positive number of minutes")
    if args.imgsz is not None and args.imgsz < 32:
        raise ZooError(f"--imgsz {args.imgsz}: give 32 or more pixels")


def train_settings(args: argparse.Namespace, device: str):
    from zoo.adapt.training import TrainSettings

    return TrainSettings(
        epochs=args.epochs,
        minutes=args.minutes,
        imgsz=args.imgsz,
        seed=args.seed or 0,
        device=device,
        from_scratch=bool(getattr(args, "from_scratch", False)),
        batch=args.batch,
        threads=args.threads,
    )


def load_other(spec: str, args: argparse.Namespace, split: str):
    """A second dataset (``--val``, ``--test``), read as ``--data`` is, its warnings printed."""
    namespace = argparse.Namespace(**{**vars(args), "data": spec, "split": split, "limit": None})
    return load_dataset(namespace)


def prepare(args: argparse.Namespace) -> tuple[Any, Any, list, str]:
    """What both ``zoo train --models`` and ``zoo fewshot`` start with: plugins, the selected entries, the device."""
    from zoo.device import check_device
    from zoo.registry import select

    check_lengths(args)
    plugins, catalogue = load_catalogue(args)
    entries = select(args.models, catalogue, plugins.problems)
    device = check_device(args.device)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    return plugins, catalogue, entries, device


def cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune every selected model; exit status 1 when one failed (``unsupported`` is not a failure)."""
    from zoo import context
    from zoo.adapt.folder import TrainingFolder, dataset_record, default_folder

    plugins, _, entries, device = prepare(args)
    dataset = load_dataset(args)
    val = load_other(args.val, args, "val") if args.val else None
    settings = train_settings(args, device)
    folder = TrainingFolder(Path(args.out) if args.out else default_folder(dataset.name))
    index = {
        "command": context.command_line(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset_record(dataset),
        "val": dataset_record(val) if val is not None else None,
        "settings": asdict(settings),
        "versions": context.versions(),
        "models": [],
    }
    console.print(
        f"zoo: training {len(entries)} model(s) on {safe(dataset.name)} ({len(dataset.images)} images, "
        f"{len(dataset.categories)} classes) → {folder.path}",
        markup=False,
    )
    rows = train_all(entries, plugins, dataset, val, settings, folder, index)
    print(folder.path)
    failed = [row["id"] for row in rows if row["status"] == "failed"]
    return 1 if failed else 0


def train_all(entries: list, plugins: Any, dataset: Any, val: Any, settings: Any, folder: Any, index: dict,
              shots: int | None = None) -> list[dict]:  # fmt: skip
    """Each entry trained in turn, its row added to the folder's index (written after every model)."""
    from zoo.adapt.training import train_model
    from zoo.offline import offline

    for entry in entries:
        with model_progress(entry.id) as progress, offline(True):
            row = train_model(entry, plugins, dataset, val, settings, folder, shots=shots, progress=progress,
                              command=index["command"])  # fmt: skip
        index["models"] = [r for r in index["models"] if r["id"] != entry.id] + [row]
        folder.write_index(index)
        print_row(row)
    return index["models"]


def print_row(row: dict) -> None:
    colour = {"ok": "green", "unsupported": "yellow"}.get(row["status"], "red")
    if row["status"] == "ok":
        scratch = ", from scratch (untrained copy)" if row.get("from_scratch") else ""
        val = row.get("val") or {}
        shown = f", val AP {val['map']:.4f}" if val.get("map") is not None else ""
        before = (row.get("before") or {}).get("map")
        shown += f" ({before:.4f} before training)" if shown and before is not None else ""
        loss = f", loss {row['loss']:.4g}" if row.get("loss") is not None else ""
        text = f"{row['id']}: {row['epochs']} epoch(s) in {row['minutes']:.2f} min{loss}{shown}{scratch}"
    else:
        text = f"{row['id']} — {row['reason']}"
    console.print(f"  [{colour}]{row['status']:>11}[/] ", end="")
    console.print(safe(text), markup=False)


@contextlib.contextmanager
def model_progress(model_id: str) -> Iterator[Callable[[str, float], None]]:
    """One bar for one model: its epoch, loss and time left, on the terminal's stderr (the library's own output goes
    to its log meanwhile)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    terminal = Console(file=sys.__stderr__, highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=terminal, transient=True, disable=not terminal.is_terminal) as bar:
        task = bar.add_task(escape(safe(model_id)), total=1.0)

        def progress(text: str, done: float) -> None:
            bar.update(task, description=escape(safe(f"{model_id}: {text}")), completed=done)

        yield progress
