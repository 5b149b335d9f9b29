"""`RuntimeModel`: a plugin's model run by ONNX Runtime or OpenVINO — the plugin's own preprocess and postprocess
around the exported graph of its ``forward``, so to the runner it is just another model."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.device import count_flops
from zoo.model import Model, ModelInfo
from zoo.runtimes import agreement, cache, engines, export
from zoo.runtimes.rows import Unsupported

SAMPLE_SIZE = (480, 640)  # height, width of the fixed synthetic image the graph is traced and checked on
CALIBRATION_IMAGES = 16


def sample_image() -> np.ndarray:
    """A fixed, rectangular, smooth synthetic image (the same on every machine): what the export traces."""
    height, width = SAMPLE_SIZE
    y, x = np.mgrid[0:height, 0:width]
    channels = [(x * 255 // width), (y * 255 // height), ((x + y) * 255 // (width + height))]
    image = np.stack(channels, axis=2).astype(np.uint8)
    image[height // 4 : height // 2, width // 4 : width // 2] = (200, 40, 40)
    return image


class RuntimeModel(Model):
    """``inner`` (a plugin's model) exported and run by ``runtime`` (onnxruntime, openvino, or either -int8)."""

    def __init__(self, inner: Model, runtime: str, torch_id: str, calibration: list | None = None) -> None:
        super().__init__(weights=inner.weights)
        self.inner, self.runtime, self.torch_id = inner, runtime, torch_id
        self.calibration = calibration or []  # (what, images) for int8: zoo.data ImageRecords
        self.name = f"{inner.name}@{runtime}"
        self.family, self.label_aliases = inner.family, inner.label_aliases
        self.framework = engines.engine_name(runtime)
        self.description = f"{inner.name} ({inner.framework}) exported, run by {runtime}"
        self.runtime_record: dict[str, Any] = {
            "runtime": engines.engine_name(runtime),
            "precision": engines.precision(runtime),
            "torch_row": torch_id,
            "framework": inner.framework,
        }
        if engines.precision(runtime) == "int8":
            self.runtime_record["calibration"] = [f"{image.id}:{image.file_name}" for image in self.calibration]
        self.engine: engines.Engine | None = None
        self.adapter: export.Adapter | None = None
        self._inputs: list[Any] = []
        self._stage = ""  # what is running while the file is made: the exporter, the converter, the quantizer

    def check_weights(self) -> Any:
        return self.inner.check_weights()

    def remote_files(self) -> list:
        return self.inner.remote_files()

    # -- loading: the plugin's model, then its export (cached), then the runtime ---------------------------------

    def load(self, device: str) -> None:
        record = self.runtime_record
        try:
            record["version"] = engines.version(self.runtime)
            if self.runtime == "openvino-int8":
                engines.require("nncf", self.runtime)
            self.adapter = export.adapter_for(self.inner)
            if engines.precision(self.runtime) == "int8" and not self.calibration:
                raise Unsupported(
                    "int8 needs calibration images that are not scored, and the run's dataset has none left over "
                    "(--limit): pass --calibration DATA, or --calibration scored to calibrate on the scored images"
                )
        except Unsupported as error:
            error.record = record
            raise
        self.inner.device, self.inner.threads = self.device, self.threads
        self.inner.load(device)  # WeightsUnavailable goes to the runner, which builds an untrained copy
        self.labels = self.inner.labels
        record.update(
            exporter=self.adapter.exporter, converter=engines.converter(self.runtime), graph=self.adapter.graph
        )
        self._open("accuracy")
        self._graph_check()

    def _key(self) -> dict[str, Any]:
        import torch

        versions = {"torch": torch.__version__, self.runtime_record["runtime"]: self.runtime_record["version"]}
        for name in ("onnx", self.inner.framework, "nncf" if self.runtime == "openvino-int8" else ""):
            if name:
                versions[name] = _version_of(name)
        key = {
            "model": self.inner.name,
            "weights": cache.weights_hash(self.adapter.module(self.inner)),
            "runtime": self.runtime,
            "settings": self.adapter.settings(self.inner),
            "exporter": self.adapter.exporter,
            "opset": export.OPSET,
            "versions": versions,
        }
        if engines.precision(self.runtime) == "int8":
            key["calibration"] = [f"{r.id}:{r.file_name}" for r in self.calibration]
        return key

    def _open(self, setting: str) -> None:
        """The cached export for the model as it is now (exported first if missing), opened with the runtime."""
        key = self._key()
        filename = "model.onnx" if self.runtime.startswith("onnxruntime") else "model.xml"
        path, started, cached = cache.lookup(key, filename), time.perf_counter(), True
        if path is None:
            cached = False
            cache.root().mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache.root()) as temporary:
                staging = Path(temporary) / "export"
                staging.mkdir()
                try:
                    self._build(staging, filename)
                except Unsupported as error:
                    error.record = self.runtime_record
                    raise
                except Exception as error:
                    text = " ".join(str(error).split())[:300]
                    raise Unsupported(
                        f"{self._stage} could not make {self.inner.name} for {self.runtime}: "
                        f"{type(error).__name__}: {text}",
                        self.runtime_record,
                    ) from None
                path = cache.store(key, staging) / filename
        self.engine = engines.open_engine(self.runtime, path, self.device, self.threads)
        self.runtime_record[setting] = {
            "file": str(path),
            "file_mb": cache.size_mb(path),
            "cached": cached,
            "export_s": None if cached else round(time.perf_counter() - started, 3),
            "key": key,
        }
        self.runtime_record["provider"] = self.engine.device

    def _build(self, staging: Path, filename: str) -> None:
        """Export the ONNX graph into ``staging``, then convert (OpenVINO) and quantize (int8) it there."""
        sample = self.inner.preprocess([sample_image()])
        onnx_path = staging / ("model.onnx" if self.runtime == "onnxruntime" else "exported.onnx")
        self._stage = self.adapter.exporter
        self.adapter.export(self.inner, sample, onnx_path)
        self._stage = engines.converter(self.runtime)
        if engines.precision(self.runtime) == "int8":
            import onnx

            names = [i.name for i in onnx.load(str(onnx_path), load_external_data=False).graph.input]
            feeds = [feed for record in self.calibration
                     for feed in self.adapter.feeds(self.inner.preprocess([record.load()]), names)]  # fmt: skip
            engines.quantize(self.runtime, onnx_path, staging, feeds)
        elif self.runtime == "openvino":
            engines.to_openvino(onnx_path, staging)
        if onnx_path.name != filename:
            for leftover in staging.glob("exported.onnx*"):
                leftover.unlink()

    def _graph_check(self) -> None:
        """The torch model and the exported graph on one fixed synthetic image, compared as rows are: whether the
        graph computes what ``forward`` does, even for an untrained copy (whose rows have no accuracy pass)."""
        image = sample_image()
        ours = self.inner.predict([image]).detections
        theirs = self.predict([image]).detections
        labels = self.labels
        check = agreement.compare(agreement.detections_to_results(ours, labels),
                                  agreement.detections_to_results(theirs, labels))  # fmt: skip
        check["image"] = f"a fixed synthetic {SAMPLE_SIZE[1]}x{SAMPLE_SIZE[0]} image (zoo.runtimes.model.sample_image)"
        self.runtime_record["graph_check"] = check

    def set_score_threshold(self, conf: float) -> bool:
        """The plugin's own threshold; where it is a constant of the graph (torchvision), a second export with it."""
        applied = self.inner.set_score_threshold(conf)
        if applied and self.adapter is not None and self.adapter.threshold_in_graph:
            self._open("speed")
        return applied

    def info(self) -> ModelInfo:
        base = self.inner.info()
        settings = {**base.settings, "runtime": self.runtime, "provider": self.runtime_record.get("provider")}
        return ModelInfo(
            num_params=base.num_params,
            input_size=base.input_size,
            weights=base.weights,
            published_map=base.published_map,
            published_source=base.published_source,
            settings=settings,
            gflops=self._gflops(),
            versions={self.runtime_record["runtime"]: self.runtime_record.get("version", "")},
        )

    def _gflops(self) -> float | None:
        """GFLOPs of the torch model's forward on the sample image (the runtime's own ops are not counted)."""

        try:
            flops = count_flops(lambda: self.inner.forward(self.inner.preprocess([sample_image()])))
        except Exception:
            return None
        return flops / 1e9 if flops else None

    # -- the three steps: the plugin's preprocess, the runtime, the plugin's postprocess --------------------------

    def preprocess(self, images: list[np.ndarray]) -> Any:
        return self.inner.preprocess(images)

    def forward(self, batch: Any) -> Any:
        feeds = self.adapter.feeds(batch, self.engine.inputs)
        if len(self._inputs) < 8:
            shapes = [{name: [list(a.shape), str(a.dtype)] for name, a in feed.items()} for feed in feeds]
            if shapes not in self._inputs:
                self._inputs.append(shapes)
                self.runtime_record["inputs_fed"] = self._inputs
        results = [self.engine.run(feed) for feed in feeds]
        outputs = self.adapter.outputs(results, self.engine.outputs, batch, self.inner)
        if self.adapter.dropped:
            self.runtime_record["dropped_rows"] = {
                "count": self.adapter.dropped,
                "why": "rows torchvision never outputs (label 0, an inverted box, a score outside [0, 1]): "
                "OpenVINO returns one where the graph has no detection",
            }
        return outputs

    def postprocess(self, outputs: Any, images: list[np.ndarray]) -> list:
        return self.inner.postprocess(outputs, images)


def _version_of(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
