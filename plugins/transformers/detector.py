"""`TransformersDetector`: one transformers object-detection checkpoint behind zoo's predict interface (the
package's docstring says how weights, steps and sizes work)."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import zoo
from zoo.fetch import huggingface
from zoo.files import sha256_prefix

from .labels import coco_id2label, labels_from_id2label

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
PROCESSOR_FILE = "preprocessor_config.json"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def hub_cache_dir() -> Path:
    """The Hugging Face cache zoo reads (see `zoo.fetch.huggingface.cache_dir`)."""
    return huggingface.cache_dir()


@dataclass(frozen=True)
class Source:
    """What ``weights`` names: the untrained architecture, a hub id in the cache, or a local folder."""

    kind: str  # "untrained", "hub" or "folder"
    name: str = ""  # hub id, or the folder
    revision: str | None = None  # hub revision (branch, tag or commit); None: refs/main


@dataclass(frozen=True)
class Found:
    """What the cache or the folder holds for a source: the folder to load, its weights file, and what is missing."""

    folder: Path | None
    weights_file: str | None
    missing: list[str] = field(default_factory=list)
    commit: str | None = None


class TransformersDetector(zoo.Model):
    """One transformers object-detection checkpoint, behind zoo's predict interface (see the module docstring)."""

    framework = "transformers"
    family = "detr"

    hub_id: ClassVar[str]
    config_class: ClassVar[str]  # transformers' config class, for the untrained architecture
    model_class: ClassVar[str]  # transformers' model class for that config
    processor_class: ClassVar[str]  # transformers' image processor class
    architecture: ClassVar[dict[str, Any]] = {}  # config arguments of the official checkpoint's architecture
    processor_options: ClassVar[dict[str, Any]] = {}  # image processor arguments of the official checkpoint
    label_space: ClassVar[str] = "coco91"
    top_k: ClassVar[int | None] = None  # boxes kept by post-processing, for processors that take top_k
    revision: ClassVar[str] = "main"  # the official weights' commit, where zoo pins one
    weights_file: ClassVar[str] = "model.safetensors"  # the official weights' file at that revision

    def __init__(self, *, weights: str | None = None, imgsz: int | None = None) -> None:
        super().__init__(weights=weights)
        self.imgsz = imgsz
        self.module = None
        self.processor = None
        self.identity: str | None = None
        self.load_report: dict[str, list[str]] = {}
        self.threshold = 0.0  # post-processing's score threshold: 0 for accuracy (`set_score_threshold` for speed)

    # -- where the weights are --------------------------------------------------------------------------------------

    def _source(self) -> Source:
        if self.weights is None:
            return Source("hub", self.hub_id, self.revision)
        value = self.weights.strip()
        if value == zoo.UNTRAINED:
            return Source("untrained")
        path = Path(value).expanduser()
        if path.is_dir() or not HUB_ID.match(value):
            return Source("folder", str(path))
        name, _, revision = value.partition("@")
        return Source("hub", name, revision or None)

    def _find(self, source: Source) -> Found:
        """Look for the files ``from_pretrained`` needs without loading anything (and without the network)."""
        if source.kind == "folder":
            folder = Path(source.name)
            if not folder.is_dir():
                return Found(None, None, ["the folder"])
            files = {p.name for p in folder.iterdir()}
            weights_file = next((f for f in WEIGHT_FILES if f in files), None)
            missing = [f for f in ("config.json", PROCESSOR_FILE) if f not in files]
            if weights_file is None:
                missing.append(" or ".join(WEIGHT_FILES[::2]))
            return Found(folder, weights_file, missing)

        from huggingface_hub import try_to_load_from_cache

        def cached(filename: str) -> Path | None:
            found = try_to_load_from_cache(source.name, filename, cache_dir=hub_cache_dir(), revision=source.revision)
            return Path(found) if isinstance(found, str) else None

        config = cached("config.json")
        if config is None:
            return Found(None, None, ["the model"])
        weights_file = next((f for f in WEIGHT_FILES if cached(f) is not None), None)
        missing = [] if cached(PROCESSOR_FILE) is not None else [PROCESSOR_FILE]
        if weights_file is None:
            missing.append(" or ".join(WEIGHT_FILES[::2]))
        return Found(config.parent, weights_file, missing, commit=config.parent.name)

    def _how_to_get(self, source: Source) -> str:
        cache = hub_cache_dir()
        if source.kind == "hub" and self._official(source):
            return (
                f"`zoo pull --models {self.name}` fetches it into {cache} (on a connected machine; `zoo pull --to "
                f"DIR` makes a bundle for this one), or give a local folder with --weights {self.name}=FOLDER"
            )
        if source.kind == "hub":
            at = f" --revision {source.revision}" if source.revision else ""
            return (
                f"on a connected machine run `hf download {source.name}{at}` (`huggingface-cli download` with older "
                f"huggingface_hub) and copy its models--{source.name.replace('/', '--')} folder into {cache} here "
                "(HF_HOME or HF_HUB_CACHE choose that folder), or save_pretrained the model and its image processor "
                f"to a folder and pass --weights {self.name}=FOLDER"
            )
        return (
            "save the model and its image processor there with model.save_pretrained(FOLDER) and "
            f"processor.save_pretrained(FOLDER), or give a hub id that is in the cache ({cache})"
        )

    def _missing_message(self, source: Source, found: Found) -> str:
        if source.kind == "hub":
            where = f"{source.name}" + (f"@{source.revision}" if source.revision else "")
            cache = hub_cache_dir()
            if found.folder is None:
                text = f"{where} is not in the Hugging Face cache {cache}"
                if source.name != self.hub_id:
                    text += f" (nor is {source.name} a local folder)"
            else:
                text = f"{where} in the Hugging Face cache ({found.folder}) lacks {', '.join(found.missing)}"
        elif found.folder is None:
            text = f"weights folder {source.name} not found"
        else:
            text = f"weights folder {source.name} lacks {', '.join(found.missing)}"
        return f"{text}; {self._how_to_get(source)}"

    def _official(self, source: Source) -> bool:
        return source.kind == "hub" and source.name == self.hub_id and source.revision in (self.revision, None)

    def remote_files(self) -> list[zoo.RemoteFile]:
        """The official checkpoint's config, image processor config and weights, at the pinned revision. The weights
        file is the one the cache holds, else ``weights_file`` (``pytorch_model.bin`` where the hub lacks it)."""
        source = self._source()
        if not self._official(source):
            return []
        revision = source.revision or "main"
        weights = self._find(source).weights_file
        if weights is None:
            legacy = huggingface.remote(self.hub_id, "pytorch_model.bin", revision)
            weights_file = huggingface.remote(self.hub_id, self.weights_file, revision)
            if self.weights_file != legacy.name:
                weights_file = replace(weights_file, alternative=legacy)
        else:
            weights_file = huggingface.remote(self.hub_id, weights, revision)
        files = [huggingface.remote(self.hub_id, name, revision) for name in ("config.json", PROCESSOR_FILE)]
        return [*files, weights_file]

    def check_weights(self) -> zoo.WeightsCheck:
        source = self._source()
        if source.kind == "untrained":
            return zoo.WeightsCheck("none", hint="untrained: random initialisation")
        found = self._find(source)
        if found.folder is not None and not found.missing:
            return zoo.WeightsCheck("found", str(found.folder))
        location = str(found.folder or (source.name if source.kind == "folder" else hub_cache_dir()))
        return zoo.WeightsCheck("missing", location, self._missing_message(source, found))

    # -- loading ----------------------------------------------------------------------------------------------------

    def load(self, device: str) -> None:
        source = self._source()
        if source.kind == "untrained":
            module, processor = self._build_untrained()
            self.identity = zoo.UNTRAINED
        else:
            found = self._find(source)
            if found.folder is None or found.missing:
                raise zoo.WeightsUnavailable(self._missing_message(source, found))
            module, processor = self._from_pretrained(source, found.folder)
            if source.kind == "hub":
                commit = found.commit or "?"
                self.identity = f"{source.name}@{commit} ({found.weights_file}, Hugging Face cache {hub_cache_dir()})"
            else:
                self.identity = (
                    f"{source.name} ({found.weights_file}, sha256 {sha256_prefix(found.folder / found.weights_file)})"
                )
        self.labels = labels_from_id2label(module.config.id2label)
        self.processor = processor
        if self.imgsz is not None:
            self._resize(processor)
        # inference only: no parameter needs a gradient (and torch's flop counter then sees every module)
        self.module = module.eval().requires_grad_(False).to(device)

    def _from_pretrained(self, source: Source, folder: Path):
        """transformers' own loading path, offline: the config, then the model with that config, then the processor.

        A hub id is loaded from its snapshot folder in the cache, the one huggingface_hub resolved (refs/main or
        the revision -> snapshots/<commit>): going through ``hf_hub_download`` instead, even with
        ``local_files_only``, lets huggingface_hub reach for the hub while it builds request headers.
        """
        import transformers

        options: dict[str, Any] = {"local_files_only": True}
        try:
            with huggingface.quiet_loading():
                config = transformers.AutoConfig.from_pretrained(folder, **options)
                _no_pretrained_backbone(config)
                module, report = transformers.AutoModelForObjectDetection.from_pretrained(
                    folder, config=config, output_loading_info=True, **options
                )
                processor = transformers.AutoImageProcessor.from_pretrained(folder, **options)
        except OSError as error:  # a file the check did not see is missing after all: say so, never download
            raise zoo.WeightsUnavailable(
                f"transformers could not load {source.name} from {folder} offline: {error}; {self._how_to_get(source)}"
            ) from error
        # weights the checkpoint lacks stay random: recorded with the result, not hidden
        report = {key: sorted(map(str, report.get(key) or []))[:10] for key in ("missing_keys", "mismatched_keys")}
        self.load_report = {key: names for key, names in report.items() if names}
        return module, processor

    def _build_untrained(self):
        """The official checkpoint's architecture from the library's config class: random weights, COCO labels."""
        import transformers

        config_class = getattr(transformers, self.config_class)
        config = config_class(**self.architecture, id2label=coco_id2label(self.label_space))
        _no_pretrained_backbone(config)
        module = getattr(transformers, self.model_class)(config)
        processor = getattr(transformers, self.processor_class)(**self.processor_options)
        return module, processor

    def _resize(self, processor) -> None:
        """``imgsz``: RT-DETR's fixed input becomes imgsz x imgsz; else the shorter side, the longer in proportion."""
        size = dict(processor.size)
        if size.get("height") and size.get("width"):
            new = {"height": self.imgsz, "width": self.imgsz}
        else:
            ratio = size["longest_edge"] / size["shortest_edge"]
            new = {"shortest_edge": self.imgsz, "longest_edge": round(self.imgsz * ratio)}
        processor.size = new if isinstance(processor.size, dict) else type(processor.size)(**new)

    # -- what it is -------------------------------------------------------------------------------------------------

    def _post_options(self) -> dict[str, Any]:
        accepted = inspect.signature(self.processor.post_process_object_detection).parameters
        return {"top_k": self.top_k} if self.top_k is not None and "top_k" in accepted else {}

    def _max_detections(self) -> int:
        config = self.module.config
        queries = getattr(config, "num_queries", None) or getattr(config, "num_detection_tokens", None)
        return self._post_options().get("top_k") or queries

    def info(self) -> zoo.ModelInfo:
        size = dict(self.processor.size)
        if size.get("height") and size.get("width"):
            input_size = f"{size['width']}x{size['height']}"
        else:
            input_size = f"shorter side {size['shortest_edge']}, longer ≤ {size['longest_edge']}"
        parameter = next(self.module.parameters())
        settings = {
            "threshold": 0.0,
            "top_k": self._max_detections(),
            "size": size,
            "processor": type(self.processor).__name__,
            "architecture": type(self.module).__name__,
            "dtype": str(parameter.dtype).removeprefix("torch."),
            "pad": bool(getattr(self.processor, "do_pad", False)),
            "normalize": bool(getattr(self.processor, "do_normalize", False)),
        }
        if self.load_report:
            settings["weights_not_in_checkpoint"] = self.load_report
        return zoo.ModelInfo(
            num_params=sum(p.numel() for p in self.module.parameters()),
            input_size=input_size,
            weights=self.identity,
            settings=settings,
        )

    def set_score_threshold(self, conf: float) -> bool:
        """The ``threshold`` the image processor's ``post_process_object_detection`` applies (``top_k`` unchanged)."""
        self.threshold = float(conf)
        return True

    def finetune(self, session):
        """Fine-tune on the session's dataset with the model's own loss (`training`): from the checkpoint when it is
        here, else from the architecture's config ("from scratch")."""
        from .training import finetune

        return finetune(self, session)

    # -- the three steps --------------------------------------------------------------------------------------------

    def preprocess(self, images: list[np.ndarray]):
        return self.processor(images=list(images), return_tensors="pt").to(self.device)

    def forward(self, batch):
        import torch

        with torch.inference_mode():
            return self.module(**batch)

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        sizes = [tuple(image.shape[:2]) for image in images]
        results = self.processor.post_process_object_detection(
            outputs, threshold=self.threshold, target_sizes=sizes, **self._post_options()
        )
        return [
            zoo.Detections(
                r["boxes"].float().cpu().numpy(), r["scores"].float().cpu().numpy(), r["labels"].cpu().numpy()
            )
            for r in results
        ]


def _no_pretrained_backbone(config) -> None:
    """Never let building the model download ImageNet backbone weights (timm or hub): the checkpoint holds them."""
    for item in (config, getattr(config, "backbone_config", None)):
        if item is not None and hasattr(item, "use_pretrained_backbone"):
            item.use_pretrained_backbone = False
