"""Exporting what a plugin model's ``forward`` computes, per framework, and feeding the exported graph.

An `Adapter` knows, for one framework, which torch module ``forward`` runs, how to export it to ONNX with that
library's exporter, how to turn the output of the model's own ``preprocess`` into the graph's feeds, and how to turn
the graph's outputs back into what the model's own ``postprocess`` reads. So a runtime row is fed exactly the tensor
the torch row is fed (letterboxed, resized, normalised by the plugin), and its boxes come out of the same code.

- torchvision: ``forward`` is the whole detection module (its resize and normalisation, the network, the box
  decoding and NMS), so the graph is the whole module, exported with ``torch.onnx.export`` (the TorchScript-based
  exporter, as torchvision's own ONNX tests do), one image per call at any size; the score threshold is inside the
  graph, so the speed setting (``--speed-conf``) is a second export.
- ultralytics: ``forward`` is the network (``predictor.inference``), exported with ultralytics' own exporter
  (``format="onnx"``, dynamic input size); its letterbox and NMS stay in the predictor's steps, outside the graph.
- transformers: ``forward`` is the model on the image processor's tensors (``pixel_values`` and, where it makes
  one, ``pixel_mask``) giving ``logits`` and ``pred_boxes``, exported with ``torch.onnx.export`` (dynamic size);
  the processor's resize and ``post_process_object_detection`` stay outside.
"""

from __future__ import annotations

import types
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zoo.runtimes.rows import Unsupported

OPSET = 17


class Adapter:
    """How to export and feed one framework's models (see the module docstring)."""

    exporter: ClassVar[str] = ""
    graph: ClassVar[str] = ""  # what the exported graph holds, in words
    threshold_in_graph: ClassVar[bool] = False  # the score threshold is a constant of the graph
    dropped = 0  # rows of the graph's output that cannot be detections, dropped (said in the record)

    def module(self, inner: Any) -> Any:
        """The torch module whose weights the graph holds (hashed for the cache key)."""
        raise NotImplementedError

    def settings(self, inner: Any) -> dict[str, Any]:
        """What, besides the weights, is baked into the graph (part of the cache key)."""
        return {}

    def export(self, inner: Any, batch: Any, path: Path) -> None:
        raise NotImplementedError

    def feeds(self, batch: Any, names: list[str]) -> list[dict[str, np.ndarray]]:
        """One feed per call of the graph, for its inputs ``names`` (empty: every tensor the batch has)."""
        raise NotImplementedError

    def outputs(self, results: list[list[np.ndarray]], names: list[str], batch: Any, inner: Any) -> Any:
        """The graph's outputs as the plugin's ``forward`` returns them."""
        raise NotImplementedError

    def describe_input(self, batch: Any) -> list[dict[str, Any]]:
        """The shapes and dtypes of the feeds, for the record."""
        return [{name: [list(a.shape), str(a.dtype)] for name, a in feed.items()} for feed in self.feeds(batch, [])]


def _numpy(tensor: Any) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _torch_onnx_export(module: Any, args: tuple, path: Path, inputs: list[str], outputs: list[str],
                       dynamic: dict[str, dict[int, str]]) -> None:  # fmt: skip
    """``torch.onnx.export`` with the TorchScript-based exporter (``dynamo=False`` where this torch has both)."""
    import inspect

    import torch

    options: dict[str, Any] = dict(opset_version=OPSET, input_names=inputs, output_names=outputs, dynamic_axes=dynamic)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings about constants: the graph check says what matters
        torch.onnx.export(module, args, str(path), **options)


class Torchvision(Adapter):
    exporter = f"torch.onnx.export (TorchScript exporter, opset {OPSET})"
    graph = "the whole torchvision module: resize and normalisation, network, box decoding, NMS (one image a call)"
    threshold_in_graph = True

    def module(self, inner: Any) -> Any:
        return inner.module

    def settings(self, inner: Any) -> dict[str, Any]:
        holder = getattr(inner.module, "roi_heads", None) or inner.module
        transform = inner.module.transform
        return {
            "score_thresh": float(holder.score_thresh),
            "min_size": list(transform.min_size),
            "max_size": transform.max_size,
            "fixed_size": list(transform.fixed_size) if getattr(transform, "fixed_size", None) else None,
        }

    def export(self, inner: Any, batch: Any, path: Path) -> None:
        import torch

        with torch.no_grad():
            keys = list(inner.module([batch[0]])[0].keys())
        dynamic = {"image": {1: "height", 2: "width"}, **{key: {0: "detections"} for key in keys}}
        _torch_onnx_export(inner.module, ([batch[0]],), path, ["image"], keys, dynamic)

    def feeds(self, batch: Any, names: list[str]) -> list[dict[str, np.ndarray]]:
        return [{"image": _numpy(image)} for image in batch]

    def outputs(self, results: list[list[np.ndarray]], names: list[str], batch: Any, inner: Any) -> Any:
        """torchvision never outputs label 0 (background, dropped in its postprocess), an inverted box (it clips
        boxes to the image) nor a score outside [0, 1]; OpenVINO returns one row of garbage where the graph has no
        detection at all (its int8 model too): such rows are dropped and counted."""
        import torch

        outputs = []
        for result in results:
            arrays = dict(zip(names, result))
            boxes = np.asarray(arrays["boxes"]).reshape(-1, 4)
            scores = np.asarray(arrays["scores"])
            keep = (np.asarray(arrays["labels"]) != 0) & (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
            keep &= (scores >= 0) & (scores <= 1)
            self.dropped += int((~keep).sum())
            outputs.append({name: torch.from_numpy(np.ascontiguousarray(a[keep])) for name, a in arrays.items()})
        return outputs


class Ultralytics(Adapter):
    exporter = "ultralytics' own exporter (format=onnx, dynamic input size)"
    graph = "the network as ultralytics runs it (Conv+BN fused); letterbox and NMS stay in the predictor's steps"

    def module(self, inner: Any) -> Any:
        return inner.predictor.model.model

    def settings(self, inner: Any) -> dict[str, Any]:
        return {"imgsz": list(inner.predictor.imgsz)}

    def export(self, inner: Any, batch: Any, path: Path) -> None:
        import copy

        from ultralytics.engine.exporter import Exporter

        tensor = batch[0]
        net = copy.deepcopy(inner.predictor.model.model).float()
        net.args = {**getattr(net, "args", {}), "imgsz": list(tensor.shape[2:])}
        overrides = {
            "format": "onnx",
            "imgsz": list(tensor.shape[2:]),
            "dynamic": True,
            "simplify": False,
            "opset": OPSET,
            "batch": 1,
            "device": "cpu",
            "half": False,
            "int8": False,
            "nms": False,
        }
        written = Exporter(overrides=overrides)(model=net)  # fmt: skip
        Path(written).replace(path)

    def feeds(self, batch: Any, names: list[str]) -> list[dict[str, np.ndarray]]:
        return [{"images": _numpy(batch[0]).astype(np.float32)}]

    def outputs(self, results: list[list[np.ndarray]], names: list[str], batch: Any, inner: Any) -> Any:
        import torch

        tensor, bgr = batch
        return torch.from_numpy(results[0][0]).to(tensor.device), tensor, bgr


class Transformers(Adapter):
    exporter = f"torch.onnx.export (TorchScript exporter, opset {OPSET}) of the model on the processor's tensors"
    graph = "the model (backbone, encoder, decoder, heads) to logits and pred_boxes; the processor's resize and "
    graph += "post_process_object_detection stay outside"

    def module(self, inner: Any) -> Any:
        return inner.module

    def export(self, inner: Any, batch: Any, path: Path) -> None:
        import torch

        names = list(batch.keys())

        class Heads(torch.nn.Module):
            def __init__(self, model: Any) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: Any) -> tuple[Any, Any]:
                out = self.model(**dict(zip(names, tensors)))
                return out.logits, out.pred_boxes

        dims = {
            "pixel_values": {0: "batch", 2: "height", 3: "width"},
            "pixel_mask": {0: "batch", 1: "height", 2: "width"},
        }
        dynamic = {name: dims.get(name, {0: "batch"}) for name in names}
        _torch_onnx_export(Heads(inner.module).eval(), tuple(batch[n] for n in names), path, names,
                           ["logits", "pred_boxes"], dynamic)  # fmt: skip

    def feeds(self, batch: Any, names: list[str]) -> list[dict[str, np.ndarray]]:
        """The processor's tensors the graph takes (YOLOS ignores the pixel_mask, so its export has no such input)."""
        return [{name: _numpy(value) for name, value in batch.items() if not names or name in names}]

    def outputs(self, results: list[list[np.ndarray]], names: list[str], batch: Any, inner: Any) -> Any:
        import torch

        logits, boxes = (torch.from_numpy(a) for a in results[0])
        return types.SimpleNamespace(logits=logits, pred_boxes=boxes)


ADAPTERS: dict[str, type[Adapter]] = {
    "torchvision": Torchvision,
    "ultralytics": Ultralytics,
    "transformers": Transformers,
}


def adapter_for(inner: Any) -> Adapter:
    """The adapter for a plugin model's framework; `Unsupported` for one zoo cannot export."""
    cls = ADAPTERS.get(inner.framework)
    if cls is None:
        raise Unsupported(
            f"zoo exports torchvision, ultralytics and transformers models; {inner.name} is a "
            f"{inner.framework or 'non-torch'} model, with no exporter to ONNX"
        )
    return cls()
