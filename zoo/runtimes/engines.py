"""The runtimes themselves: an exported graph opened with ONNX Runtime or OpenVINO, run on numpy feeds, and the
conversions between them (ONNX -> OpenVINO IR; fp32 -> int8 with each runtime's own quantizer)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.runtimes.rows import Unsupported

INSTALL = {"onnxruntime": "pip install 'zoo[onnx]'", "openvino": "pip install 'zoo[openvino]'"}


def engine_name(runtime: str) -> str:
    """``onnxruntime-int8`` -> ``onnxruntime``."""
    return runtime.removesuffix("-int8")


def precision(runtime: str) -> str:
    return "int8" if runtime.endswith("-int8") else "fp32"


def require(module: str, purpose: str) -> Any:
    """Import ``module`` or raise `Unsupported` saying what to install."""
    try:
        return importlib.import_module(module)
    except Exception as error:  # not installed, or broken (a missing shared library)
        how = INSTALL.get(module.split(".")[0], f"pip install {module.split('.')[0]}")
        raise Unsupported(f"{purpose} needs {module}, which is not usable here ({type(error).__name__}: "
                          f"{error}); {how}") from None  # fmt: skip


def version(runtime: str) -> str:
    module = require(engine_name(runtime), runtime)
    text = str(getattr(module, "__version__", None) or module.get_version())
    return text.split("-")[0]  # OpenVINO's "2026.4.1-22982-e213a147257-releases/2026/4": the release


@dataclass
class Engine:
    """An opened graph: ``run(feeds)`` returns its outputs in order."""

    runtime: str
    version: str
    device: str  # the runtime's words: "CPUExecutionProvider", "CPU"
    inputs: list[str]
    outputs: list[str]
    _run: Any = field(repr=False)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._run(feeds)


def open_engine(runtime: str, path: Path, device: str, threads: int | None) -> Engine:
    """``path`` opened with the runtime on zoo's ``device`` ("cpu", "cuda", ...), with the run's threads."""
    if engine_name(runtime) == "onnxruntime":
        return _onnxruntime(runtime, path, device, threads)
    return _openvino(runtime, path, device, threads)


def _onnxruntime(runtime: str, path: Path, device: str, threads: int | None) -> Engine:
    ort = require("onnxruntime", runtime)
    provider = "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider"
    if provider not in ort.get_available_providers():
        raise Unsupported(f"ONNX Runtime here has no {provider} for --device {device} (it has "
                          f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu")  # fmt: skip
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=[provider])
    names = [o.name for o in session.get_outputs()]
    return Engine(runtime, ort.__version__, provider, [i.name for i in session.get_inputs()], names,
                  lambda feeds: session.run(names, feeds))  # fmt: skip


def _openvino(runtime: str, path: Path, device: str, threads: int | None) -> Engine:
    ov = require("openvino", runtime)
    if device != "cpu":
        raise Unsupported(f"zoo runs OpenVINO on its CPU plugin only; --device {device} is not one of its devices")
    core = ov.Core()
    # f32: OpenVINO's CPU plugin would otherwise run bf16 on a CPU that has it, which is not the fp32 row it claims
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    ports = list(compiled.outputs)

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = request.infer(feeds)
        return [np.asarray(results[port]) for port in ports]

    names = [port.get_any_name() for port in ports]
    inputs = [port.get_any_name() for port in compiled.inputs]
    return Engine(runtime, version(runtime), "CPU (inference precision f32)", inputs, names, run)


def converter(runtime: str) -> str:
    """What turns the exported ONNX graph into the runtime's file, in words."""
    if runtime == "onnxruntime-int8":
        return "ONNX Runtime's quantize_static (QDQ, per-channel)"
    if runtime == "openvino-int8":
        return "NNCF's quantize on OpenVINO's converted model"
    return "OpenVINO's convert_model" if runtime == "openvino" else "nothing (the ONNX file as exported)"


def to_openvino(onnx_path: Path, out: Path) -> Path:
    """OpenVINO's own converter on the exported ONNX graph, saved as IR at fp32 (no fp16 compression)."""
    ov = require("openvino", "openvino")
    model = ov.convert_model(str(onnx_path))
    xml = out / "model.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return xml


def quantize(runtime: str, fp32: Path, out: Path, feeds: Iterable[dict[str, np.ndarray]]) -> Path:
    """int8 with the runtime's own post-training quantizer, calibrated on ``feeds``: ONNX Runtime's
    ``quantize_static`` (QDQ, per-channel weights), OpenVINO's NNCF ``quantize``."""
    feeds = list(feeds)
    if engine_name(runtime) == "onnxruntime":
        quantization = require("onnxruntime.quantization", runtime)

        class Reader(quantization.CalibrationDataReader):
            def __init__(self) -> None:
                self.items = iter(feeds)

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self.items, None)

        target = out / "model.onnx"
        quantization.quantize_static(str(fp32), str(target), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                     per_channel=True)  # fmt: skip
        return target
    ov = require("openvino", runtime)
    nncf = require("nncf", runtime)
    model = ov.convert_model(str(fp32))
    quantized = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds))
    target = out / "model.xml"
    ov.save_model(quantized, str(target), compress_to_fp16=False)
    return target
