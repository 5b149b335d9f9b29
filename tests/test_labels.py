"""Joining model labels to dataset categories by name: the most common silent failure of detection benchmarks."""

from __future__ import annotations

import numpy as np
from torchvision.models import get_model_weights

from zoo.data import Category
from zoo.labels import NO_CLASS, build_label_map, normalise

COCO80 = get_model_weights("fasterrcnn_resnet50_fpn").DEFAULT.meta["categories"]


def test_names_are_normalised_and_aliased():
    assert normalise("Dining_Table") == normalise("dining-table") == "dining table"
    categories = [Category(1, "airplane"), Category(2, "motorcycle"), Category(3, "dining table"), Category(4, "tv")]
    label_map = build_label_map(["aeroplane", "motorbike", "diningtable", "tvmonitor", "cow"], categories)
    assert label_map.mapped == {
        "aeroplane": "airplane",
        "motorbike": "motorcycle",
        "diningtable": "dining table",
        "tvmonitor": "tv",
    }
    assert label_map.unmapped == ["cow"]
    assert label_map.apply(np.array([0, 1, 2, 3, 4, 9, -1])).tolist() == [1, 2, 3, 4, NO_CLASS, NO_CLASS, NO_CLASS]


def test_torchvision_coco_ids_with_gaps_map_to_a_coco_dataset_by_name():
    """torchvision numbers COCO's classes 1..90 with gaps and a background slot; a COCO dataset uses the same
    ids, a YOLO-style dataset 0..79: the names must join them either way."""
    names = [name for name in COCO80 if name not in ("__background__", "N/A")]
    assert len(names) == 80
    contiguous = [Category(i, name) for i, name in enumerate(names)]
    label_map = build_label_map(COCO80, contiguous)
    assert label_map.apply(np.array([1, 3, 90]))[:3].tolist() == [
        names.index("person"),
        names.index("car"),
        names.index("toothbrush"),
    ]
    assert label_map.apply(np.array([0, 12])).tolist() == [NO_CLASS, NO_CLASS], "background and N/A map to nothing"
    assert sorted(label_map.unmapped) == ["N/A"] * 10 + ["__background__"]


def test_model_specific_aliases_extend_the_table():
    label_map = build_label_map(["bike"], [Category(5, "bicycle")], {"bike": "bicycle"})
    assert label_map.apply(np.array([0])).tolist() == [5]


def test_a_class_agnostic_model_maps_nothing():
    label_map = build_label_map(None, [Category(1, "a")])
    assert label_map.mapped == {} and label_map.apply(np.array([0])).tolist() == [NO_CLASS]
