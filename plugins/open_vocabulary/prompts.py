"""Prompts from class names, chunks that fit a text encoder, and the merge of the chunks' detections — plain
functions, the same for every open-vocabulary model of the plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def build(names: Sequence[str], template: str) -> list[str]:
    """One prompt per class: the template with the class name in place of ``{}`` (names lower-cased and ``_``
    as spaces, as the models' own evaluations write COCO's names)."""
    return [template.replace("{}", " ".join(str(name).replace("_", " ").split()).lower(), 1) for name in names]


@dataclass(frozen=True)
class Chunk:
    """Consecutive classes ``start .. stop - 1`` whose prompts fit in one text input of at most ``budget`` tokens."""

    start: int
    stop: int
    tokens: int  # the tokens the chunk's text takes, overhead and separators included

    @property
    def classes(self) -> range:
        return range(self.start, self.stop)


def chunks(token_counts: Sequence[int], budget: int, overhead: int = 2, separator: int = 1) -> list[Chunk]:
    """Split classes, in order, into as few consecutive chunks as fit: a chunk's text is ``overhead`` tokens (e.g.
    [CLS] and [SEP]) plus, per class, its prompt's tokens and ``separator`` tokens (the " ." after each phrase).
    A prompt that cannot fit even alone is a ValueError that names it."""
    found: list[Chunk] = []
    start, used = 0, overhead
    for index, count in enumerate(token_counts):
        need = count + separator
        if overhead + need > budget:
            raise ValueError(
                f"the prompt of class {index} takes {count} tokens, more than the text encoder's {budget} "
                f"(with {overhead + separator} for the separators); shorten --prompt-template or the class name"
            )
        if used + need > budget:
            found.append(Chunk(start, index, used))
            start, used = index, overhead
        used += need
    if len(token_counts) > start or not found:
        found.append(Chunk(start, len(token_counts), used))
    return found


def merge_top_k(
    boxes: Sequence[np.ndarray], scores: Sequence[np.ndarray], offsets: Sequence[int], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best (box, class) pairs over every chunk: ``boxes[c]`` are chunk ``c``'s query boxes ``(Q, 4)``,
    ``scores[c]`` its class scores ``(Q, n_c)`` for the classes ``offsets[c] .. offsets[c] + n_c - 1``. Returns
    boxes ``(k, 4)``, scores ``(k,)`` and class indices ``(k,)`` into the whole label set, best first (ties kept in
    chunk, query, class order)."""
    all_boxes, all_scores, all_labels = [], [], []
    for chunk_boxes, chunk_scores, offset in zip(boxes, scores, offsets):
        queries, classes = chunk_scores.shape
        all_boxes.append(np.repeat(chunk_boxes, classes, axis=0))
        all_scores.append(chunk_scores.reshape(-1))
        all_labels.append(np.tile(np.arange(classes) + offset, queries))
    if not all_scores:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
    flat_scores = np.concatenate(all_scores)
    order = np.argsort(-flat_scores, kind="stable")[:k]
    return np.concatenate(all_boxes)[order], flat_scores[order], np.concatenate(all_labels)[order].astype(np.int64)


def clip_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes clipped to the image (a model that pads its input may place a box partly in the padding)."""
    out = np.asarray(xyxy, dtype=np.float64).copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out
