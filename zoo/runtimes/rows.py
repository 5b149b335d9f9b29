"""What a runtime row is: its id (``MODEL@RUNTIME``), the runtimes there are, and `Unsupported`, the status of a
model that cannot run under one."""

from __future__ import annotations

from typing import Any

TORCH = "torch"
RUNTIMES = ("onnxruntime", "openvino", "onnxruntime-int8", "openvino-int8")
UNSUPPORTED = "unsupported"
SEPARATOR = "@"


class Unsupported(Exception):
    """The model cannot run under this runtime here (no exporter for it, the export failed, the runtime is not
    installed): its row gets the status ``unsupported`` and this one-line reason. ``record`` is its
    ``result.runtime`` (what runtime, which torch row, what was tried)."""

    def __init__(self, reason: str, record: dict[str, Any] | None = None) -> None:
        super().__init__(" ".join(reason.split()))
        self.record = record or {}


def torch_row(row_id: str) -> str:
    """The id of the torch row a runtime row belongs to."""
    return row_id.partition(SEPARATOR)[0]
