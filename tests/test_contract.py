"""zoo/contract.py, the one set of output rules `Model.predict` applies to every call and `zoo plugin check` reports:
each rule on the boxes that break it and on the nearest boxes that keep it."""

from __future__ import annotations

import numpy as np
import pytest

from zoo import contract
from zoo.detections import Detections


def boxes(*rows: list[float]) -> Detections:
    return Detections(np.array(rows, float).reshape(-1, 4), np.full(len(rows), 0.5), np.zeros(len(rows), int))


@pytest.mark.parametrize(
    ("found", "size", "words"),
    [
        (boxes([20, 30, 5, 6]), (96, 80), "negative width or height, e.g. [20.0, 30.0, 5.0, 6.0]"),
        (boxes([0, 0, 300, 40]), (96, 80), "1 box(es) far outside the 96x80 image"),
        (boxes([0.25, 0.25, 0.75, 0.75]), (96, 80), "every box lies within 0..1: give pixels"),
    ],
)
def test_boxes_that_can_only_come_from_a_bug_break_the_rule(found, size, words):
    with pytest.raises(contract.ContractError) as raised:
        contract.check_boxes(found, *size)
    assert raised.value.rule == contract.BOXES and words in str(raised.value)


@pytest.mark.parametrize(
    ("found", "size", "zero_size", "past"),
    [
        (boxes([0, 0, 1, 1]), (96, 80), 0, ""),  # a 1-pixel box in the corner is pixels, not fractions
        (boxes([0.25, 0.25, 0.75, 0.75]), (12, 12), 0, ""),  # on a tiny image, tiny boxes may be pixels
        (boxes([10, 10, 10, 20]), (96, 80), 1, ""),  # zero width: kept and counted
        (boxes([-5, 0, 50, 40]), (96, 80), 0, "box [-5.0, 0.0, 50.0, 40.0] reaches past the 96x80 image"),
    ],
)
def test_boxes_that_keep_the_rule_and_what_is_said_about_them(found, size, zero_size, past):
    counted, said = contract.check_boxes(found, *size)
    assert counted == zero_size and (said.startswith(past) if past else said == "")


def test_the_batch_names_the_image_that_breaks_a_rule():
    images = [np.zeros((80, 96, 3), np.uint8)] * 2
    with pytest.raises(contract.ContractError, match=r"^image 1 of the batch: scores run from 3 to 3") as raised:
        contract.check_outputs([boxes([1, 1, 9, 9]), Detections([[1, 1, 9, 9]], [3.0], [0])], images, None)
    assert raised.value.rule == contract.SCORES
    with pytest.raises(contract.ContractError, match="label 4 is outside the model's label space") as raised:
        contract.check_outputs([boxes([1, 1, 9, 9]), Detections([[1, 1, 9, 9]], [0.5], [4])], images, 3)
    assert raised.value.rule == contract.LABELS
    assert contract.check_outputs([boxes([1, 1, 9, 9])] * 2, images, None).zero_size == 0
