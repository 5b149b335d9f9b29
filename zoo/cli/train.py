"""``zoo train``: train a model zoo can train (the CNN box regressor) and save a checkpoint ``zoo run`` can load."""

from __future__ import annotations

import argparse

from zoo.cli.common import console, load_dataset, load_plugins
from zoo.errors import ZooError


def add(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a model zoo can train (regressor) on a dataset and save a checkpoint",
        description="Train a model on any dataset zoo reads and save a checkpoint that `zoo run` can load. "
        "The regressor learns the largest box of each image (or of --class NAME); every 5th image with one is "
        "held out, and the validation mean IoU is printed after every epoch.",
    )
    train.add_argument("model", help="the model to train (regressor)")
    train.add_argument(
        "--data",
        required=True,
        help="shapes[:count=N,size=WxH,seed=N], sample, a COCO .json, a YOLO data.yaml or a VOC folder",
    )
    train.add_argument("--images", metavar="DIR", help="folder the dataset's image paths are relative to")
    train.add_argument("--split", default="train", help="YOLO / VOC split to train on (default: train)")
    train.add_argument("--limit", type=int, metavar="N", help="use only the first N images")
    train.add_argument("--class", dest="class_name", metavar="NAME", help="learn the largest box of this class only")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, metavar="N", help="passes over the training images (default 20)")
    length.add_argument("--minutes", type=float, metavar="M", help="train for this long instead of a number of epochs")
    train.add_argument("--imgsz", type=int, metavar="PIXELS", help="input size, a multiple of 32 (default 96)")
    train.add_argument("--seed", type=int, metavar="N", help="seed of the initialisation, order and flips (default 0)")
    train.add_argument(
        "--out", metavar="PATH", help="checkpoint to write (default: $ZOO_HOME/regressor-<dataset>[-<class>].pt)"
    )
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    train.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    train.add_argument(
        "--plugins-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also load the plugins in DIR (repeatable; also $ZOO_PLUGINS_DIR)",
    )
    train.set_defaults(command=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model whose class offers ``train(dataset, **options) -> Path`` and print the checkpoint's path."""
    from zoo.device import check_device
    from zoo.offline import offline

    plugins = load_plugins(args)
    trainable = sorted(model_id for model_id, r in plugins.models.items() if callable(getattr(r.cls, "train", None)))
    if args.model not in trainable:
        what = "is not a model zoo can train" if args.model in plugins.models else "is not a registered model"
        raise ZooError(f"zoo train {args.model}: {what}; zoo can train: {', '.join(trainable) or 'none'}")
    for name, low in (("epochs", 1), ("threads", 1), ("limit", 1)):
        value = getattr(args, name)
        if value is not None and value < low:
            raise ZooError(f"--{name} {value}: give {low} or more")
    if args.minutes is not None and not args.minutes > 0:
        raise ZooError(f"--minutes {args.minutes}: give a positive number of minutes")
    device = check_device(args.device)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    dataset = load_dataset(args)  # a benchmark may be fetched first
    with offline(True):
        path = plugins.models[args.model].cls.train(
            dataset,
            class_name=args.class_name,
            epochs=args.epochs,
            minutes=args.minutes,
            imgsz=args.imgsz,
            out=args.out,
            seed=args.seed,
            device=device,
            console=console,
        )
    print(path)
    return 0
