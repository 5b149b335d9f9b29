"""``zoo train``: train a model zoo can train (the CNN box regressor) and save a checkpoint ``zoo run`` can load."""

from __future__ import annotations

import argparse

from zoo.cli.common import console, load_dataset, load_plugins
from zoo.errors import ZooError


def add(commands) -> None:
    train = commands.add_parser(
        "train",
        help="fine-tune detectors on a dataset's classes (--models), or train the regressor",
        description="`zoo train --models SELECTION --data TRAIN`: fine-tune each selected detector on the dataset's "
        "own classes through its library's training, into a training folder `zoo run --trained DIR` scores. "
        "`zoo train regressor --data DATA`: train the CNN box regressor on the largest box of each image (or of "
        "--class NAME); every 5th image with one is held out, and the validation mean IoU is printed after every "
        "epoch.",
    )
    train.add_argument("model", nargs="?", help="regressor (without --models)")
    train.add_argument("--models", help="fine-tune these: ids, globs (yolo*) or family:NAME, comma-separated")
    train.add_argument("--val", metavar="DATA", help="with --models: score the validation AP on DATA after each epoch")
    train.add_argument(
        "--from-scratch", action="store_true", help="with --models: start from untrained copies, even where weights are"
    )
    train.add_argument("--batch", type=int, default=4, metavar="N", help="with --models: images per step (default 4)")
    train.add_argument("--registry", metavar="PATH", help="the catalogue to use (default: zoo's registry.yaml)")
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
        "--out",
        metavar="PATH",
        help="the training folder (default $ZOO_HOME/trained/<dataset>); for the regressor, the checkpoint "
        "(default: $ZOO_HOME/regressor-<dataset>[-<class>].pt)",
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

    if args.models:
        from zoo.cli.finetune import cmd_finetune

        if args.model:
            raise ZooError(f"zoo train {args.model} --models {args.models}: give the model ids in --models only")
        return cmd_finetune(args)
    if not args.model:
        raise ZooError("zoo train: give --models SELECTION (fine-tune detectors) or the model `regressor`")
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
