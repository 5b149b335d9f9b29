"""Grounding DINO (transformers): a DETR-style detector whose encoder fuses the image with a caption of phrases,
"a cat . a dog ."; each query scores every token, and a class's score is the mean over its phrase's tokens — the
positive map of Grounding DINO's own COCO evaluation (``PostProcessCocoGrounding``: top 300 (query, class) pairs).

The caption is built from token ids, phrase by phrase ([CLS], each phrase's tokens and " .", [SEP]), so every class
knows the exact token span it owns: a query's tokens map back to a class index by position, never by matching the
text it spells. A label set whose caption exceeds the text encoder's 256 tokens (``max_text_len``) is split into
consecutive chunks; the image runs once per chunk and the chunks' (query, class) pairs are merged before the top
300 are kept. Grounding DINO fuses text and image inside its encoder, so its BERT runs inside every ``forward``
(per chunk): the per-image latency includes it; ``set_vocabulary`` only tokenizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

import zoo

from . import prompts
from .base import HubDetector
from .hub import Checkpoint, WordTokenizer

CLS, SEP, DOT = 101, 102, 1012  # BERT's ids, which the model's phrase masks are built on (its SPECIAL_TOKENS)
TOP_K = 300  # Grounding DINO's COCO evaluation keeps the 300 best (query, class) pairs (num_select)


@dataclass(frozen=True)
class Caption:
    """One chunk's text input: token ids, and per class the token span ``[start, stop)`` it owns."""

    classes: range
    ids: list[int]
    spans: list[tuple[int, int]]

    def positive_map(self) -> np.ndarray:
        """``(classes, tokens)``: 1/len over a class's span, as Grounding DINO's evaluation normalises it."""
        mapping = np.zeros((len(self.spans), len(self.ids)), dtype=np.float32)
        for row, (start, stop) in enumerate(self.spans):
            mapping[row, start:stop] = 1.0
        return mapping / (mapping.sum(axis=1, keepdims=True) + 1e-6)


def captions(
    phrase_ids: Sequence[Sequence[int]], budget: int, specials: tuple[int, int, int] = (CLS, SEP, DOT)
) -> list[Caption]:
    """The phrases' token ids laid out as captions of at most ``budget`` tokens: [CLS] phrase . phrase . [SEP]
    (``specials``: the tokenizer's ids of [CLS], [SEP] and ".")."""
    cls, sep, dot = specials
    found = []
    for chunk in prompts.chunks([len(ids) for ids in phrase_ids], budget, overhead=2, separator=1):
        ids, spans = [cls], []
        for index in chunk.classes:
            spans.append((len(ids), len(ids) + len(phrase_ids[index])))
            ids += [*phrase_ids[index], dot]
        found.append(Caption(chunk.classes, [*ids, sep], spans))
    return found


class GroundingDino(HubDetector):
    name = "grounding-dino-tiny"
    description = "Grounding DINO, Swin-T, zero-shot from class names (transformers, IDEA-Research)"
    default_template = "{}"  # the bare category names, as Grounding DINO's COCO evaluation writes its caption
    checkpoint = Checkpoint(
        hub_id="IDEA-Research/grounding-dino-tiny",
        revision="main",
        files=(
            "config.json",
            "preprocessor_config.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.txt",
        ),
    )

    def __init__(self, *, weights: str | None = None) -> None:
        super().__init__(weights=weights)
        self.captions: list[Caption] = []
        self.inputs: list[dict[str, Any]] = []
        self.maps: list[Any] = []

    def _build_untrained(self):
        import transformers

        config = transformers.GroundingDinoConfig()  # its defaults are the tiny checkpoint's: Swin-T, BERT-base
        config.use_pretrained_backbone = False
        module = transformers.GroundingDinoForObjectDetection(config)
        processor = SimpleNamespace(image_processor=transformers.GroundingDinoImageProcessor())
        return module, processor, WordTokenizer(first_id=2000, vocab_size=config.text_config.vocab_size)

    def _phrase_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if isinstance(self.tokenizer, WordTokenizer):
            return [self.tokenizer.encode(text) for text in texts]
        return [list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts]

    def _specials(self) -> tuple[int, int, int]:
        if isinstance(self.tokenizer, WordTokenizer):
            return CLS, SEP, DOT
        tokenizer = self.tokenizer
        return tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.convert_tokens_to_ids(".")

    def set_vocabulary(self, names: Sequence[str], template: str | None) -> dict[str, Any]:
        """Tokenize each class's phrase and lay the phrases out in captions that fit ``max_text_len``."""
        import torch

        template = template or self.default_template
        texts = prompts.build(names, template)
        budget = int(self.module.config.max_text_len)
        self.captions = captions(self._phrase_ids(texts), budget, self._specials())
        self.inputs, self.maps = [], []
        for caption in self.captions:
            ids = torch.tensor([caption.ids], device=self.device)
            self.inputs.append(
                {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
            )
            self.maps.append(torch.from_numpy(caption.positive_map()).to(self.device))
        self.labels = list(names)
        return {
            "template": template,
            "prompts": texts,
            "chunks": len(self.captions),
            "chunk_classes": [len(c.classes) for c in self.captions],
            "max_text_len": budget,
            "caption": " . ".join(texts[i] for i in self.captions[0].classes) + " ." if self.captions else "",
            "text_encoder": "inside the library's forward (text and image are fused in the encoder): every image "
            "runs BERT once per chunk, so the per-image latency includes it; text_encoding_s is tokenizing only",
        }

    def info(self) -> zoo.ModelInfo:
        size = dict(self.processor.image_processor.size)
        settings = {
            **self._settings(),
            "top_k": TOP_K,
            "class_score": "mean over the phrase's tokens of the query's token scores (the positive map)",
            "chunks": len(self.captions),
            "boxes": "clipped to the image",
        }
        return zoo.ModelInfo(
            num_params=sum(p.numel() for p in self.module.parameters()),
            input_size=f"shorter side {size.get('shortest_edge')}, longer ≤ {size.get('longest_edge')}",
            weights=self.identity,
            settings=settings,
        )

    # -- the three steps --------------------------------------------------------------------------------------------

    def preprocess(self, images: list[np.ndarray]):
        return self.processor.image_processor(images=list(images), return_tensors="pt").to(self.device)

    def forward(self, batch):
        import torch

        outputs = []
        with torch.inference_mode():
            for text in self.inputs:
                size = batch["pixel_values"].shape[0]
                expanded = {key: value.expand(size, -1) for key, value in text.items()}
                out = self.module(pixel_values=batch["pixel_values"], pixel_mask=batch.get("pixel_mask"), **expanded)
                outputs.append((out.logits, out.pred_boxes))
        return outputs

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        import torch

        detections = []
        offsets = [caption.classes.start for caption in self.captions]
        for index, image in enumerate(images):
            height, width = image.shape[:2]
            boxes, scores = [], []
            for (logits, pred_boxes), mapping in zip(outputs, self.maps):
                tokens = mapping.shape[1]
                probabilities = torch.sigmoid(logits[index, :, :tokens].float())
                scores.append((probabilities @ mapping.T).cpu().numpy())
                cx, cy, w, h = pred_boxes[index].float().cpu().numpy().T
                scale = np.array([width, height, width, height])
                boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * scale)
            xyxy, score, label = prompts.merge_top_k(boxes, scores, offsets, TOP_K)
            keep = score > self.threshold
            detections.append(zoo.Detections(prompts.clip_boxes(xyxy[keep], width, height), score[keep], label[keep]))
        return detections
