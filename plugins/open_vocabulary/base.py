"""`HubDetector`: what the transformers open-vocabulary models share — weights from the Hugging Face cache at a pinned
revision or a ``save_pretrained`` folder, untrained copies from the config class, and the vocabulary handshake."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import zoo
from zoo.fetch import huggingface

from .hub import Checkpoint, Found, find_cached, find_folder


class HubDetector(zoo.Model):
    """A transformers zero-shot detector; subclasses build the untrained copy, encode prompts and run the steps."""

    framework = "transformers"
    family = "open-vocabulary"
    open_vocabulary = True

    checkpoint: ClassVar[Checkpoint]
    default_template: ClassVar[str] = "{}"

    def __init__(self, *, weights: str | None = None) -> None:
        super().__init__(weights=weights)
        self.module = None
        self.processor = None
        self.tokenizer: Any = None  # the checkpoint's tokenizer, or the untrained copy's stand-in
        self.identity: str | None = None
        self.official = False
        self.threshold = 0.0  # the library's score threshold: 0 for accuracy (set_score_threshold for speed)

    # -- weights ----------------------------------------------------------------------------------------------------

    def _found(self) -> Found:
        if self.weights is None:
            return find_cached(self.checkpoint)
        return find_folder(Path(self.weights).expanduser(), self.checkpoint.files)

    def _missing_message(self, found: Found) -> str:
        cache = huggingface.cache_dir()
        if self.weights is None:
            where = f"{self.checkpoint.hub_id}@{self.checkpoint.revision}"
            text = (
                f"{where} is not in the Hugging Face cache {cache}"
                if found.folder is None
                else f"{where} in the Hugging Face cache ({found.folder}) lacks {', '.join(found.missing)}"
            )
            return (
                f"{text}; `zoo pull --models {self.name}` fetches it (on a connected machine; `zoo pull --to DIR` "
                f"makes a bundle for this one), or give a save_pretrained folder with --weights {self.name}=FOLDER"
            )
        if found.folder is None:
            text = f"weights folder {self.weights} not found"
        else:
            text = f"weights folder {self.weights} lacks {', '.join(found.missing)}"
        return f"{text}; write it with model.save_pretrained(FOLDER) and processor.save_pretrained(FOLDER)"

    def remote_files(self) -> list[zoo.RemoteFile]:
        return self.checkpoint.remote_files() if self.weights is None else []

    def check_weights(self) -> zoo.WeightsCheck:
        if self.weights == zoo.UNTRAINED:
            return zoo.WeightsCheck("none", hint="untrained: random initialisation from the config class")
        found = self._found()
        if found.folder is not None and not found.missing:
            return zoo.WeightsCheck("found", str(found.folder))
        return zoo.WeightsCheck("missing", str(found.folder or huggingface.cache_dir()), self._missing_message(found))

    def load(self, device: str) -> None:
        if self.weights == zoo.UNTRAINED:
            self.module, self.processor, self.tokenizer = self._build_untrained()
            self.identity = zoo.UNTRAINED
        else:
            found = self._found()
            if found.folder is None or found.missing:
                raise zoo.WeightsUnavailable(self._missing_message(found))
            self.module, self.processor = self._from_pretrained(found.folder)
            self.tokenizer = self.processor.tokenizer
            if self.weights is None:
                self.identity = f"{self.checkpoint.hub_id}@{found.commit} (Hugging Face cache {found.folder})"
                self.official = True
            else:
                self.identity = f"{found.folder} (save_pretrained folder)"
        self.module = self.module.eval().requires_grad_(False).to(device)
        self.labels = []  # set_vocabulary gives the dataset's names

    def _from_pretrained(self, folder: Path):
        import transformers

        options: dict[str, Any] = {"local_files_only": True}
        try:
            with huggingface.quiet_loading():
                module = transformers.AutoModelForZeroShotObjectDetection.from_pretrained(folder, **options)
                processor = transformers.AutoProcessor.from_pretrained(folder, **options)
        except OSError as error:  # a file the check did not see: say so, never download
            raise zoo.WeightsUnavailable(f"transformers could not load {folder} offline: {error}") from error
        return module, processor

    def _build_untrained(self) -> tuple[Any, Any, Any]:
        raise NotImplementedError

    def set_score_threshold(self, conf: float) -> bool:
        """The score threshold of the post-processing (the ranking and top-k stay as for accuracy)."""
        self.threshold = float(conf)
        return True

    def _settings(self) -> dict[str, Any]:
        parameter = next(self.module.parameters())
        return {
            "threshold": self.threshold,
            "architecture": type(self.module).__name__,
            "dtype": str(parameter.dtype).removeprefix("torch."),
            "tokenizer": getattr(self.tokenizer, "description", type(self.tokenizer).__name__),
        }
