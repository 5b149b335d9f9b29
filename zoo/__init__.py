"""zoo: compare object localization and detection models fairly.

What a plugin author needs is importable from here: ``zoo.hookimpl``, ``zoo.Model``, ``zoo.Detections``.
"""

from zoo.detections import Detections
from zoo.errors import ZooError
from zoo.fetch.remote import RemoteFile
from zoo.hookspecs import hookimpl
from zoo.model import UNTRAINED, Model, ModelInfo, Prediction, StageTimes, WeightsCheck, WeightsUnavailable

__version__ = "0.1.0"

__all__ = [
    "UNTRAINED",
    "Detections",
    "Model",
    "ModelInfo",
    "Prediction",
    "RemoteFile",
    "StageTimes",
    "WeightsCheck",
    "WeightsUnavailable",
    "ZooError",
    "hookimpl",
]
