"""The open-vocabulary family: prompts from the dataset's names, chunking and merging, the exact token span / index ->
category mapping, OWL's cached text path against the library's own forward, and a row for every model with and
without weights — all offline, on tiny random configurations built here (the real checkpoints are not on this
machine)."""

from __future__ import annotations

import string
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers as hf

from zoo import vocabulary
from zoo.data import load_dataset
from zoo.errors import ZooError
from zoo.plugins import load_plugins
from zoo.registry import build_catalogue, load_registry
from zoo.runner import evaluate
from zoo.settings import Settings, check_template

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAMILY = ["owlv2-base-patch16-ensemble", "owlvit-base-patch32", "grounding-dino-tiny", "yolov8s-worldv2"]
NAMES_200 = [f"{word} {i}" for i, word in zip(range(200), ["red thing", "blue box", "tall tree", "cat"] * 50)]


@pytest.fixture(scope="module")
def plugins():
    loaded = load_plugins()
    assert not loaded.problems, loaded.problems
    return loaded


@pytest.fixture(scope="module")
def ov(plugins):
    """The plugin's modules as zoo loaded them (``zoo_plugin_open_vocabulary.*``), the ones its classes come from."""
    names = ("prompts", "hub", "owl", "grounding_dino", "yolo_world")
    return SimpleNamespace(**{name: sys.modules[f"zoo_plugin_open_vocabulary.{name}"] for name in names})


# -- tiny architectures and tokenizers ---------------------------------------------------------------------------


def _clip_tokenizer() -> hf.CLIPTokenizer:
    vocab = {"!": 0}
    for suffix in ("", "</w>"):
        for char in string.ascii_lowercase + string.digits:
            vocab[char + suffix] = len(vocab)
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    return hf.CLIPTokenizer(vocab=vocab, merges=[], pad_token="!")


def _bert_tokenizer() -> hf.BertTokenizer:
    """A tiny BERT vocabulary with [CLS], [SEP] and "." at BERT's ids (Grounding DINO's phrase masks use those)."""
    words = [f"[unused{i}]" for i in range(1100)]
    for index, token in {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: "."}.items():
        words[index] = token
    letters = list(string.ascii_lowercase + string.digits)
    words[200 : 200 + 2 * len(letters)] = letters + ["##" + c for c in letters]
    return hf.BertTokenizer(vocab={word: i for i, word in enumerate(words)})


def _tiny_owl(v2: bool, tokenizer=None):
    tokenizer = tokenizer or _clip_tokenizer()
    text = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    text |= dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=64)
    vision["patch_size"] = 16
    torch.manual_seed(0)
    if v2:
        config = hf.Owlv2Config(text_config=text, vision_config=vision, projection_dim=16)
        return hf.Owlv2ForObjectDetection(config), hf.Owlv2ImageProcessor(size={"height": 64, "width": 64})
    config = hf.OwlViTConfig(text_config=text, vision_config=vision, projection_dim=16)
    return hf.OwlViTForObjectDetection(config), hf.OwlViTImageProcessor(
        size={"height": 64, "width": 64}, crop_size={"height": 64, "width": 64}
    )


def _tiny_grounding_dino(max_text_len: int = 32):
    backbone = hf.SwinConfig(
        embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=2, image_size=64, out_indices=[2, 3, 4]
    )
    text = hf.BertConfig(vocab_size=1200, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    text.intermediate_size = 32
    config = hf.GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2,
        num_queries=10, encoder_n_points=1, decoder_n_points=1, max_text_len=max_text_len,
    )  # fmt: skip
    config.use_pretrained_backbone = False
    torch.manual_seed(0)
    processor = hf.GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    return hf.GroundingDinoForObjectDetection(config), processor


@pytest.fixture
def tiny_untrained(ov, monkeypatch):
    """Untrained copies of tiny size (the real architectures take seconds per image on this machine)."""
    stand_in = ov.hub.WordTokenizer

    def owl(self):
        module, processor = _tiny_owl(self.pads_to_square)
        return module, SimpleNamespace(image_processor=processor), stand_in(1, module.config.text_config.vocab_size)

    def dino(self):
        module, processor = _tiny_grounding_dino()
        return module, SimpleNamespace(image_processor=processor), stand_in(200, 1000)

    monkeypatch.setattr(ov.owl.OwlDetector, "_build_untrained", owl)
    monkeypatch.setattr(ov.grounding_dino.GroundingDino, "_build_untrained", dino)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """Tiny OWLv2, OWL-ViT and Grounding DINO with their processors, written by save_pretrained."""
    root = tmp_path_factory.mktemp("ov")
    folders = {}
    for model_id, (module, image_processor, tokenizer, processor_class) in {
        "owlv2-base-patch16-ensemble": (*_tiny_owl(True), _clip_tokenizer(), hf.Owlv2Processor),
        "owlvit-base-patch32": (*_tiny_owl(False), _clip_tokenizer(), hf.OwlViTProcessor),
        "grounding-dino-tiny": (*_tiny_grounding_dino(), _bert_tokenizer(), hf.GroundingDinoProcessor),
    }.items():
        folder = root / model_id
        module.save_pretrained(folder)
        processor_class(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
        folders[model_id] = folder
    return folders


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (48, 80, 3), dtype=np.uint8)


# -- prompts, chunks, merging -------------------------------------------------------------------------------------


def test_prompts_follow_the_template_and_the_template_is_checked(ov):
    built = ov.prompts.build(["Traffic_Light", "cat"], "a photo of a {}")
    assert built == ["a photo of a traffic light", "a photo of a cat"]
    assert check_template("a photo of a {}") == "a photo of a {}"
    assert check_template(None) is None
    for bad in ("a photo", "{} and {}", "a {} of {x}"):
        with pytest.raises(ZooError, match="exactly one"):
            check_template(bad)


def test_a_200_name_label_set_is_chunked_in_order_within_the_budget(ov):
    counts = [2 + i % 3 for i in range(200)]
    chunks = ov.prompts.chunks(counts, budget=64, overhead=2, separator=1)
    assert len(chunks) > 1
    assert [i for chunk in chunks for i in chunk.classes] == list(range(200)), "every class once, in order"
    for chunk in chunks:
        assert chunk.tokens == 2 + sum(counts[i] + 1 for i in chunk.classes) <= 64
    assert all(a.tokens + counts[b.start] + 1 > 64 for a, b in zip(chunks, chunks[1:])), "no chunk closed early"
    with pytest.raises(ValueError, match="class 1 takes 80 tokens"):
        ov.prompts.chunks([3, 80], budget=64)


def test_captions_give_each_class_its_exact_token_span(ov):
    tokenizer = _bert_tokenizer()
    texts = ov.prompts.build(["cat", "hot dog", "b2"], "{}")
    phrase_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    (caption,) = ov.grounding_dino.captions(phrase_ids, 256)
    assert caption.ids == tokenizer("cat . hot dog . b2 .")["input_ids"], "built piece by piece = the whole caption"
    for (start, stop), ids in zip(caption.spans, phrase_ids):
        assert caption.ids[start:stop] == ids
    mapping = caption.positive_map()
    assert mapping.sum(axis=1) == pytest.approx(1.0, abs=1e-5)
    assert (mapping > 0).sum(axis=1).tolist() == [len(ids) for ids in phrase_ids]


def test_merge_keeps_the_best_pairs_with_labels_over_the_whole_label_set(ov):
    boxes = [np.array([[0, 0, 1, 1], [2, 2, 3, 3]], float), np.array([[4, 4, 5, 5], [6, 6, 7, 7]], float)]
    scores = [np.array([[0.1, 0.9], [0.3, 0.2]]), np.array([[0.05, 0.8, 0.95], [0.0, 0.4, 0.1]])]
    xyxy, score, label = ov.prompts.merge_top_k(boxes, scores, offsets=[0, 2], k=3)
    assert score.tolist() == [0.95, 0.9, 0.8] and label.tolist() == [4, 1, 3]
    assert xyxy.tolist() == [[4, 4, 5, 5], [0, 0, 1, 1], [4, 4, 5, 5]]


def test_grounding_dino_chunks_200_names_and_maps_a_query_back_to_its_class(ov, plugins, tiny_untrained):
    """200 names split over captions of 32 tokens; a query whose logits light up class 150's tokens (in a later
    chunk) comes back as label 150 with that query's box — by token position, not by text."""
    model = plugins.models["grounding-dino-tiny"].cls(weights="untrained")
    model.load("cpu")
    record = model.set_vocabulary(NAMES_200, None)
    assert record["chunks"] == len(model.captions) > 1 and sum(record["chunk_classes"]) == 200
    assert model.labels == NAMES_200
    assert all(len(c.ids) <= 32 for c in model.captions)
    prediction = model.predict([_image()])  # the real forward, once per chunk, merged
    labels = prediction.detections[0].labels
    assert len(labels) == 300 and labels.max() < 200, "the top 300 of 10 queries x 200 classes"
    chunk_of = {i: k for k, caption in enumerate(model.captions) for i in caption.classes}
    assert len({chunk_of[int(label)] for label in labels}) > 1, "pairs from several chunks were merged"
    # synthetic outputs: every logit low, except query 3 on class 150's tokens
    target = next(k for k, c in enumerate(model.captions) if 150 in c.classes)
    outputs = []
    for k, caption in enumerate(model.captions):
        logits = torch.full((1, 10, 32), -10.0)
        boxes = torch.full((1, 10, 4), 0.25)
        if k == target:
            start, stop = caption.spans[150 - caption.classes.start]
            logits[0, 3, start:stop] = 10.0
            boxes[0, 3] = torch.tensor([0.5, 0.5, 0.5, 0.25])  # cx, cy, w, h
        outputs.append((logits, boxes))
    (top,) = model.postprocess(outputs, [_image()])
    assert top.labels[0] == 150 and top.scores[0] > 0.99
    assert top.xyxy[0].tolist() == pytest.approx([20, 18, 60, 30])  # in the 80x48 image's pixels
    assert len(top) == 300 and top.scores[1] < 0.01


def test_grounding_dino_from_a_folder_uses_its_tokenizer(plugins, saved):
    model = plugins.models["grounding-dino-tiny"].cls(weights=str(saved["grounding-dino-tiny"]))
    assert model.check_weights().state == "found" and model.remote_files() == []
    model.load("cpu")
    record = model.set_vocabulary(["circle", "square", "triangle"], "a {}")
    assert record["prompts"] == ["a circle", "a square", "a triangle"] and record["chunks"] == 1
    tokenizer = _bert_tokenizer()
    assert model.captions[0].ids == tokenizer("a circle . a square . a triangle .")["input_ids"]
    detections = model.predict([_image()]).detections[0]
    assert len(detections) == 30 and set(detections.labels.tolist()) <= {0, 1, 2}


@pytest.mark.parametrize("model_id", ["owlv2-base-patch16-ensemble", "owlvit-base-patch32"])
def test_owl_encodes_text_once_and_predicts_what_the_library_predicts(plugins, saved, model_id):
    """zoo's split (text embedded once, then image tower + heads per image) equals transformers' full forward with
    the prompts, post-processed at threshold 0 (boxes clipped to the image)."""
    folder = saved[model_id]
    model = plugins.models[model_id].cls(weights=str(folder))
    model.load("cpu")
    names = ["cat", "dog", "traffic light"]
    record = model.set_vocabulary(names, None)
    assert record["prompts"] == ["a photo of a cat", "a photo of a dog", "a photo of a traffic light"]
    image = _image(1)
    ours = model.predict([image]).detections[0]

    module = hf.AutoModelForZeroShotObjectDetection.from_pretrained(folder).eval()
    processor = hf.AutoProcessor.from_pretrained(folder)
    text = processor.tokenizer(
        record["prompts"], padding="max_length", max_length=16, truncation=True, return_tensors="pt"
    )  # as OwlViTProcessor pads queries
    pixels = processor.image_processor(images=[image], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        outputs = module(input_ids=text["input_ids"], attention_mask=text["attention_mask"], pixel_values=pixels)
    side = max(image.shape[:2]) if model.pads_to_square else None
    size = (side, side) if side else image.shape[:2]
    (theirs,) = processor.image_processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=[size])
    boxes = theirs["boxes"].numpy().copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image.shape[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image.shape[0])
    assert ours.labels.tolist() == theirs["labels"].tolist()
    np.testing.assert_allclose(ours.scores, theirs["scores"].numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.xyxy, boxes, rtol=1e-4, atol=1e-3)


# -- rows: every model, with and without weights -------------------------------------------------------------------


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return tmp_path / "hf-home"


QUICK = dict(warmup=0, iters=2, batch=1, batch_calls=0, speed_budget=0.5, speed_conf=0.0, threads=1)


def _rows(plugins, weights: dict[str, str], template: str | None = None, imgsz: int | None = None):
    dataset = load_dataset("shapes:count=2,size=80x64,seed=3")
    catalogue = build_catalogue(load_registry(), plugins)
    settings = Settings(**QUICK, weights=weights, prompt_template=template, imgsz=imgsz)
    return {model_id: evaluate(catalogue[model_id], dataset, plugins, settings).result.to_dict() for model_id in FAMILY}


def test_every_model_without_weights_gets_a_timed_no_weights_row_with_its_prompts(
    plugins, tiny_untrained, hf_home, tmp_path, monkeypatch
):
    import zoo.fetch.config

    monkeypatch.setattr(zoo.fetch.config, "weights_dir", lambda: tmp_path / "bundle")  # nothing there
    rows = _rows(plugins, {}, imgsz=64)
    for model_id, row in rows.items():
        assert row["status"] == "no-weights", (model_id, row["reason"], row.get("traceback"))
        assert row["untrained"] and not row["accuracy"] and row["family"] == "open-vocabulary"
        assert row["speed"]["latency_ms"]["total"]["median"] > 0
        prompts = row["prompts"]
        assert prompts["classes"] == 3 and len(prompts["prompts"]) == 3 and prompts["text_encoding_s"] > 0
        assert prompts["asked_template"] is None and "{}" in prompts["template"]
    assert "`zoo pull --models owlv2-base-patch16-ensemble`" in rows["owlv2-base-patch16-ensemble"]["reason"]
    assert "yolov8s-worldv2.pt is not in" in rows["yolov8s-worldv2"]["reason"]
    assert "`zoo pull --models yolov8s-worldv2` fetches https://github.com/" in rows["yolov8s-worldv2"]["reason"]
    assert "; and the CLIP text encoder openai/clip-vit-base-patch32" in rows["yolov8s-worldv2"]["reason"]
    assert rows["owlv2-base-patch16-ensemble"]["prompts"]["prompts"][0] == "a photo of a circle"
    assert rows["grounding-dino-tiny"]["prompts"]["prompts"] == ["circle", "square", "triangle"]


def test_models_with_weights_are_scored_zero_shot_on_the_datasets_names(plugins, saved, hf_home):
    weights = {model_id: str(folder) for model_id, folder in saved.items()}
    rows = _rows(plugins, weights, template="a {} shape")
    for model_id in saved:
        row = rows[model_id]
        assert row["status"] == "ok", (model_id, row["reason"], row.get("traceback"))
        assert row["labels"]["space"] == ["circle", "square", "triangle"]
        assert row["labels"]["mapped"] == {"circle": "circle", "square": "square", "triangle": "triangle"}
        assert row["labels"]["covered"] == ["circle", "square", "triangle"] and not row["labels"]["unmapped"]
        assert row["accuracy"]["coco"]["map"] is not None and row["labels"]["predictions"] > 0
        assert row["prompts"]["prompts"] == ["a circle shape", "a square shape", "a triangle shape"]
        assert row["prompts"]["asked_template"] == "a {} shape" and row["info"]["settings"]["threshold"] == 0.0
        assert "text_encoding" in row["phases_s"]
    world = rows["yolov8s-worldv2"]  # its CLIP text encoder is not in the (empty) cache
    assert world["status"] == "no-weights" and "CLIP text encoder openai/clip-vit-base-patch32" in world["reason"]


def test_the_catalogue_lists_the_family_with_its_published_zero_shot_numbers(plugins):
    catalogue = build_catalogue(load_registry(), plugins)
    assert [i for i, e in catalogue.items() if e.family == "open-vocabulary"] == FAMILY
    assert catalogue["grounding-dino-tiny"].published["box_ap"] == 0.484
    assert catalogue["yolov8s-worldv2"].published["box_ap"] == 0.377
    assert catalogue["owlv2-base-patch16-ensemble"].published["box_ap"] is None
    assert "LVIS AP 43.9" in catalogue["owlv2-base-patch16-ensemble"].published["reason"]
    files = plugins.models["owlv2-base-patch16-ensemble"].cls().remote_files()
    assert {f.name for f in files} >= {"config.json", "vocab.json", "merges.txt", "model.safetensors"}
    assert all(f.hub.revision == "cfd3195ba4ea9592eec887ded089f4c08eff231d" for f in files)
    world = {f.name: f for f in plugins.models["yolov8s-worldv2"].cls().remote_files()}
    assert {"vocab.json", "model.safetensors", "yolov8s-worldv2.pt"} <= set(world)
    assert world["yolov8s-worldv2.pt"].first_use, "no published digest: pinned at its first fetch (test_first_use.py)"
    assert plugins.models["yolov8s-worldv2"].cls(weights="untrained").remote_files() == []


def test_a_prompt_template_that_differs_from_the_published_protocol_is_a_cause(plugins):
    record = {"template": "a photo of a {}", "chunks": 2, "truncated": []}
    causes = vocabulary.protocol_causes(record, {"prompt_template": "{}"})
    assert causes[0] == "prompt template 'a photo of a {}', where the published protocol uses '{}'"
    assert "split into 2 text inputs" in causes[1]
    assert vocabulary.protocol_causes(None, {"prompt_template": "{}"}) == []


def test_yolo_world_with_weights_is_scored_through_its_clip_text_encoder(plugins, hf_home, tmp_path):
    """A YOLO-World checkpoint (the nano architecture, random, saved by ultralytics) and a tiny CLIP text tower in
    the Hugging Face cache where zoo fetches openai/clip-vit-base-patch32: the row is scored on the dataset's names."""
    import json

    from tests.test_transformers import put_in_hub_cache

    sys.modules["zoo_plugin_ultralytics"].import_ultralytics()
    from ultralytics import YOLO

    torch.manual_seed(0)
    YOLO("yolov8n-worldv2.yaml").save(tmp_path / "world.pt")
    tokenizer = _clip_tokenizer()
    text = hf.CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        projection_dim=512, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=0,
    )  # fmt: skip
    folder = tmp_path / "clip"
    hf.CLIPTextModelWithProjection(text).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(tokenizer.get_vocab()))  # the hub repository's files too
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "special_tokens_map.json").write_text("{}")
    put_in_hub_cache(folder, hf_home / "hub", "openai/clip-vit-base-patch32")

    dataset = load_dataset("shapes:count=2,size=80x64,seed=3")
    entry = build_catalogue(load_registry(), plugins)["yolov8s-worldv2"]
    settings = Settings(**QUICK, weights={"yolov8s-worldv2": str(tmp_path / "world.pt")}, imgsz=64)
    row = evaluate(entry, dataset, plugins, settings).result.to_dict()
    assert row["status"] == "ok", (row["reason"], row.get("traceback"))
    assert row["labels"]["space"] == ["circle", "square", "triangle"] and not row["labels"]["unmapped"]
    assert row["prompts"]["prompts"] == ["circle", "square", "triangle"] and row["prompts"]["text_encoding_s"] > 0
    assert row["info"]["settings"]["text_encoder"].startswith("openai/clip-vit-base-patch32@")
    assert row["accuracy"]["coco"]["map"] is not None


def test_a_bad_prompt_template_is_a_one_line_error(tmp_path):
    from tests.test_run import run_zoo

    code, _, stderr = run_zoo("run", "--models", "centre-box", "--prompt-template", "a photo", "--out", str(tmp_path))
    assert code == 2 and "Traceback" not in stderr
    assert "--prompt-template 'a photo': give text with exactly one {} where the class name goes" in stderr


def test_the_details_show_the_prompts_and_the_text_encoding():
    from zoo.report.details import _prompt_facts

    record = vocabulary.prompts_record(
        {"template": "{}", "prompts": ["cat", "dog"], "chunks": 2, "truncated": ["a very long prompt"]}, None, 2, 0.0123
    )
    facts = {fact.label: fact.value for fact in _prompt_facts(record)}
    assert facts["prompt template"] == "'{}' (the model's default), 2 classes in 2 chunks"
    assert facts["text encoding"].startswith("12.3 ms once per run")
    assert "cat" in facts["prompts"] and "a very long prompt" in facts["prompts cut to the text encoder's length"]
