"""The accuracy pass: every image predicted once at batch 1 and confidence 0, the predictions kept as the model
returned them, then scored — COCO AP (faster-coco-eval) and localization IoU — at full precision. The runner calls
it; `zoo.shards` scores the merged parts of a sharded pass with the same `score`."""

from __future__ import annotations

from collections import Counter

import numpy as np

from zoo import timing
from zoo.data import Dataset, ImageRecord
from zoo.labels import NO_CLASS, LabelMap, build_label_map
from zoo.metrics.coco import coco_metrics, label_name, results_records
from zoo.metrics.localization import ImagePredictions, LocalizationResult, localization
from zoo.model import Model, StageTimes
from zoo.results import Accuracy, CocoMetrics, Labels, Localization, ModelRun
from zoo.settings import Report, Settings


def predict_all(
    model: Model,
    dataset: Dataset,
    run: ModelRun,
    report: Report,
    sizes: set[tuple[int, int]],
    images: list[ImageRecord],
) -> tuple[list[StageTimes], LabelMap, dict[int, ImagePredictions]]:
    """Predict every image of ``images`` (the dataset's, or a part's) at batch 1 (the records into
    ``run.predictions``) and return the timed calls — every call but the first at an image size not in ``sizes`` (a
    warm-up for that size; ``sizes`` grows) — with the label map and the per-image predictions `score` needs."""
    result = run.result
    label_map = build_label_map(model.labels, dataset.categories, model.label_aliases)
    result.labels = Labels(
        class_agnostic=model.labels is None,
        space=None if model.labels is None else [str(label) for label in model.labels],
        mapped=label_map.mapped,
        unmapped=label_map.unmapped,
        covered=[c.name for c in dataset.categories if c.id in label_map.covered()],
    )
    latency: list[StageTimes] = []
    per_image: dict[int, ImagePredictions] = {}
    dropped: Counter[str] = Counter()
    zero_size = 0
    for done, image in enumerate(images, start=1):
        prediction = model.predict([image.load()])
        report("predicting", done, len(images))
        zero_size += prediction.zero_size
        if timing.is_sample(image, sizes):
            latency.append(prediction.times)
        detections = prediction.detections[0]
        categories = (
            label_map.apply(detections.labels) if model.labels is not None else (np.full(len(detections), NO_CLASS))
        )
        if model.labels is not None:
            for label in detections.labels[categories == NO_CLASS]:
                dropped[label_name(model.labels, int(label))] += 1
        per_image[image.id] = ImagePredictions(image.id, detections.xyxy, detections.scores, categories)
        run.predictions += results_records(image.id, detections, categories, model.labels)
    result.labels.predictions = len(run.predictions)
    result.labels.dropped = dict(dropped.most_common())
    result.labels.zero_size_boxes = zero_size  # kept, and scored as COCOeval scores them
    return latency, label_map, per_image


def score(
    dataset: Dataset, settings: Settings, run: ModelRun, label_map: LabelMap, per_image: dict[int, ImagePredictions]
) -> None:
    """AP and IoU from what the model returned, at full precision: AP from ``run.predictions`` (what
    predictions/<id>.json holds, so a re-scoring of it gives the same numbers), IoU from ``per_image``."""
    result = run.result
    accuracy = Accuracy(iou_conf=settings.iou_conf)
    agnostic = localization(
        dataset.images, per_image, conf=settings.iou_conf, class_aware=False, thresholds=settings.iou_thresholds
    )
    if agnostic is None:
        result.missing["localization"] = "the dataset has no ground-truth boxes"
    else:
        accuracy.localization = _localization_record(agnostic)
        accuracy.per_image_iou = {str(k): round(v, 6) for k, v in agnostic.per_image.items()}
    ground_truth = dataset.coco_ground_truth()
    accuracy.coco_agnostic = CocoMetrics.from_dict(coco_metrics(ground_truth, run.predictions, class_agnostic=True))
    if result.labels.class_agnostic:
        reason = "the model predicts no classes (class-agnostic)"
        result.missing["coco"] = result.missing["localization_class_aware"] = reason
    elif not label_map.mapped:
        reason = "no class shared with the dataset: none of the model's classes is a dataset category"
        result.missing["coco"] = result.missing["localization_class_aware"] = reason
    else:
        aware = localization(
            dataset.images, per_image, conf=settings.iou_conf, class_aware=True, thresholds=settings.iou_thresholds
        )
        if aware is not None:
            accuracy.localization_class_aware = _localization_record(aware)
        accuracy.coco = CocoMetrics.from_dict(
            coco_metrics(ground_truth, run.predictions, categories=sorted(label_map.covered()))
        )
    result.accuracy = accuracy


def _localization_record(value: LocalizationResult) -> Localization:
    localized = {f"{t:g}": share for t, share in value.localized.items()}
    return Localization(mean_iou=value.mean_iou, localized=localized, num_gt=value.num_gt)
