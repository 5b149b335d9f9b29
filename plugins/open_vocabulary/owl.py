"""OWL-ViT and OWLv2 (transformers): CLIP's image tower with a box and a class head per patch; classes are text
embeddings, so the prompts are encoded once (``set_vocabulary``) and each image runs only the image tower and the
heads — the split a deployment uses, built from the model's own submodules (``image_embedder``,
``class_predictor``, ``box_predictor``); a test checks it equals the library's full ``forward``."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

import zoo

from . import prompts
from .base import HubDetector
from .hub import Checkpoint, WordTokenizer

MAX_TOKENS = 16  # OWL's text encoder reads 16 tokens per query (the processor pads and truncates to that)


class OwlDetector(HubDetector):
    """OWL-ViT (v1) or OWLv2, zero-shot from the dataset's class names."""

    default_template = "a photo of a {}"  # the prompt of the model cards' examples (CLIP's template)
    config_class: ClassVar[str]
    model_class: ClassVar[str]
    image_processor_class: ClassVar[str]
    pads_to_square: ClassVar[bool] = False  # OWLv2 pads the image to a square (boxes are relative to it)
    architecture: ClassVar[dict[str, Any]] = {}  # config arguments of the official checkpoint (beyond the defaults)

    def __init__(self, *, weights: str | None = None) -> None:
        super().__init__(weights=weights)
        self.query_embeds = None
        self.query_mask = None
        self.record: dict[str, Any] = {}

    def _build_untrained(self):
        import transformers

        config = getattr(transformers, self.config_class)(**self.architecture)
        module = getattr(transformers, self.model_class)(config)
        processor = SimpleNamespace(image_processor=getattr(transformers, self.image_processor_class)())
        text = config.text_config
        return module, processor, WordTokenizer(first_id=1, vocab_size=text.vocab_size - 2)

    def _tokenize(self, texts: Sequence[str]):
        """input ids ``(n, 16)`` and attention mask, as the processor makes them; and the prompts cut at 16."""
        import torch

        if isinstance(self.tokenizer, WordTokenizer):
            text = self.module.config.text_config
            rows = [[text.bos_token_id, *self.tokenizer.encode(t), text.eos_token_id] for t in texts]
            cut = [t for t, row in zip(texts, rows) if len(row) > MAX_TOKENS]
            rows = [row[: MAX_TOKENS - 1] + [text.eos_token_id] if len(row) > MAX_TOKENS else row for row in rows]
            ids = torch.tensor([row + [text.pad_token_id] * (MAX_TOKENS - len(row)) for row in rows])
            mask = torch.tensor([[1] * len(row) + [0] * (MAX_TOKENS - len(row)) for row in rows])
            return ids, mask, cut
        full = self.tokenizer(list(texts))["input_ids"]
        cut = [t for t, row in zip(texts, full) if len(row) > MAX_TOKENS]
        tokens = self.tokenizer(
            list(texts), padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
        )
        return tokens["input_ids"], tokens["attention_mask"], cut

    def _backbone(self):
        return getattr(self.module, "owlv2", None) or self.module.owlvit

    def set_vocabulary(self, names: Sequence[str], template: str | None) -> dict[str, Any]:
        """Encode one prompt per class with the text tower, once: normalised text embeddings, as the library's
        ``forward`` computes them, kept for every image."""
        import torch

        template = template or self.default_template
        texts = prompts.build(names, template)
        ids, mask, cut = self._tokenize(texts)
        backbone = self._backbone()
        with torch.inference_mode():
            pooled = backbone.text_model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
            embeds = backbone.text_projection(pooled.pooler_output)
            embeds = embeds / torch.linalg.norm(embeds, ord=2, dim=-1, keepdim=True)
        self.query_embeds = embeds[None]  # (1, classes, dim)
        self.query_mask = (ids[:, 0] > 0)[None].to(self.device)
        self.labels = list(names)
        self.record = {
            "template": template,
            "prompts": texts,
            "chunks": 1,
            "max_tokens_per_prompt": MAX_TOKENS,
            "truncated": cut,
            "text_encoder": "each image runs only the image tower and the heads",
        }
        return self.record

    def info(self) -> zoo.ModelInfo:
        processor = self.processor.image_processor
        size = dict(processor.size) if isinstance(processor.size, dict) else vars(processor.size)
        side = size.get("height") or size.get("shortest_edge")
        input_size = f"{side}x{side} ({'padded to a square' if self.pads_to_square else 'stretched'})"
        settings = {
            **self._settings(),
            "post_processing": "the image processor's post_process_object_detection: each patch's best class",
            "boxes": "clipped to the image" + (" (the input is padded to a square)" if self.pads_to_square else ""),
        }
        return zoo.ModelInfo(
            num_params=sum(p.numel() for p in self.module.parameters()),
            input_size=input_size,
            weights=self.identity,
            settings=settings,
        )

    # -- the three steps --------------------------------------------------------------------------------------------

    def preprocess(self, images: list[np.ndarray]):
        return self.processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device)

    def forward(self, batch):
        import torch

        with torch.inference_mode():
            feature_map, _ = self.module.image_embedder(pixel_values=batch)
            size, height, width, dim = feature_map.shape
            image_feats = feature_map.reshape(size, height * width, dim)
            queries = self.query_embeds.expand(size, -1, -1)
            logits, _ = self.module.class_predictor(image_feats, queries, self.query_mask.expand(size, -1))
            boxes = self.module.box_predictor(image_feats, feature_map)
        return SimpleNamespace(logits=logits, pred_boxes=boxes)

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        sizes = []
        for image in images:
            height, width = image.shape[:2]
            side = max(height, width)
            sizes.append((side, side) if self.pads_to_square else (height, width))
        results = self.processor.image_processor.post_process_object_detection(
            outputs, threshold=self.threshold, target_sizes=sizes
        )
        detections = []
        for result, image in zip(results, images):
            boxes = prompts.clip_boxes(result["boxes"].float().cpu().numpy().reshape(-1, 4), *image.shape[1::-1])
            detections.append(zoo.Detections(boxes, result["scores"].float().cpu().numpy(), result["labels"].cpu()))
        return detections


OWLV2 = Checkpoint(
    hub_id="google/owlv2-base-patch16-ensemble",
    # a commit of the repository that public copies of its file pages show (vocab.json "Upload processor")
    revision="cfd3195ba4ea9592eec887ded089f4c08eff231d",
    files=(
        "config.json",
        "preprocessor_config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "merges.txt",
    ),
)
OWLVIT = Checkpoint(
    hub_id="google/owlvit-base-patch32",
    revision="main",
    files=OWLV2.files,
)


class Owlv2(OwlDetector):
    name = "owlv2-base-patch16-ensemble"
    description = "OWLv2 ViT-B/16 ensemble, zero-shot from class names (transformers, Google)"
    checkpoint = OWLV2
    config_class, model_class, image_processor_class = "Owlv2Config", "Owlv2ForObjectDetection", "Owlv2ImageProcessor"
    pads_to_square = True
    architecture = {"vision_config": {"image_size": 960, "patch_size": 16}}  # the checkpoint's 960 px input


class OwlVit(OwlDetector):
    name = "owlvit-base-patch32"
    description = "OWL-ViT ViT-B/32, zero-shot from class names (transformers, Google)"
    checkpoint = OWLVIT
    config_class, model_class, image_processor_class = (
        "OwlViTConfig",
        "OwlViTForObjectDetection",
        "OwlViTImageProcessor",
    )
