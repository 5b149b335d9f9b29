"""The ultralytics plugin: real checkpoints through ultralytics' own loading and predictor, offline.

Checkpoints are made here the way ultralytics makes them: an untrained model built from its yaml, given COCO's 80
names, saved with ``model.save()``. Every test runs under conftest's guard that fails any network connection.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from tests.conftest import SMALL_SHAPES
from tests.test_run import FAST, run_zoo
from zoo.data import Category, load_dataset
from zoo.labels import build_label_map
from zoo.plugins import load_plugins
from zoo.registry import build_catalogue, load_registry, select
from zoo.runfolder import read_results

IDS = {"yolov8n": "yolo", "yolov8s": "yolo", "yolo11n": "yolo", "yolo11s": "yolo", "rtdetr-l": "detr"}
URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0/{}"
_built: dict[str, Path] = {}


def model_class(model_id: str) -> type[zoo.Model]:
    return load_plugins().models[model_id].cls


def plugin():
    return sys.modules[model_class("yolov8n").__module__]


def checkpoint(model_id: str, path: Path, tmp_path_factory) -> Path:
    """An untrained ``model_id`` built from its yaml with COCO's names, saved by ultralytics as a .pt at ``path``.

    A fresh YOLO head's class scores sit at ultralytics' prior (~1e-4), under the 0.001 the plugin predicts at; its
    class bias is set to -2 (scores ~0.12) so that predictions exist, with many boxes and classes to compare."""
    if model_id not in _built:
        module = plugin()
        module.import_ultralytics()
        import torch
        from ultralytics import RTDETR, YOLO

        torch.manual_seed(0)
        model = (RTDETR if model_id.startswith("rtdetr") else YOLO)(f"{model_id}.yaml")
        model.model.names = dict(enumerate(module.coco_names()))
        head = model.model.model[-1]
        for branch in getattr(head, "cv3", []):  # YOLO: see the docstring
            torch.nn.init.constant_(branch[-1].bias, -2.0)
        saved = tmp_path_factory.mktemp("checkpoints") / f"{model_id}.pt"
        model.save(saved)
        _built[model_id] = saved
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_built[model_id], path)
    return path


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny inputs run fastest and steadiest on one thread


def bus() -> np.ndarray:
    """A real photograph (810x1080) shipped with ultralytics, as zoo hands images over: RGB uint8."""
    from ultralytics.utils import ASSETS

    return np.asarray(Image.open(ASSETS / "bus.jpg").convert("RGB"))


def test_the_models_are_registered_and_catalogued():
    plugins = load_plugins()
    catalogue = build_catalogue(load_registry(), plugins)
    for model_id, family in IDS.items():
        cls = plugins.models[model_id].cls
        assert (cls.family, cls.framework, plugins.models[model_id].plugin) == (family, "ultralytics", "ultralytics")
        entry = catalogue[model_id]
        assert "registry.yaml:" in entry.where and entry.notes and entry.family == family
    assert [e.id for e in select("family:yolo", catalogue) if e.plugin == "ultralytics"] == list(IDS)[:4]
    assert "rtdetr-l" in [e.id for e in select("family:detr", catalogue)]


def test_a_checkpoint_named_with_weights_loads_through_ultralytics(tmp_path, tmp_path_factory, places):
    path = checkpoint("yolov8n", tmp_path / "mine" / "best.pt", tmp_path_factory)
    model = model_class("yolov8n")(weights=str(path))
    assert model.check_weights() == zoo.WeightsCheck("found", str(path))
    model.load("cpu")
    assert len(model.labels) == 80 and model.labels[0] == "person" and model.labels[79] == "toothbrush"
    info = model.info()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert info.weights == f"{path} (sha256 {digest})"
    assert 3.0e6 < info.num_params < 3.3e6, "YOLOv8n has 3.2M parameters"
    assert info.input_size == "longer side 640, letterboxed, padded to a multiple of 32", "ultralytics' native size"
    assert info.published_map is None, "not the official file: no published AP beside it"
    assert {k: info.settings[k] for k in ("conf", "iou", "max_det", "restricted_load")} == {
        "conf": 0.001,
        "iou": 0.7,
        "max_det": 300,
        "restricted_load": True,
    }
    assert info.settings["architecture"] == "yolov8n.yaml"


def test_the_official_name_is_found_where_ultralytics_keeps_it(tmp_path, tmp_path_factory, places):
    cwd, weights = places
    in_weights_dir = checkpoint("yolov8n", weights / "yolov8n.pt", tmp_path_factory)
    cls = model_class("yolov8n")
    assert cls().check_weights() == zoo.WeightsCheck("found", str(in_weights_dir))
    code, stdout, _ = run_zoo("weights")  # a stand-in: not the official file, whose size and sha256 zoo knows
    assert code == 0 and f"yolov8n: corrupt: {in_weights_dir} is not the official file: " in stdout
    model = cls(imgsz=160)
    model.load("cpu")
    info = model.info()
    assert info.weights.startswith(f"{in_weights_dir} (sha256 ")
    assert info.published_map is None, "the catalogue's published AP lives in registry.yaml, not in the plugin"
    published = {entry.id: entry for entry in load_registry()}["yolov8n"].published
    assert published["box_ap"] == pytest.approx(0.373) and "docs.ultralytics.com/models/yolov8" in published["source"]
    assert info.input_size.startswith("longer side 160")

    in_cwd = checkpoint("yolov8n", cwd / "yolov8n.pt", tmp_path_factory)
    assert cls().check_weights().location == str(in_cwd), "like YOLO('yolov8n.pt'): the current folder first"


def test_missing_weights_fail_fast_with_the_hint_and_nothing_is_downloaded(places):
    cwd, weights = places
    cls = model_class("yolo11s")
    check = cls().check_weights()
    assert check.state == "missing"
    assert check.location == f"{cwd / 'yolo11s.pt'}, {weights / 'yolo11s.pt'}"
    with pytest.raises(zoo.WeightsUnavailable) as raised:
        cls().load("cpu")  # had ultralytics been asked for yolo11s.pt, it would have tried to download it
    message = str(raised.value)
    assert message == check.hint
    assert f"yolo11s.pt is not in {cwd} nor in ultralytics' weights_dir {weights}" in message
    assert f"`zoo pull --models yolo11s` fetches {URL.format('yolo11s.pt')} to {weights / 'yolo11s.pt'}" in message
    assert "--weights yolo11s=PATH" in message
    assert list(cwd.iterdir()) == [] and not weights.exists(), "nothing was downloaded or created"

    with pytest.raises(zoo.WeightsUnavailable, match=f"no file at {cwd / 'nowhere' / 'x.pt'}"):
        cls(weights="nowhere/x.pt").load("cpu")
    assert cls(weights=zoo.UNTRAINED).check_weights().hint == "untrained: random initialisation from yolo11s.yaml"


def test_the_restricted_loader_refuses_a_checkpoint_that_would_run_code(tmp_path, tmp_path_factory, places):
    """An ultralytics .pt is a pickle: one that would call a function when unpickled is refused, not run."""
    import torch

    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return open, (str(marker), "w")

    path = checkpoint("yolov8n", tmp_path / "evil.pt", tmp_path_factory)
    saved = torch.load(path, weights_only=False)
    torch.save({**saved, "extra": Payload()}, path)
    with pytest.raises(ValueError, match="restricted loader refused it .* ULTRALYTICS_SAFE_LOAD=0"):
        model_class("yolov8n")(weights=str(path)).load("cpu")
    assert not marker.exists(), "the pickled call did not run"


def test_loading_leaves_torch_threads_as_the_run_set_them(tmp_path, tmp_path_factory, places):
    """ultralytics' select_device('cpu') resets torch's threads; every model of a run must keep --threads."""
    import torch
    from ultralytics.utils import NUM_THREADS

    path = checkpoint("yolov8n", tmp_path / "yolov8n.pt", tmp_path_factory)
    before = torch.get_num_threads()
    wanted = 2 if NUM_THREADS != 2 else 3
    torch.set_num_threads(wanted)
    try:
        model_class("yolov8n")(weights=str(path), imgsz=160).load("cpu")
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("model_id", "imgsz"), [("yolov8n", 320), ("yolo11n", 320), ("rtdetr-l", 160)])
def test_predictions_equal_ultralytics_own_predict(model_id, imgsz, tmp_path, tmp_path_factory, places):
    """zoo's three timed steps give exactly what model.predict() gives on the same image with the same settings."""
    import torch
    from ultralytics import RTDETR, YOLO
    from ultralytics.utils import NUM_THREADS

    path = checkpoint(model_id, tmp_path / f"{model_id}.pt", tmp_path_factory)
    image = bus()
    before = torch.get_num_threads()
    torch.set_num_threads(NUM_THREADS)  # what model.predict() sets on the CPU, so both sum in the same order
    try:
        model = model_class(model_id)(weights=str(path), imgsz=imgsz)
        model.load("cpu")
        (ours,) = model.predict([image]).detections
        reference = (RTDETR if model_id.startswith("rtdetr") else YOLO)(str(path))
        (theirs,) = reference.predict(image[..., ::-1], conf=0.001, iou=0.7, max_det=300, imgsz=imgsz, verbose=False)
    finally:
        torch.set_num_threads(before)
    assert len(ours) > 10 and len(np.unique(ours.xyxy.round(1), axis=0)) > 10, "a real test: many distinct boxes"
    np.testing.assert_array_equal(ours.xyxy, theirs.boxes.xyxy.numpy())
    np.testing.assert_array_equal(ours.scores, theirs.boxes.conf.numpy())
    np.testing.assert_array_equal(ours.labels, theirs.boxes.cls.numpy().astype(int))
    assert ours.xyxy[:, 2].max() > imgsz, "boxes are in the original image's pixels, not the network input's"
    if model_id.startswith("yolo"):  # YOLO boxes are clipped to the image (RT-DETR's are not, in ultralytics)
        height, width = image.shape[:2]
        assert (ours.xyxy >= 0).all() and (ours.xyxy[:, [0, 2]] <= width).all()
        assert (ours.xyxy[:, [1, 3]] <= height).all() and ours.xyxy[:, 3].max() > 0.9 * height


def test_labels_join_a_coco_dataset_by_name_not_by_index(tmp_path, tmp_path_factory, places):
    """COCO's category ids run 1..90 with gaps; ultralytics numbers the same 80 classes 0..79. A run on a COCO-format
    dataset must give every prediction the category of its class's name."""
    from torchvision.models import get_model_weights

    slots = get_model_weights("fasterrcnn_resnet50_fpn").DEFAULT.meta["categories"]  # index = COCO category id
    coco = [Category(i, name) for i, name in enumerate(slots) if name not in ("__background__", "N/A")]
    path = checkpoint("yolov8n", tmp_path / "yolov8n.pt", tmp_path_factory)
    labels = plugin().coco_names()
    label_map = build_label_map(labels, coco)
    assert label_map.unmapped == [] and len(label_map.mapped) == 80
    expected = {"person": 1, "bicycle": 2, "traffic light": 10, "dining table": 67, "tv": 72, "toothbrush": 90}
    for name, category_id in expected.items():
        assert label_map.apply(np.array([labels.index(name)])).tolist() == [category_id]

    dataset = load_dataset(SMALL_SHAPES, limit=2)
    images = tmp_path / "images"
    images.mkdir()
    annotations = []
    for image in dataset.images:
        Image.fromarray(image.load()).save(images / image.file_name)
        for x1, y1, x2, y2 in image.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image.id,
                    "category_id": 1,
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "area": float((x2 - x1) * (y2 - y1)),
                    "iscrowd": 0,
                }
            )
    ground_truth = {
        "images": [
            {"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height} for i in dataset.images
        ],
        "annotations": annotations,
        "categories": [{"id": c.id, "name": c.name} for c in coco],
    }
    (images / "instances.json").write_text(json.dumps(ground_truth))
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "yolov8n",
        "--weights",
        f"yolov8n={path}",
        "--data",
        str(images / "instances.json"),
        "--imgsz",
        "160",
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, stderr
    (row,) = read_results(out).to_dict()["models"]
    assert row["status"] == "ok", row["reason"]
    assert len(row["labels"]["mapped"]) == 80 and row["labels"]["dropped"] == {}
    names = {c.id: c.name for c in coco}
    predictions = json.loads((out / "predictions" / "yolov8n.json").read_text())
    assert len({p["zoo_label"] for p in predictions}) >= 5, "several classes predicted, so several mappings checked"
    for prediction in predictions:
        assert names[prediction["category_id"]] == prediction["zoo_label"]
    assert row["accuracy"]["coco"]["map"] is not None


def test_zoo_run_on_shapes_end_to_end(tmp_path, tmp_path_factory, places):
    """One model with a checkpoint and one without: an ok row with everything recorded, and a no-weights row with
    the hint whose speed is measured on an untrained copy."""
    cwd, weights = places
    path = checkpoint("yolo11n", tmp_path / "yolo11n-custom.pt", tmp_path_factory)
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "yolo11n,yolov8n",
        "--weights",
        f"yolo11n={path}",
        "--data",
        SMALL_SHAPES,
        "--limit",
        "2",
        "--imgsz",
        "160",
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, stderr
    rows = {row["id"]: row for row in read_results(out).to_dict()["models"]}
    ok, missing = rows["yolo11n"], rows["yolov8n"]

    assert ok["status"] == "ok" and ok["framework"] == "ultralytics" and ok["family"] == "yolo"
    assert ok["weights"].startswith(f"{path} (sha256 ")
    assert ok["info"]["input_size"].startswith("longer side 160")
    assert ok["info"]["settings"]["conf"] == 0.001 and ok["info"]["settings"]["max_det"] == 300
    assert ok["info"]["gflops"] > 0 and ok["info"]["num_params"] > 2e6 and ok["info"]["labels"] == 80
    assert ok["labels"]["mapped"] == {}
    assert (
        ok["missing"]["coco"] == "no class shared with the dataset: none of the model's classes is a dataset category"
    )
    assert ok["accuracy"]["coco_agnostic"]["map"] is not None and "mean_iou" in ok["accuracy"]["localization"]
    for stage in ("preprocess", "inference", "postprocess"):
        assert ok["speed"]["latency_ms"][stage]["median"] > 0
    predictions = json.loads((out / "predictions" / "yolo11n.json").read_text())
    assert predictions
    for p in predictions:
        x, y, w, h = p["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 96 + 1e-3 and y + h <= 80 + 1e-3, "boxes in the 96x80 images' pixels"

    assert missing["status"] == "no-weights" and missing["untrained"] is True
    assert URL.format("yolov8n.pt") in missing["reason"] and str(weights / "yolov8n.pt") in missing["reason"]
    assert missing["weights"] == "untrained (random initialisation)" and missing["accuracy"] == {}
    assert missing["speed"]["latency_ms"]["total"]["median"] > 0 and missing["speed"]["images_per_s_batch"] > 0
    assert list(cwd.iterdir()) == [], "nothing downloaded into the current folder"
