"""The reproduction check: a model's measured box AP beside the one its authors publish, on the benchmark they
publish it for, with the gap flagged and the likely causes zoo can check itself.

The published number comes from the catalogue (``published:`` in ``registry.yaml``) when the model runs with its
entry's own weights, else from the plugin (``ModelInfo.published_map``, COCO val2017). A gap is computed only on the
benchmark the number is published for (``--data coco-val2017`` for COCO val2017 numbers); on a subset of it
(``--limit``) the gap is indicative only.
"""

from __future__ import annotations

from typing import Any

from zoo import vocabulary
from zoo.data import Dataset
from zoo.registry import Entry
from zoo.results import ModelResult, Status

FLAG = 0.01  # one AP point
SETTING_NAMES = {
    "conf": ("conf", "score_threshold", "box_score_thresh", "threshold"),
    "max_det": ("max_det", "detections_per_img", "max_detections"),
}


def published(entry: Entry, weights_override: str | None, result: ModelResult) -> dict[str, Any] | None:
    """The published number that applies to what the model loaded (None for an untrained copy or other weights)."""
    if result.untrained or result.status != Status.OK:
        return None
    listed = entry.published
    if weights_override is None and listed.get("box_ap") is not None:
        return {key: listed[key] for key in ("box_ap", "split", "source", "protocol") if key in listed}
    info = result.info
    if info.published_map is not None:
        return {"box_ap": info.published_map, "split": "coco-val2017", "source": info.published_source}
    return None


def check(result: ModelResult, dataset: Dataset) -> dict[str, Any] | None:
    """Measured AP, published AP, the gap and its likely causes; None where the run cannot be compared."""
    number, benchmark = result.published, dataset.benchmark
    measured = result.accuracy.coco.map if result.accuracy.coco else None
    if not number or benchmark is None or benchmark["name"] != number.get("split") or measured is None:
        return None
    gap = measured - number["box_ap"]
    return {
        "benchmark": benchmark["name"],
        "measured": measured,
        "published": number["box_ap"],
        "gap": gap,
        "flagged": abs(gap) > FLAG,
        "indicative": benchmark["subset"] is not None,
        "images": len(dataset.images),
        "causes": causes(result, dataset, number.get("protocol") or {}),
    }


def causes(result: ModelResult, dataset: Dataset, protocol: dict[str, Any]) -> list[str]:
    """What zoo can see that makes its measurement differ from the published protocol."""
    found = []
    benchmark = dataset.benchmark or {}
    if benchmark.get("subset"):
        found.append(f"a subset: {len(dataset.images)} of {benchmark['images']} images, so the gap is indicative only")
    skipped = dataset.skipped_images
    if skipped:
        found.append(f"{skipped} image(s) of the benchmark could not be read and were skipped")
    labels = result.labels
    covered, total = len(labels.covered or []), len(dataset.categories)
    if covered < total:
        found.append(f"the model's labels cover {covered} of the {total} categories (AP is over those {covered})")
    dropped = labels.dropped or {}
    if dropped:
        names = ", ".join(list(dropped)[:3])
        found.append(f"{sum(dropped.values())} predictions had labels that are no category of the benchmark ({names})")
    info = result.info
    wanted, used = protocol.get("input_size"), info.input_size
    if wanted and used and _plain(wanted) != _plain(used):
        found.append(f"input size {used}, where the published protocol uses {wanted}")
    settings = info.settings or {}
    for key, names in SETTING_NAMES.items():
        value = next((settings[name] for name in names if settings.get(name) is not None), None)
        if protocol.get(key) is not None and value is not None and _differ(value, protocol[key]):
            found.append(f"{key} {value}, where the published protocol uses {protocol[key]}")
    return found + vocabulary.protocol_causes(result.prompts, protocol)


def _differ(a: Any, b: Any) -> bool:
    try:
        return float(a) != float(b)
    except (TypeError, ValueError):
        return False


def _plain(text: Any) -> str:
    return " ".join(str(text).lower().replace("×", "x").split())
