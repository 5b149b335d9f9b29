"""Open-vocabulary detectors: OWLv2, OWL-ViT and Grounding DINO (transformers) and YOLO-World v2 (ultralytics) —
models that detect whatever classes they are told by name, scored zero-shot on any dataset beside the closed-set
models.

zoo's core hands each model the dataset's category names (``Model.set_vocabulary(names, template)``, after
``load``); the plugin turns them into prompts — each model's own default template, or ``zoo run --prompt-template``
— encodes them once (the run's text encoding, reported on its own), splits label sets larger than a text encoder
takes into chunks and merges the chunks' detections (Grounding DINO's 256 tokens), and returns labels that are
indices into the dataset's names, so the join to category ids is exact (no fuzzy matching of returned text). The
libraries' score thresholds are 0 for accuracy (each model's ``info().settings`` records what it applies).

Weights come like every hub model's: declared files at a pinned revision where a public record of a commit exists,
fetched by zoo (``zoo pull``, bundles) into the Hugging Face cache (and ultralytics' ``weights_dir`` for YOLO-World),
loaded with ``local_files_only``; ``untrained`` builds each architecture from its config class (or yaml) with a
stand-in word tokenizer, which is what a machine without the weights times.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import zoo
from zoo.plugins import BUILTIN_PLUGINS_DIR

from .grounding_dino import GroundingDino
from .owl import Owlv2, OwlVit
from .yolo_world import world_class

__all__ = ["GroundingDino", "OwlVit", "Owlv2", "world_class"]


def _ultralytics_plugin() -> ModuleType:
    """zoo's ultralytics plugin module (loaded by zoo as ``zoo_plugin_ultralytics``), imported here if it is not."""
    module = sys.modules.get("zoo_plugin_ultralytics")
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location("zoo_plugin_ultralytics", BUILTIN_PLUGINS_DIR / "ultralytics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@zoo.hookimpl
def register_models(register):
    for cls in (Owlv2, OwlVit, GroundingDino):
        register(cls)
    register(world_class(_ultralytics_plugin()))
