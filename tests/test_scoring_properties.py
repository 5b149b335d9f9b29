"""zoo's AP and IoU equal an independent computation on the model's raw output: pycocotools' COCOeval for AP
(class-aware, and ``useCats = 0`` for ``map_agnostic``), a one-to-one matching maximising IoU for localization — on
random scenarios with ties, crowds, empty images, zero-area boxes, more than 100 detections per image and
non-contiguous category ids; then the same through ``zoo run``, with the predictions file re-scored."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy.optimize import linear_sum_assignment

import zoo
from tests.conftest import SMALL_SHAPES
from tests.test_run import FAST, run_zoo
from zoo.data import Category, Dataset, ImageRecord
from zoo.detections import check_detections
from zoo.metrics.coco import SUMMARY, coco_metrics, results_records
from zoo.metrics.localization import ImagePredictions, localization
from zoo.runfolder import read_results

SCENARIOS = 240
CATEGORY_IDS = [1, 3, 7, 12, 44, 90]  # non-contiguous, as COCO's are
TIED_SCORES = [0.05, 0.3, 0.4999996, 0.5, 0.9]  # equal scores within and across categories, and around the conf
CONF = 0.5


# -- the independent references -------------------------------------------------------------------------------


def _cocoeval(ground_truth: dict, records: list[dict], *, use_cats: bool, cat_ids: list[int] | None = None):
    """pycocotools' COCOeval on copies of ``records``. With ``use_cats`` False: ``useCats = 0``, where a prediction
    of no dataset category (-1) counts too — plain useCats = 0 reads only the ground truth's categories, so -1 is
    made one more of them (it holds no ground truth; it only lets those predictions be read)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ground_truth = copy.deepcopy(ground_truth)
    if not use_cats and any(r["category_id"] == -1 for r in records):
        ground_truth["categories"].append({"id": -1, "name": "no dataset category"})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(records)) if records else COCO(), "bbox")
        evaluator.params.useCats = int(use_cats)
        if cat_ids is not None:
            evaluator.params.catIds = sorted(cat_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _assert_equal_stats(ours: dict, reference, what: str) -> None:
    mine = [-1.0 if ours[name] is None else ours[name] for name in SUMMARY]
    np.testing.assert_allclose(mine, reference.stats, rtol=0, atol=1e-9, err_msg=what)


def _iou(a, b) -> float:
    """IoU of two xyxy boxes, from its definition; 0 when they do not overlap (a zero-area box overlaps nothing)."""
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    return intersection / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection)


def _reference_localization(images, predictions, *, class_aware: bool):
    """Mean IoU as zoo defines it: predictions scoring at least CONF; each non-crowd ground-truth box scores the IoU
    of its match in the one-to-one matching that maximises the summed IoU (0 unmatched); class-aware, a ground truth
    matches only its own category (a pair of two categories is worth 0, the same as no match)."""
    every, per_image = [], {}
    for image in images:
        truths = [(box, c) for box, c, crowd in zip(image.boxes, image.category_ids, image.iscrowd) if not crowd]
        if not truths:
            continue
        p = predictions[image.id]
        confident = [(box, c) for box, c, score in zip(p.xyxy, p.category_ids, p.scores) if score >= CONF]
        matrix = np.zeros((len(truths), len(confident)))
        for i, (truth, truth_category) in enumerate(truths):
            for j, (box, category) in enumerate(confident):
                if not class_aware or category == truth_category:
                    matrix[i, j] = _iou(truth, box)
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        ious = np.zeros(len(truths))
        ious[rows] = matrix[rows, cols]
        every += ious.tolist()
        per_image[image.id] = ious.mean()
    return (float(np.mean(every)), len(every), per_image) if every else None


# -- random scenarios -------------------------------------------------------------------------------------------


def _image(rng, image_id: int, categories: list[int]) -> ImageRecord:
    """One image's ground truth: none to six boxes (two on one spot at times), some crowd, COCO areas that are not
    always the box's."""
    width, height = (int(v) for v in rng.integers(40, 220, 2))
    count = int(rng.choice([0, 1, 3, 6]))
    x1, y1 = rng.integers(0, width - 8, count).astype(float), rng.integers(0, height - 8, count).astype(float)
    w, h = np.minimum(rng.integers(1, 120, count), width - x1), np.minimum(rng.integers(1, 120, count), height - y1)
    if count > 1 and rng.random() < 0.3:
        x1[1], y1[1], w[1], h[1] = x1[0], y1[0], w[0], h[0]
    areas = w * h * np.where(rng.random(count) < 0.2, rng.uniform(0.3, 1.0, count), 1.0)
    return ImageRecord(
        id=image_id,
        file_name=f"{image_id}.png",
        width=width,
        height=height,
        boxes=np.stack([x1, y1, x1 + w, y1 + h], axis=1).reshape(-1, 4),
        category_ids=rng.choice(categories, count).astype(np.int64),
        iscrowd=rng.random(count) < 0.15,
        areas=areas.astype(float),
        source=lambda: np.zeros((height, width, 3), np.uint8),
    )


def _raw_output(rng, image: ImageRecord, categories: list[int]):
    """What a model returns for one image: xyxy (near a ground truth, exactly or jittered at full precision, or
    anywhere; a tenth of zero width or height), scores (often tied), dataset category ids (-1: a class it lacks)."""
    n = int(rng.choice([0, 2, 12, 40, 130]))  # 130: more than COCOeval's 100 detections per image
    size = np.array([image.width, image.height] * 2, float)
    anywhere = rng.uniform(0, 1, (n, 4)) * size
    if len(image.boxes):
        near = image.boxes[rng.integers(0, len(image.boxes), n)] + rng.choice([0.0, 1.0, -2.0], (n, 4))
        near += rng.normal(0, 3, (n, 4)) * (rng.random((n, 1)) < 0.5)
        anywhere = np.where(rng.random((n, 1)) < 0.6, near, anywhere)
    xs = np.sort(anywhere[:, [0, 2]], axis=1).clip(0, image.width)
    ys = np.sort(anywhere[:, [1, 3]], axis=1).clip(0, image.height)
    xyxy = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
    flat = rng.random(n) < 0.05
    xyxy[flat, 2] = xyxy[flat, 0]
    flat = rng.random(n) < 0.05
    xyxy[flat, 3] = xyxy[flat, 1]
    scores = np.where(rng.random(n) < 0.6, rng.choice(TIED_SCORES, n), rng.random(n))
    category_ids = np.where(rng.random(n) < 0.1, -1, rng.choice(categories, n))
    return xyxy, scores, category_ids


def _scenario(seed: int):
    """A dataset; the model's output on it, as ``localization`` reads it, as the records ``zoo run`` builds (and
    writes) and as COCO results written here from the raw values; and the categories its label space covers."""
    rng = np.random.default_rng(seed)
    categories = sorted(rng.choice(CATEGORY_IDS, int(rng.integers(1, 4)), replace=False).tolist())
    image_ids = sorted(rng.choice(np.arange(1, 1000), int(rng.integers(1, 5)), replace=False).tolist())
    images = [_image(rng, image_id, categories) for image_id in image_ids]
    dataset = Dataset("random", "coco", "random", [Category(c, f"class {c}") for c in categories], images)
    per_image, records, raw = {}, [], []
    for image in images:
        xyxy, scores, category_ids = _raw_output(rng, image, categories)
        detections = zoo.Detections(xyxy, scores, np.zeros(len(xyxy), np.int64))
        checked, zero_size = check_detections(detections, image.width, image.height, None)
        assert checked is detections and zero_size == int(
            ((xyxy[:, 2] == xyxy[:, 0]) | (xyxy[:, 3] == xyxy[:, 1])).sum()
        )
        per_image[image.id] = ImagePredictions(image.id, checked.xyxy, checked.scores, category_ids)
        records += results_records(image.id, checked, category_ids, zoo.Model().labels)
        for (x1, y1, x2, y2), score, category in zip(xyxy, scores, category_ids):
            box = [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
            raw.append({"image_id": image.id, "category_id": int(category), "bbox": box, "score": float(score)})
    covered = sorted(rng.choice(categories, int(rng.integers(1, len(categories) + 1)), replace=False).tolist())
    return dataset, per_image, records, raw, covered


def test_scenarios_cover_the_hard_cases():
    seen = {"ties across categories": 0, "crowds": 0, "empty images": 0, "zero-area boxes": 0, "> 100 per image": 0}
    for seed in range(SCENARIOS):
        dataset, per_image, *_ = _scenario(seed)
        for image in dataset.images:
            p = per_image[image.id]
            tied = [set(p.category_ids[p.scores == s].tolist()) for s in TIED_SCORES]
            seen["ties across categories"] += any(len(c) > 1 for c in tied)
            seen["crowds"] += int(image.iscrowd.sum())
            seen["empty images"] += not len(image.boxes)
            seen["zero-area boxes"] += int(((p.xyxy[:, 2] == p.xyxy[:, 0]) | (p.xyxy[:, 3] == p.xyxy[:, 1])).sum())
            seen["> 100 per image"] += len(p.scores) > 100
    assert min(seen.values()) >= 20, seen


@pytest.mark.parametrize("part", range(4))
def test_ap_and_iou_equal_cocoeval_and_an_independent_matching(part):
    for seed in range(part, SCENARIOS, 4):
        dataset, per_image, records, raw, covered = _scenario(seed)
        truth = dataset.coco_ground_truth()
        written = copy.deepcopy(records)
        aware = coco_metrics(truth, records, categories=covered)
        reference = _cocoeval(truth, raw, use_cats=True, cat_ids=covered)
        _assert_equal_stats(aware, reference, f"seed {seed}: class-aware")
        precision = reference.eval["precision"]
        for index, category in enumerate(sorted(covered)):
            values = precision[:, :, index, 0, -1]
            expected = values[values > -1].mean() if (values > -1).any() else None
            assert aware["per_class"][f"class {category}"] == pytest.approx(expected, abs=1e-9), f"seed {seed}"
        agnostic = coco_metrics(truth, records, class_agnostic=True)
        _assert_equal_stats(agnostic, _cocoeval(truth, raw, use_cats=False), f"seed {seed}: useCats=0")
        assert records == written, "scoring leaves the records as they are written"
        for class_aware in (False, True):
            ours = localization(dataset.images, per_image, conf=CONF, class_aware=class_aware)
            expected = _reference_localization(dataset.images, per_image, class_aware=class_aware)
            if expected is None:
                assert ours is None, f"seed {seed}"
                continue
            mean_iou, num_gt, by_image = expected
            assert (ours.mean_iou, ours.num_gt) == (pytest.approx(mean_iou, abs=1e-9), num_gt), f"seed {seed}"
            assert ours.per_image == pytest.approx(by_image, abs=1e-9), f"seed {seed}"


# -- through zoo run ----------------------------------------------------------------------------------------------

PLUGIN = '''
import numpy as np
from scipy import ndimage

import zoo


class Fixed(zoo.Model):
    """The same boxes in every image: rows of x1, y1, x2, y2, score, all of label 0."""

    family = "test"
    BOXES = []

    def load(self, device):
        self.labels = ["thing"]

    def forward(self, batch):
        return batch

    def postprocess(self, outputs, images):
        rows = np.array(self.BOXES, float).reshape(-1, 5)
        return [zoo.Detections(rows[:, :4], rows[:, 4], np.zeros(len(rows), int)) for _ in images]


class ZeroAreaBoxes(Fixed):
    name = "zero-area-boxes"
    BOXES = [[20, 20, 20, 40, 0.95], [20, 20, 40, 20, 0.96], [22, 22, 40, 40, 0.7]]


class JustBelowConf(Fixed):
    name = "just-below-conf"
    BOXES = [[20, 20, 40, 40, 0.4999996]]


class Noisy(zoo.Model):
    """Each coloured region boxed four times, jittered at full precision, under tied scores and random labels (one
    of them no class of the dataset); a few boxes flattened to zero height."""

    name = "noisy"
    family = "test"

    def load(self, device):
        self.labels = ["circle", "square", "triangle", "kite"]

    def forward(self, batch):
        return batch

    def postprocess(self, outputs, images):
        found = []
        for image in images:
            rng = np.random.default_rng(int(image.sum()))
            pixels = image.astype(float)
            regions, _ = ndimage.label(pixels.max(axis=2) - pixels.min(axis=2) > 60)
            boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(regions)]
            boxes = np.array(boxes, float).reshape(-1, 4).repeat(4, axis=0)
            boxes += rng.normal(0, 1.5, boxes.shape)
            h, w = image.shape[:2]
            xs, ys = np.sort(boxes[:, [0, 2]], axis=1).clip(0, w), np.sort(boxes[:, [1, 3]], axis=1).clip(0, h)
            xyxy = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
            n = len(xyxy)
            flat = rng.random(n) < 0.1
            xyxy[flat, 3] = xyxy[flat, 1]
            scores = np.where(rng.random(n) < 0.5, rng.choice([0.25, 0.5, 0.75], n), rng.random(n))
            found.append(zoo.Detections(xyxy, scores, rng.integers(0, 4, n)))
        return found


@zoo.hookimpl
def register_models(register):
    for model in (ZeroAreaBoxes, JustBelowConf, Noisy):
        register(model)
'''

OWN_FIELDS = {"image_id", "category_id", "bbox", "score", "zoo_label"}


def _run(tmp_path, models: list[str], data: str, *isolation: str) -> dict:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "scoring.py").write_text(PLUGIN)
    registry = tmp_path / "registry.yaml"
    registry.write_text("models:\n" + "".join(f"  {m}: {{}}\n" for m in models))
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run", "--plugins-dir", str(plugins), "--registry", str(registry), "--data", data, "--out", str(out),
        "--models", ",".join(models),
        *isolation, *FAST,
    )  # fmt: skip
    assert code == 0, stderr
    return {row["id"]: row for row in read_results(out).to_dict()["models"]}


def _assert_rescored(run_dir, row: dict) -> list[dict]:
    """Re-score predictions/<id>.json with pycocotools: the run's AP, class-aware and agnostic, to 1e-9."""
    truth = json.loads((run_dir / "ground_truth.json").read_text())
    records = json.loads((run_dir / row["predictions_file"]).read_text())
    assert all(set(r) == OWN_FIELDS for r in records), "only the model's output and zoo_label: nothing loadRes adds"
    covered = [c["id"] for c in truth["categories"] if c["name"] in row["labels"]["covered"]]
    accuracy = row["accuracy"]
    _assert_equal_stats(accuracy["coco"], _cocoeval(truth, records, use_cats=True, cat_ids=covered), row["id"])
    _assert_equal_stats(accuracy["coco_agnostic"], _cocoeval(truth, records, use_cats=False), row["id"])
    return records


def test_zero_area_boxes_and_full_precision_scores_score_as_cocoeval_through_zoo_run(tmp_path):
    """The issue's case: ground truth [20, 20, 40, 40]; two zero-area boxes scored above a good one. COCOeval counts
    them as false positives (AP50 1/3, AP 0.7/3); zoo once dropped them (AP50 1.0, AP 0.7). And a box scored
    0.4999996 is below --iou-conf 0.5 (rounded to six decimals, it once passed)."""
    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "images" / "one.png")
    truth = {
        "images": [{"id": 5, "file_name": "one.png", "width": 64, "height": 64}],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 7, "bbox": [20, 20, 20, 20], "area": 400, "iscrowd": 0}
        ],
        "categories": [{"id": 7, "name": "thing"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(truth))
    rows = _run(tmp_path, ["zero-area-boxes", "just-below-conf"], str(tmp_path / "instances.json"), "--no-isolation")
    zero_area, below = rows["zero-area-boxes"], rows["just-below-conf"]
    assert zero_area["labels"]["zero_size_boxes"] == 2 and zero_area["labels"]["predictions"] == 3
    for key in ("coco", "coco_agnostic"):
        coco = zero_area["accuracy"][key]
        assert (coco["map50"], coco["map"]) == (pytest.approx(1 / 3, abs=1e-9), pytest.approx(0.7 / 3, abs=1e-9))
    assert zero_area["accuracy"]["localization"]["mean_iou"] == pytest.approx(18 * 18 / 400, abs=1e-12)
    assert below["accuracy"]["localization"]["mean_iou"] == 0.0, "0.4999996 < --iou-conf 0.5"
    assert below["accuracy"]["coco"]["map"] == pytest.approx(1.0), "AP applies no threshold"
    for row in (zero_area, below):
        records = _assert_rescored(tmp_path / "run", row)
    assert records == [
        {"image_id": 5, "category_id": 7, "bbox": [20.0, 20.0, 20.0, 20.0], "score": 0.4999996, "zoo_label": "thing"}
    ]


def test_predictions_file_holds_the_raw_output_and_rescores_to_the_runs_numbers(tmp_path):
    """Through a worker process (the default isolation): full-precision boxes, tied scores across classes, a class
    the dataset lacks and zero-height boxes, re-scored by pycocotools to the run's twelve numbers, both ways."""
    row = _run(tmp_path, ["noisy"], SMALL_SHAPES)["noisy"]
    records = _assert_rescored(tmp_path / "run", row)
    assert 0.05 < row["accuracy"]["coco"]["map"] < 0.95, "a score in between, so the comparison means something"
    assert {r["category_id"] for r in records} >= {-1} and len({r["score"] for r in records}) < len(records)
    zero = sum(1 for r in records if r["bbox"][2] == 0 or r["bbox"][3] == 0)
    assert row["labels"]["zero_size_boxes"] == zero > 0
