"""The transformers plugin: DETR-style checkpoints loaded offline through transformers' own path, predicting exactly
what the library predicts, with honest rows when weights are missing.

The checkpoints here are tiny versions of the real architectures (a few layers, small widths, a small backbone),
saved with ``save_pretrained`` into a folder or into the Hugging Face cache layout, then loaded by zoo's real code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as hf

from tests.conftest import SMALL_SHAPES, save_formats
from tests.test_run import FAST, run_zoo
from zoo import WeightsUnavailable
from zoo.data import load_dataset
from zoo.device import count_flops
from zoo.labels import NO_CLASS, build_label_map
from zoo.plugins import load_plugins
from zoo.registry import load_registry
from zoo.runfolder import read_results

SIDE = {"shortest_edge": 64, "longest_edge": 96}
SMALL = dict(
    encoder_layers=1,
    decoder_layers=1,
    encoder_ffn_dim=32,
    decoder_ffn_dim=32,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    num_queries=10,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread keeps them quick


@pytest.fixture(scope="module")
def plugin():
    """The plugin module as zoo loads it, and the model classes it registers."""
    import sys

    plugins = load_plugins()
    assert not plugins.problems, plugins.problems
    return sys.modules["zoo_plugin_transformers"], plugins.models


def _resnet(*stages: str) -> hf.ResNetConfig:
    return hf.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", out_features=list(stages)
    )


def _tiny(model_id: str, coco) -> tuple[hf.PreTrainedModel, object]:
    """A tiny model of the same class as ``model_id``'s checkpoint, with COCO labels, and its image processor."""
    coco91, coco80 = coco("coco91"), coco("coco80")
    torch.manual_seed(0)
    if model_id == "detr-resnet-50":
        config = hf.DetrConfig(backbone_config=_resnet("stage2"), d_model=16, id2label=coco91, **SMALL)
        return hf.DetrForObjectDetection(config), hf.DetrImageProcessor(size=SIDE)
    if model_id == "conditional-detr-resnet-50":
        config = hf.ConditionalDetrConfig(backbone_config=_resnet("stage2"), d_model=16, id2label=coco91, **SMALL)
        return hf.ConditionalDetrForObjectDetection(config), hf.ConditionalDetrImageProcessor(size=SIDE)
    if model_id == "deformable-detr":
        options = {**SMALL, "decoder_layers": 2, "encoder_n_points": 2, "decoder_n_points": 2}
        config = hf.DeformableDetrConfig(
            backbone_config=_resnet("stage1", "stage2"), num_feature_levels=2, d_model=32, id2label=coco91, **options
        )
        return hf.DeformableDetrForObjectDetection(config), hf.DeformableDetrImageProcessor(size=SIDE)
    if model_id == "rtdetr_r18vd":
        backbone = hf.RTDetrResNetConfig(
            embedding_size=8,
            hidden_sizes=[8, 16, 32, 64],
            depths=[1, 1, 1, 1],
            layer_type="basic",
            out_indices=[2, 3, 4],
        )
        config = hf.RTDetrConfig(
            backbone_config=backbone,
            encoder_in_channels=[16, 32, 64],
            encoder_hidden_dim=16,
            d_model=16,
            decoder_in_channels=[16, 16, 16],
            decoder_n_points=2,
            id2label=coco80,
            **SMALL,
        )
        return hf.RTDetrForObjectDetection(config), hf.RTDetrImageProcessor(size={"height": 64, "width": 64})
    if model_id == "yolos-tiny":
        config = hf.YolosConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=[64, 96],
            num_detection_tokens=5,
            use_mid_position_embeddings=False,
            id2label=coco91,
        )
        return hf.YolosForObjectDetection(config), hf.YolosImageProcessor(size=SIDE)
    raise KeyError(model_id)


TINY = ["detr-resnet-50", "conditional-detr-resnet-50", "deformable-detr", "rtdetr_r18vd", "yolos-tiny"]


@pytest.fixture(scope="module")
def saved(plugin, tmp_path_factory) -> dict[str, Path]:
    """Each tiny model and its image processor, written by save_pretrained into a folder of its own."""
    module, _ = plugin
    root = tmp_path_factory.mktemp("saved")
    folders = {}
    for model_id in TINY:
        model, processor = _tiny(model_id, module.coco_id2label)
        model.save_pretrained(root / model_id)
        processor.save_pretrained(root / model_id)
        folders[model_id] = root / model_id
    return folders


def put_in_hub_cache(folder: Path, hub: Path, repo_id: str, commit: str | None = None):
    """Lay ``folder``'s files out as ``hf download`` does: blobs by hash, a snapshot of links, refs/main. The
    snapshot is the commit zoo pins for that repository, unless another is given (or zoo pins none)."""
    import sys

    load_plugins()
    pinned = {spec["hub_id"]: spec.get("revision") for spec in sys.modules["zoo_plugin_transformers"].MODELS.values()}
    commit = commit or pinned.get(repo_id) or "0123456789abcdef0123456789abcdef01234567"
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for file in folder.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (repo / "snapshots" / commit / file.name).symlink_to(Path("..", "..", "blobs", blob.name))
    return repo / "snapshots" / commit


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face home for this test; no offline switch, so only zoo's own code keeps it offline."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return tmp_path / "hf-home"


@pytest.fixture
def attempts(monkeypatch) -> list:
    """Every attempt to reach the network, recorded (and refused), so a library that swallows the error is caught."""
    seen = []

    def refuse(*args, **kwargs):
        import traceback

        traceback.print_stack()
        seen.append(args[:2])
        raise RuntimeError(f"a test tried to reach the network: {args[:2]}")

    connect = socket.socket.connect

    def refuse_connect(self, address):
        if self.family == socket.AF_UNIX:  # a local socket (multiprocessing's fork server), not the network
            return connect(self, address)
        return refuse(self, address)

    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return seen


def _image() -> np.ndarray:
    return load_dataset(SMALL_SHAPES).images[0].load()


def _library_prediction(folder: Path, image: np.ndarray) -> dict[str, np.ndarray]:
    """What transformers itself predicts: model(**processor(images)), then post_process_object_detection."""
    model = hf.AutoModelForObjectDetection.from_pretrained(folder).eval()
    processor = hf.AutoImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        outputs = model(**processor(images=[image], return_tensors="pt"))
    (result,) = processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=[image.shape[:2]])
    return {key: value.numpy() for key, value in result.items()}


def test_coco_label_tables_match_torchvisions_coco_categories(plugin):
    """The built-in COCO tables (used for untrained copies) agree with an independent copy of COCO's categories."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    module, _ = plugin
    categories = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]  # 91 ids, "N/A" where COCO has none
    coco91 = module.coco_id2label("coco91")
    assert [coco91[i] for i in range(1, 91)] == categories[1:]
    assert coco91[0] == "N/A" and coco91[1] == "person" and coco91[12] == "N/A" and coco91[13] == "stop sign"
    assert list(module.coco_id2label("coco80").values()) == [name for name in categories[1:] if name != "N/A"]


@pytest.mark.parametrize("model_id", TINY)
def test_a_saved_folder_loads_and_predicts_exactly_what_transformers_predicts(plugin, saved, attempts, model_id):
    _, models = plugin
    folder = saved[model_id]
    model = models[model_id].cls(weights=str(folder))
    assert model.check_weights().state == "found" and model.check_weights().location == str(folder)
    model.device = "cpu"
    model.load("cpu")
    image = _image()
    (detections,) = model.predict([image]).detections
    expected = _library_prediction(folder, image)
    assert len(detections) > 0
    np.testing.assert_allclose(detections.xyxy, expected["boxes"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(detections.scores, expected["scores"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(detections.labels, expected["labels"])
    info = model.info()
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()[:12]
    assert info.weights == f"{folder} (model.safetensors, sha256 {digest})"
    assert info.published_map is None, "a local folder is not the official checkpoint"
    assert info.num_params == sum(
        p.numel() for p in hf.AutoModelForObjectDetection.from_pretrained(folder).parameters()
    )
    assert info.settings["threshold"] == 0.0 and info.settings["size"] == dict(model.processor.size)
    assert count_flops(lambda: model.forward(model.preprocess([image]))) > 0, "zoo can count its GFLOPs"
    assert attempts == []


def test_labels_are_indexed_by_label_id_and_join_coco_names(plugin, saved):
    """Label i is the checkpoint's id2label[i]: COCO's 91-id space with "N/A" at the unused ids, or RT-DETR's 80."""
    _, models = plugin
    detr = models["detr-resnet-50"].cls(weights=str(saved["detr-resnet-50"]))
    detr.load("cpu")
    assert len(detr.labels) == 91 and detr.labels[1] == "person" and detr.labels[90] == "toothbrush"
    assert [detr.labels[i] for i in (0, 12, 26, 83)] == ["N/A"] * 4 and detr.labels[13] == "stop sign"
    categories = load_dataset(SMALL_SHAPES).categories
    renamed = [type(c)(id=c.id, name=n) for c, n in zip(categories, ("stop sign", "person", "kite"))]
    label_map = build_label_map(detr.labels, renamed)
    by_name = {c.name: c.id for c in renamed}
    assert label_map.to_category[1] == by_name["person"] and label_map.to_category[13] == by_name["stop sign"]
    assert label_map.to_category[12] == NO_CLASS and "N/A" in label_map.unmapped
    rtdetr = models["rtdetr_r18vd"].cls(weights=str(saved["rtdetr_r18vd"]))
    rtdetr.load("cpu")
    assert len(rtdetr.labels) == 80 and rtdetr.labels[0] == "person" and rtdetr.labels[11] == "stop sign"


@pytest.mark.parametrize(
    ("model_id", "repo_id", "published"),
    [("detr-resnet-50", "facebook/detr-resnet-50", 0.42), ("rtdetr_r18vd", "PekingU/rtdetr_r18vd", 0.464)],
)
def test_the_hub_id_loads_from_the_hugging_face_cache_offline(
    plugin, saved, hf_home, attempts, model_id, repo_id, published
):
    _, models = plugin
    commit = models[model_id].cls.revision  # the commit zoo pins
    snapshot = put_in_hub_cache(saved[model_id], hf_home / "hub", repo_id)
    model = models[model_id].cls()
    check = model.check_weights()
    assert (check.state, check.location) == ("found", str(snapshot))
    model.load("cpu")
    info = model.info()
    assert info.weights == f"{repo_id}@{commit} (model.safetensors, Hugging Face cache {hf_home / 'hub'})"
    assert info.published_map is None, "the catalogue's published AP lives in registry.yaml, not in the plugin"
    entry = {entry.id: entry for entry in load_registry()}[model_id]
    assert entry.published["box_ap"] == published and entry.published["split"] == "coco-val2017"
    assert repo_id in entry.published["source"], "the model card of these weights"
    image = _image()
    (detections,) = model.predict([image]).detections
    np.testing.assert_allclose(detections.scores, _library_prediction(saved[model_id], image)["scores"], rtol=1e-5)
    assert attempts == []


def test_a_hub_config_asking_for_a_pretrained_timm_backbone_downloads_nothing(plugin, tmp_path, hf_home, attempts):
    """DETR checkpoints on the hub name a timm backbone with use_pretrained_backbone=true: loading must not fetch it."""
    module, models = plugin
    config = hf.DetrConfig(backbone="test_resnet", d_model=16, id2label=module.coco_id2label("coco91"), **SMALL)
    torch.manual_seed(0)
    saved_model = hf.DetrForObjectDetection(config)
    saved_model.save_pretrained(tmp_path / "detr")
    hf.DetrImageProcessor(size=SIDE).save_pretrained(tmp_path / "detr")
    legacy = json.loads((tmp_path / "detr" / "config.json").read_text())  # the way facebook/detr-resnet-50 has it
    del legacy["backbone_config"]
    legacy.update(backbone="test_resnet", use_timm_backbone=True, use_pretrained_backbone=True)
    (tmp_path / "detr" / "config.json").write_text(json.dumps(legacy))
    put_in_hub_cache(tmp_path / "detr", hf_home / "hub", "facebook/detr-resnet-50")
    model = models["detr-resnet-50"].cls()
    model.load("cpu")
    loaded = model.module.state_dict()
    assert all(torch.equal(value, loaded[key]) for key, value in saved_model.state_dict().items())
    assert "weights_not_in_checkpoint" not in model.info().settings
    assert attempts == []


def test_missing_weights_say_where_zoo_looked_and_what_to_do(plugin, saved, tmp_path, hf_home, attempts):
    _, models = plugin
    model = models["detr-resnet-50"].cls()
    check = model.check_weights()
    assert check.state == "missing" and check.location == str(hf_home / "hub")
    pinned = models["detr-resnet-50"].cls.revision
    assert f"facebook/detr-resnet-50@{pinned} is not in the Hugging Face cache" in check.hint
    assert "`zoo pull --models detr-resnet-50` fetches it into" in check.hint
    assert "--weights detr-resnet-50=FOLDER" in check.hint
    with pytest.raises(WeightsUnavailable) as raised:
        model.load("cpu")
    assert str(raised.value) == check.hint
    partial = tmp_path / "no-processor"
    shutil.copytree(saved["yolos-tiny"], partial)
    (partial / "preprocessor_config.json").unlink()
    check = models["yolos-tiny"].cls(weights=str(partial)).check_weights()
    assert check.state == "missing" and f"weights folder {partial} lacks preprocessor_config.json" in check.hint
    check = models["yolos-tiny"].cls(weights=str(tmp_path / "nowhere")).check_weights()
    assert check.state == "missing" and f"weights folder {tmp_path / 'nowhere'} not found" in check.hint
    code, stdout, _ = run_zoo("weights")
    assert code == 0
    assert "rtdetr_r50vd: missing: PekingU/rtdetr_r50vd@main is not in the Hugging Face cache" in stdout
    code, stdout, _ = run_zoo("models")
    rows = {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line.strip()}
    for model_id in ("detr-resnet-50", "conditional-detr-resnet-50", "deformable-detr", "rtdetr_r18vd", "rtdetr_r50vd"):
        assert rows[model_id][:3] + rows[model_id][-1:] == ["detr", "transformers", "missing", "Apache-2.0"]
    assert rows["yolos-tiny"] == ["detr", "transformers", "missing", "28.7", "(coco-val2017)", "Apache-2.0"]
    assert attempts == []


# The parameter counts their authors publish: DETR 41M, Conditional DETR 44M, Deformable DETR 40M, RT-DETR 20M / 42M,
# YOLOS-Ti 6.5M; and each model's native input size.
PUBLISHED_SHAPE = {
    "detr-resnet-50": (41e6, "shorter side 800, longer ≤ 1333", 91),
    "conditional-detr-resnet-50": (44e6, "shorter side 800, longer ≤ 1333", 91),
    "deformable-detr": (40e6, "shorter side 800, longer ≤ 1333", 91),
    "rtdetr_r18vd": (20e6, "640x640", 80),
    "rtdetr_r50vd": (42e6, "640x640", 80),
    "yolos-tiny": (6.5e6, "shorter side 512, longer ≤ 1333", 91),
}


@pytest.mark.parametrize("model_id", list(PUBLISHED_SHAPE))
def test_untrained_copies_are_the_official_architectures_built_offline(plugin, hf_home, attempts, model_id):
    """What zoo times when weights are missing: the real architecture from the config class, no hub, no cache."""
    _, models = plugin
    params, input_size, labels = PUBLISHED_SHAPE[model_id]
    model = models[model_id].cls(weights="untrained")
    assert model.check_weights().state == "none"
    with torch.device("meta"):  # the same construction as load(), without spending time on random initialisation
        module, processor = model._build_untrained()
    assert sum(p.numel() for p in module.parameters()) == pytest.approx(params, rel=0.03)
    model.module, model.processor, model.identity = module, processor, "untrained"
    assert model.info().input_size == input_size
    assert module.config.num_labels == labels and module.config.id2label[0] in ("N/A", "person")
    assert not hf_home.exists(), "the untrained build never looks at the cache"
    assert attempts == []


def test_zoo_run_end_to_end_folder_cache_and_missing_weights(saved, tmp_path, hf_home, attempts):
    """One run: DETR from --weights FOLDER, RT-DETR from the cache, YOLOS-tiny missing (timed untrained), --imgsz 64."""
    put_in_hub_cache(saved["rtdetr_r18vd"], hf_home / "hub", "PekingU/rtdetr_r18vd")
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run",
        "--models",
        "detr-resnet-50,rtdetr_r18vd,yolos-tiny",
        "--weights",
        f"detr-resnet-50={saved['detr-resnet-50']}",
        "--data",
        SMALL_SHAPES,
        "--limit",
        "2",
        "--imgsz",
        "64",
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, stderr
    rows = {row["id"]: row for row in read_results(out).to_dict()["models"]}
    detr, rtdetr, yolos = rows["detr-resnet-50"], rows["rtdetr_r18vd"], rows["yolos-tiny"]
    for row in (detr, rtdetr):
        assert row["status"] == "ok", row["reason"]
        assert row["framework"] == "transformers" and row["family"] == "detr"
        assert row["labels"]["predictions"] > 0 and row["accuracy"]["coco_agnostic"]["map"] is not None
        assert row["missing"]["coco"] == (
            "no class shared with the dataset: none of the model's classes is a dataset category"
        )
        assert row["speed"]["latency_ms"]["inference"]["median"] > 0 and row["info"]["gflops"] > 0
    assert detr["weights"].startswith(f"{saved['detr-resnet-50']} (model.safetensors, sha256 ")
    assert detr["info"]["input_size"] == "shorter side 64, longer ≤ 96"
    assert rtdetr["weights"].startswith("PekingU/rtdetr_r18vd@")
    assert rtdetr["info"]["input_size"] == "64x64" and rtdetr["info"]["settings"]["size"] == {"height": 64, "width": 64}
    assert yolos["status"] == "no-weights" and yolos["weights"] == "untrained (random initialisation)"
    pinned = sys.modules["zoo_plugin_transformers"].MODELS["yolos-tiny"]["revision"]
    assert f"hustvl/yolos-tiny@{pinned} is not in the Hugging Face cache" in yolos["reason"], "at the pinned commit"
    assert "`zoo pull --models yolos-tiny` fetches it" in yolos["reason"]
    assert yolos["speed"]["latency_ms"]["total"]["median"] > 0 and not yolos["accuracy"]
    assert yolos["info"]["num_params"] == pytest.approx(6.5e6, rel=0.03), "timed on the real YOLOS-tiny architecture"
    assert yolos["info"]["input_size"] == "shorter side 64, longer ≤ 167" and yolos["info"]["gflops"] > 0
    assert {p.name for p in (out / "predictions").iterdir()} == {"detr-resnet-50.json", "rtdetr_r18vd.json"}
    assert attempts == []


def test_predictions_join_a_coco_named_dataset_by_name(plugin, saved, tmp_path):
    """Label 1 ("person") and 13 ("stop sign") land on the dataset's categories of those names, whatever their ids;
    labels at COCO's unused ids ("N/A") and classes the dataset lacks land on none."""
    model_id = "conditional-detr-resnet-50"  # top-100 over queries x 91 labels: several labels per box
    folder = tmp_path / "person-and-stop-sign"
    shutil.copytree(saved[model_id], folder)
    model = hf.AutoModelForObjectDetection.from_pretrained(folder)
    with torch.no_grad():  # every box scores highest as "person" and as "stop sign"
        model.class_labels_classifier.bias[[1, 13]] = 20.0
    model.save_pretrained(folder)
    paths = save_formats(load_dataset(SMALL_SHAPES), tmp_path / "data")
    coco = json.loads(paths["coco"].read_text())
    renamed = dict(zip((c["name"] for c in coco["categories"]), ("stop sign", "person", "kite")))
    for category in coco["categories"]:
        category["name"] = renamed[category["name"]]
    paths["coco"].write_text(json.dumps(coco))
    ids = {c["name"]: c["id"] for c in coco["categories"]}
    assert ids["person"] != 1 and ids["stop sign"] != 13, "the dataset's ids differ from COCO's"
    out = tmp_path / "run"
    code, _, stderr = run_zoo(
        "run",
        "--models",
        model_id,
        "--weights",
        f"{model_id}={folder}",
        "--data",
        str(paths["coco"]),
        "--limit",
        "2",
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, stderr
    (row,) = read_results(out).to_dict()["models"]
    assert row["status"] == "ok", row["reason"]
    assert row["labels"]["mapped"] == {"person": "person", "stop sign": "stop sign", "kite": "kite"}
    assert "N/A" in row["labels"]["unmapped"] and "toothbrush" in row["labels"]["unmapped"]
    records = json.loads((out / "predictions" / f"{model_id}.json").read_text())
    assert {"person", "stop sign", "N/A"} <= {r["zoo_label"] for r in records}
    assert all(r["category_id"] == ids.get(r["zoo_label"], -1) for r in records)
    assert row["labels"]["dropped"]["N/A"] > 0
    assert row["accuracy"]["coco"]["map"] is not None
