"""The catalogue's measured metadata — framework, parameters, GFLOPs, native input size — kept in ``registry.yaml``
(each entry's ``meta:`` line) and the README's catalogue table generated from it.

    python -m tools.catalogue            # measure every entry, rewrite the meta lines and the README table
    python -m tools.catalogue --readme   # only regenerate the README table from registry.yaml

A maintainer script, run from the checkout (it rewrites the checkout's files): not part of the installed package.

Each model is built untrained (no weights needed) and measured on one fixed 640x480 image, so the numbers are the
architecture's and reproducible anywhere; a test checks them for the cheap models. An open-vocabulary model is
measured with COCO's 80 class names as its vocabulary.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from zoo.registry import DEFAULT_REGISTRY, Entry, build_catalogue, build_model, load_registry

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"
IMAGE_SIZE = (640, 480)


def reference_image():
    """The image every model is measured on: a deterministic synthetic 640x480 picture."""
    from zoo.data.shapes import draw_image

    return draw_image(0, IMAGE_SIZE, 0)


def measure(entry: Entry, plugins: Any) -> dict[str, Any]:
    """Framework, parameters, GFLOPs of one forward pass on the reference image, and native input size."""
    import torch

    from zoo.device import count_flops
    from zoo.model import UNTRAINED

    torch.manual_seed(0)
    model = build_model(entry, plugins, UNTRAINED)
    model.device = "cpu"
    try:
        model.load("cpu")
    except ValueError:  # no untrained form (a cascade OpenCV ships): measured with the weights that come with it
        model = build_model(entry, plugins)
        model.load("cpu")
    if getattr(model, "open_vocabulary", False):  # measured with COCO's 80 class names as its vocabulary
        from zoo.labels import COCO_CLASSES

        model.set_vocabulary(list(COCO_CLASSES), None)
    info = model.info()
    image = reference_image()
    flops = count_flops(lambda: model.forward(model.preprocess([image])))
    return {
        "framework": model.framework,
        "params": info.num_params,
        "gflops": round(flops / 1e9, 2) if flops else None,
        "input_size": info.input_size,
    }


def update_registry(text: str, measured: dict[str, dict[str, Any]]) -> str:
    """``text`` with each measured entry's ``meta:`` line replaced (or added), comments and layout kept."""
    lines = text.splitlines()
    for entry_id, meta in measured.items():
        start = next(i for i, line in enumerate(lines) if re.match(rf"^  {re.escape(entry_id)}:", line))
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith("    ")):
            end += 1
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        lines[start] = re.sub(r":\s*\{\}\s*$", ":", lines[start])  # "  id: {}" opens a block now
        body = [line for line in lines[start + 1 : end] if not line.startswith("    meta:")]
        flow = yaml.safe_dump(meta, default_flow_style=True, width=10_000, sort_keys=False, allow_unicode=True)
        lines[start + 1 : end] = [*body, f"    meta: {flow.strip()}"]
    return "\n".join(lines) + "\n"


def markdown_table(entries: list[Entry]) -> str:
    rows = [
        "| model | family | framework | params (M) | GFLOPs (640×480) | native input | published AP |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    for entry in entries:
        meta = entry.meta
        params = f"{meta['params'] / 1e6:.{1 if meta['params'] >= 1e5 else 4}f}" if meta.get("params") else "—"
        gflops = f"{meta['gflops']:.1f}" if meta.get("gflops") else "—"
        rows.append(
            f"| `{entry.id}` | {entry.family} | {meta.get('framework', '—')} | {params} | {gflops} | "
            f"{meta.get('input_size') or 'as given'} | {_published(entry.published)} |"
        )
    return "\n".join(rows)


def _published(number: dict[str, Any]) -> str:
    """The published box AP in points, with its split where it is not COCO val2017 (— where none is published)."""
    if number.get("box_ap") is None:
        return "—"
    split = "" if number.get("split") == "coco-val2017" else f" ({number['split']})"
    return f"{100 * number['box_ap']:.1f}{split}"


def update_readme(text: str, table: str) -> str:
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.catalogue", description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="only regenerate the README table")
    parser.add_argument("--models", help="measure only these ids (comma-separated)")
    args = parser.parse_args(argv)
    from zoo.plugins import load_plugins

    plugins = load_plugins()
    if not args.readme:
        catalogue = build_catalogue(load_registry(), plugins)
        wanted = args.models.split(",") if args.models else list(catalogue)
        measured = {}
        for model_id in wanted:
            print(f"measuring {model_id}", file=sys.stderr)
            entry = catalogue[model_id]
            files = {"files": entry.meta["files"]} if "files" in entry.meta else {}  # recorded, not measured here
            measured[model_id] = {**measure(entry, plugins), **files}
        DEFAULT_REGISTRY.write_text(update_registry(DEFAULT_REGISTRY.read_text(), measured))
    entries = list(build_catalogue(load_registry(), plugins).values())  # the registry as just rewritten
    README.write_text(update_readme(README.read_text(), markdown_table(entries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
