"""YOLO-World v2 (ultralytics): a YOLOv8 whose class head compares region features with CLIP text embeddings.

ultralytics' ``set_classes`` encodes the class names with OpenAI's CLIP ViT-B/32 text tower through the ``clip``
package, which it installs from a git URL on first use (``build_text_model("clip:ViT-B/32")``, weights downloaded
to ``weights_dir/clip``): that package is not on PyPI (the PyPI copies, e.g. clip-anytorch, import
``pkg_resources``, gone from setuptools 81), and zoo never lets a library install or download while it measures.
So zoo encodes the prompts with the same text tower through transformers (``openai/clip-vit-base-patch32``, the
conversion of OpenAI's ViT-B/32 weights; fetched, pinned and checked like every hub file) and gives the L2-normalised
embeddings to the loaded ``WorldModel`` exactly where ``set_classes`` puts them (``txt_feats``, the head's ``nc``,
the names). Everything else — the predictor's letterbox, the network, NMS — is ultralytics' own, through zoo's
ultralytics plugin (`UltralyticsDetector`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import zoo

from . import prompts
from .hub import Checkpoint, WordTokenizer, find_cached

CLIP_TEXT = Checkpoint(
    hub_id="openai/clip-vit-base-patch32",
    revision="main",
    files=("config.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"),
)
CONTEXT = 77  # CLIP's text context, to which ultralytics' clip.tokenize pads and truncates
# The official yolov8s-worldv2.pt has no published digest (ultralytics' assets release lists none): zoo fetches it
# like the other ultralytics files, pins its sha256 and size when it first has it, and checks every later use, fetch
# and copy against that pin (`zoo.fetch.pins`).


def world_class(ultra: Any) -> type:
    """The YOLO-World model class, built on the ultralytics plugin's `UltralyticsDetector` (passed in, since zoo
    loads each plugin as its own module)."""

    class YoloWorld(ultra.UltralyticsDetector):
        name = "yolov8s-worldv2"
        family = "open-vocabulary"
        open_vocabulary = True
        description = "YOLO-World v2 small, zero-shot from class names (ultralytics; CLIP ViT-B/32 text encoder)"
        spec = ultra.Spec("open-vocabulary", "yolov8s-worldv2.yaml")
        default_template = "{}"  # ultralytics' set_classes takes the bare class names

        def __init__(self, *, weights: str | None = None, imgsz: int | None = None) -> None:
            super().__init__(weights=weights, imgsz=imgsz)
            self.text_model: Any = None
            self.tokenizer: Any = None
            self.text_identity: str | None = None

        def remote_files(self) -> list[zoo.RemoteFile]:
            """For any trained weights, the CLIP text tower's files; the detector's own file (official name only),
            trusted on first use: no digest of it is published."""
            if self.weights == zoo.UNTRAINED:
                return []
            detector = [replace(f, first_use=True) for f in super().remote_files()]
            return [*detector, *CLIP_TEXT.remote_files()]

        def _missing_message(self) -> str:
            ultra.import_ultralytics()  # offline first: its message imports ultralytics, whose import goes online
            return super()._missing_message()

        def _clip_missing(self) -> str | None:
            found = find_cached(CLIP_TEXT)
            if found.folder is not None and not found.missing:
                return None
            return (
                f"the CLIP text encoder {CLIP_TEXT.hub_id} is not complete in the Hugging Face cache "
                f"(lacks {', '.join(found.missing)}); `zoo pull --models {self.name}` fetches it"
            )

        def check_weights(self) -> zoo.WeightsCheck:
            check = super().check_weights()
            missing = self._clip_missing() if check.state == "found" else None
            return zoo.WeightsCheck("missing", check.location, missing) if missing else check

        def load(self, device: str) -> None:
            if self.weights != zoo.UNTRAINED:  # say everything that is missing at once
                problems = [] if self._find() is not None else [self._missing_message()]
                problems += [text for text in (self._clip_missing(),) if text]
                if problems:
                    raise zoo.WeightsUnavailable("; and ".join(problems))
            super().load(device)
            self.world = self.predictor.model.model  # the WorldModel the predictor runs (fused in place)
            self.text_model, self.tokenizer, self.text_identity = self._text_encoder(device)
            self.labels = []  # set_vocabulary gives the dataset's names

        def _text_encoder(self, device: str):
            import transformers

            if self.weights == zoo.UNTRAINED:
                config = transformers.CLIPTextConfig(projection_dim=512)  # the defaults are ViT-B/32's text tower
                module = transformers.CLIPTextModelWithProjection(config)
                tokenizer = WordTokenizer(first_id=1, vocab_size=config.vocab_size - 2)
                return module.eval().to(device), tokenizer, zoo.UNTRAINED
            folder = find_cached(CLIP_TEXT).folder
            assert folder is not None
            module = transformers.CLIPTextModelWithProjection.from_pretrained(folder, local_files_only=True)
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            return module.eval().to(device), tokenizer, f"{CLIP_TEXT.hub_id}@{Path(folder).name}"

        def _tokens(self, texts: Sequence[str]):
            import torch

            if isinstance(self.tokenizer, WordTokenizer):
                config = self.text_model.config
                rows = [[config.bos_token_id, *self.tokenizer.encode(t)][: CONTEXT - 1] for t in texts]
                rows = [row + [config.eos_token_id] for row in rows]
                width = max(len(row) for row in rows)
                ids = torch.tensor([row + [config.pad_token_id] * (width - len(row)) for row in rows])
                mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
                return {"input_ids": ids, "attention_mask": mask}
            return self.tokenizer(list(texts), padding=True, truncation=True, max_length=CONTEXT, return_tensors="pt")

        def set_vocabulary(self, names: Sequence[str], template: str | None) -> dict[str, Any]:
            """CLIP's text embeddings of the prompts, normalised, set where ultralytics' ``set_classes`` sets them."""
            import torch

            template = template or self.default_template
            texts = prompts.build(names, template)
            tokens = {key: value.to(self.device) for key, value in self._tokens(texts).items()}
            with torch.inference_mode():
                embeds = self.text_model(**tokens).text_embeds.float()
                embeds = embeds / embeds.norm(p=2, dim=-1, keepdim=True)
            parameter = next(self.world.parameters())
            self.world.txt_feats = embeds.reshape(1, len(texts), -1).to(parameter.device, parameter.dtype)
            self.world.model[-1].nc = len(texts)
            names_map = dict(enumerate(str(name) for name in names))
            self.world.names = names_map
            self.predictor.model.names = names_map
            self.labels = list(names)
            return {
                "template": template,
                "prompts": texts,
                "chunks": 1,
                "text_encoder": f"CLIP ViT-B/32 text tower through transformers ({self.text_identity})",
            }

        def info(self) -> zoo.ModelInfo:
            info = super().info()
            settings = {
                **info.settings,
                "text_encoder": self.text_identity,
                "tokenizer": getattr(self.tokenizer, "description", type(self.tokenizer).__name__),
            }
            return zoo.ModelInfo(
                num_params=info.num_params, input_size=info.input_size, weights=info.weights, settings=settings
            )

    return YoloWorld
