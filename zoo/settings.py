"""The protocol's settings, each written once: its default, its one-line help and its lowest value live on the field,
and ``zoo run``'s options, their help and their checks are generated from them (`add_options`, `from_args`,
`check`), so the code, the CLI and the README cannot disagree (tests/test_settings.py compares them)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import ZooError

Report = Callable[[str, int, "int | None"], None]
"""Progress: ``report(phase, done, total)`` after every step (the isolation layer also uses it as a heartbeat)."""


def no_report(phase: str, done: int, total: int | None) -> None:
    pass


def option(default: Any, help: str, *, metavar: str | None = None, low: float | None = None, high: float | None = None,
           flag: str | None = None) -> Any:  # fmt: skip
    """A setting that is also a ``zoo run`` option: ``help`` is its one line (the default is added to it), ``low`` /
    ``high`` its range, ``flag`` a store-false switch's name (``--no-...``)."""
    metadata = {"help": help, "metavar": metavar, "low": low, "high": high, "flag": flag}
    return field(default=default, metadata={"option": metadata})


@dataclass(frozen=True)
class Settings:
    """Every knob of the protocol; all of them are written into ``results.json``."""

    device: str = option("cpu", "where models run: cpu, cuda, cuda:N or mps")
    warmup: int = option(3, "untimed calls before timing", metavar="N", low=0)
    iters: int = option(200, "at most N timed batch-1 calls", metavar="N", low=1)
    speed_precision: float = option(
        0.05,
        "time batch-1 calls until the 95%% interval of the median latency is within ± this share of it (an interval "
        "needs 6 calls; with --speed-conf 0 every image of the accuracy pass counts)",
        metavar="SHARE",
        low=0,
    )
    batch: int = option(8, "batch size for throughput", metavar="N", low=1)
    batch_calls: int = option(3, "timed batched calls", metavar="N", low=0)
    speed_budget: float = option(
        20.0,
        "seconds each model may spend on timing beyond its first call and accuracy pass: warm-up, latency calls and "
        "batches together (a row whose interval it cut short is flagged)",
        metavar="SECONDS",
        low=0,
    )
    speed_conf: float = option(
        0.25,
        "time each model at this score threshold, applied through its library's own mechanism after the accuracy "
        "pass (0: time at the accuracy setting; accuracy always uses every prediction)",
        metavar="SCORE",
        low=0,
        high=1,
    )
    iou_conf: float = option(
        0.5, "minimum score of a prediction for the IoU metrics (AP uses all)", metavar="SCORE", low=0, high=1
    )
    iou_thresholds: tuple[float, ...] = (0.5, 0.75)
    untrained_speed: bool = option(
        True, "do not time models whose weights are missing on an untrained copy", flag="--no-untrained-speed"
    )
    weights: dict[str, str] = field(default_factory=dict)  # model id -> weights, from --weights ID=PATH
    imgsz: int | None = option(
        None, "run every model that allows it at this input size instead of its native one", metavar="PIXELS", low=32
    )
    threads: int | None = option(
        None, "CPU threads: torch's, and Model.threads for other runtimes (default: their own choice)", metavar="N",
        low=1,
    )  # fmt: skip
    prompt_template: str | None = option(
        None,
        "the prompt open-vocabulary models get for each class, with {} for its name (default: each model's own, "
        "e.g. 'a photo of a {}'); recorded with the result",
        metavar="TEXT",
    )
    corruptions: str | None = option(
        None,
        "also score each model on corrupted copies of the images (zoo[robustness]): all, a group (noise, blur, "
        "weather, digital) or names, comma-separated; each corruption × severity is one more accuracy pass, untimed",
        metavar="all|NAME,...",
    )
    severities: str = option("1,2,3,4,5", "the corruption severities (1-5) for --corruptions", metavar="S,S")
    corruption_seed: int = option(0, "seed of the random corruptions (noise, snow, frost...)", metavar="N", low=0)

    def record(self) -> dict[str, Any]:
        """The settings as results.json records them (the weights overrides are in each row's key)."""
        values = {name: getattr(self, name) for name in OPTIONS}
        if not self.corruptions:  # no robustness pass: its settings did nothing
            for name in ("corruptions", "severities", "corruption_seed"):
                values.pop(name)
        return {**values, "iou_thresholds": list(self.iou_thresholds)}


OPTIONS = tuple(item.name for item in dataclasses.fields(Settings) if "option" in item.metadata)
"""The settings that are ``zoo run`` options, in the order of their help."""

DEFAULTS = Settings()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser) -> None:
    """``zoo run``'s protocol options, from the fields: default, help (with the default) and metavar."""
    for item in dataclasses.fields(Settings):
        spec = item.metadata.get("option")
        if spec is None:
            continue
        if spec["flag"]:
            parser.add_argument(spec["flag"], dest=item.name, action="store_false", help=spec["help"])
            continue
        kind = _kind(item)
        shown = "none" if item.default is None else f"{item.default:g}" if kind is not str else item.default
        text = spec["help"] if item.default is None else f"{spec['help']} (default {shown})"
        parser.add_argument(flag_name(item.name), type=kind, default=item.default, metavar=spec["metavar"], help=text)


def _kind(item: dataclasses.Field) -> type:
    default = item.default
    if isinstance(default, bool) or default is None:
        return int if item.name in ("imgsz", "threads") else str
    return type(default)


def check(args: argparse.Namespace) -> None:
    """Every setting in range, before anything is loaded or written: one line naming the option and the fix."""
    for item in dataclasses.fields(Settings):
        spec = item.metadata.get("option")
        value = getattr(args, item.name, None) if spec else None
        if item.name == "prompt_template":
            check_template(value)
        if value is None or spec["flag"] or isinstance(value, str):
            continue
        low, high = spec["low"], spec["high"]
        if high is not None and not low <= value <= high:
            raise ZooError(f"{flag_name(item.name)} {value}: give a score between {low:g} and {high:g}")
        if low is not None and value < low:
            unit = " pixels" if item.name == "imgsz" else ""
            raise ZooError(f"{flag_name(item.name)} {value}: give {low:g}{unit} or more")


def check_template(template: str | None) -> str | None:
    """``--prompt-template``: text with exactly one ``{}`` where the class name goes (``"a photo of a {}"``)."""
    if template is None:
        return None
    rest = template.replace("{}", "", 1)
    if template.count("{}") != 1 or "{" in rest or "}" in rest:
        raise ZooError(
            f"--prompt-template {template!r}: give text with exactly one {{}} where the class name goes, "
            "e.g. --prompt-template 'a photo of a {}'"
        )
    return template


def from_args(args: argparse.Namespace, **values: Any) -> Settings:
    """The settings a ``zoo run`` was given; ``values`` replace what the options say (the checked device, the
    parsed weights)."""
    given = {name: getattr(args, name) for name in OPTIONS if hasattr(args, name)}
    return Settings(**{**given, **values})


@dataclass(frozen=True)
class Part:
    """One share of a model's accuracy pass (``zoo run --shards``, `zoo.shards`): predict only these images and leave
    the scoring to whoever merges the parts; ``timed``: this part also times speed (one part of a model does)."""

    images: tuple[int, ...]  # indices into dataset.images
    timed: bool
