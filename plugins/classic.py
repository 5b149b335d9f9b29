"""The classic detectors OpenCV ships trained: Dalal and Triggs' HOG people detector (CVPR 2005) and the Viola–Jones
cascades for full and upper bodies (Kruppa and Schiele's Haar cascades). They are the pre-deep-learning baselines
the R-CNN line of work was measured against, and their weights come with OpenCV itself: nothing to fetch, so they
give real accuracy on a machine with no network at all.

Each predicts one class, ``person``. ``preprocess`` converts the image for the detector (BGR for HOG; grey with its
histogram equalised for the cascades, as OpenCV's samples do), ``forward`` runs OpenCV's multi-scale sliding
window search with its default settings (recorded in ``info().settings``), and ``postprocess`` turns each window
into an xyxy box. Scores: HOG's is its linear SVM's decision value, a cascade's the weight of its last stage
(``detectMultiScale3(outputRejectLevels=True)``); both are mapped through a logistic, ``1 / (1 + e^-v)``, so the
detector's own decision threshold (0) falls at 0.5 and ranking is kept. HOG is asked for windows down to a
decision value of -0.5 (``hit_threshold``), so AP sees some of what it would reject; its overlapping windows are
merged by OpenCV's own grouping. The boxes are the detection windows as OpenCV returns them, margins included
(HOG's 64x128 window has about 16 px around the person), not tightened.

OpenCV 5 moved both detectors out of its main package, so zoo asks for ``opencv-python<5``; on an OpenCV without
them the rows say why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import zoo


def _cv2():
    import cv2

    return cv2


def _score(values: Any) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(values, dtype=np.float64).ravel()))


class HogPeople(zoo.Model):
    """Dalal–Triggs: HOG features of a 64x128 window, a linear SVM, an image pyramid (OpenCV's default people
    detector, trained on INRIA Person)."""

    name = "hog-people"
    family = "classic"
    framework = "opencv"
    finetune_unsupported = "OpenCV ships this detector trained; it has no training zoo could run on a dataset"
    description = "HOG + linear SVM pedestrian detector (Dalal & Triggs 2005), as OpenCV ships it"

    def __init__(
        self,
        *,
        weights: str | None = None,
        hit_threshold: float = -0.5,
        win_stride: int = 8,
        padding: int = 8,
        scale: float = 1.05,
        group_threshold: int = 2,
    ) -> None:
        super().__init__(weights=weights)
        self.options = dict(
            hitThreshold=float(hit_threshold),
            winStride=(int(win_stride),) * 2,
            padding=(int(padding),) * 2,
            scale=float(scale),
            groupThreshold=int(group_threshold),
        )

    def check_weights(self) -> zoo.WeightsCheck:
        if not hasattr(_cv2(), "HOGDescriptor"):
            return zoo.WeightsCheck("missing", hint=_no_classic())
        return zoo.WeightsCheck("found", "cv2.HOGDescriptor_getDefaultPeopleDetector() (installed with OpenCV)")

    def load(self, device: str) -> None:
        cv2 = _cv2()
        if not hasattr(cv2, "HOGDescriptor"):
            raise zoo.WeightsUnavailable(_no_classic())
        if self.weights == zoo.UNTRAINED:  # the same detector with a random SVM: for timing only
            self.svm = np.random.default_rng(0).normal(size=cv2.HOGDescriptor_getDefaultPeopleDetector().shape)
            self.svm = self.svm.astype(np.float32)
        elif self.weights in (None, "default"):
            self.svm = cv2.HOGDescriptor_getDefaultPeopleDetector()
        else:
            raise ValueError(f"weights {self.weights!r}: hog-people has only OpenCV's default people detector")
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(self.svm)
        self.labels = ["person"]

    def info(self) -> zoo.ModelInfo:
        return zoo.ModelInfo(
            num_params=int(np.size(self.svm)),
            input_size="as given (image pyramid of 64x128 windows)",
            weights=zoo.UNTRAINED if self.weights == zoo.UNTRAINED else "cv2.HOGDescriptor_getDefaultPeopleDetector()",
            settings={**self.options, "opencv": _cv2().__version__},
        )

    def preprocess(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [np.ascontiguousarray(image[..., ::-1]) for image in images]  # OpenCV's BGR

    def forward(self, batch: list[np.ndarray]) -> list[tuple[Any, Any]]:
        return [self._detect(image) for image in batch]

    def _detect(self, image: np.ndarray) -> tuple[Any, Any]:
        """OpenCV's detection windows; none in an image smaller than one window (OpenCV 4 crashes on it: SIGSEGV)."""
        width, height = self.hog.winSize
        if image.shape[0] < height or image.shape[1] < width:
            return (), ()
        return self.hog.detectMultiScale(image, **self.options)

    def postprocess(self, outputs: list[tuple[Any, Any]], images: list[np.ndarray]) -> list[zoo.Detections]:
        return [_detections(rects, _score(weights), image) for (rects, weights), image in zip(outputs, images)]


class HaarCascade(zoo.Model):
    """A Viola–Jones cascade of boosted Haar-feature classifiers over an image pyramid."""

    family = "classic"
    framework = "opencv"
    finetune_unsupported = "OpenCV ships these cascades trained; zoo does not retrain them (opencv_traincascade)"
    cascade: str = ""

    def __init__(
        self, *, weights: str | None = None, scale_factor: float = 1.1, min_neighbors: int = 3, min_size: int = 0
    ) -> None:
        super().__init__(weights=weights)
        self.options = dict(
            scaleFactor=float(scale_factor), minNeighbors=int(min_neighbors), minSize=(int(min_size),) * 2
        )

    def _path(self) -> Path:
        if self.weights == zoo.UNTRAINED:
            raise ValueError(f"{self.name} has no untrained form: a cascade is its trained stages")
        if self.weights not in (None, "default"):
            return Path(self.weights).expanduser()
        data = getattr(_cv2(), "data", None)
        return Path(getattr(data, "haarcascades", "")) / self.cascade

    def check_weights(self) -> zoo.WeightsCheck:
        path = self._path()
        if path.is_file():
            return zoo.WeightsCheck("found", str(path))
        return zoo.WeightsCheck("missing", str(path), _no_classic() if self.weights is None else f"no file at {path}")

    def load(self, device: str) -> None:
        cv2 = _cv2()
        path = self._path()
        if not hasattr(cv2, "CascadeClassifier") or not path.is_file():
            raise zoo.WeightsUnavailable(_no_classic() if self.weights is None else f"no cascade file at {path}")
        self.classifier = cv2.CascadeClassifier(str(path))
        if self.classifier.empty():
            raise ValueError(f"{path}: OpenCV could not read it as a cascade")
        self.identity = str(path)
        self.labels = ["person"]

    def info(self) -> zoo.ModelInfo:
        window = self.classifier.getOriginalWindowSize()
        return zoo.ModelInfo(
            input_size=f"as given (image pyramid of {window[0]}x{window[1]} windows)",
            weights=self.identity,
            settings={**self.options, "equalize_histogram": True, "opencv": _cv2().__version__},
        )

    def preprocess(self, images: list[np.ndarray]) -> list[np.ndarray]:
        cv2 = _cv2()
        return [cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)) for image in images]

    def forward(self, batch: list[np.ndarray]) -> list[tuple[Any, Any, Any]]:
        return [self.classifier.detectMultiScale3(image, outputRejectLevels=True, **self.options) for image in batch]

    def postprocess(self, outputs: list[tuple[Any, Any, Any]], images: list[np.ndarray]) -> list[zoo.Detections]:
        return [_detections(rects, _score(weights), image) for (rects, _, weights), image in zip(outputs, images)]


class HaarFullBody(HaarCascade):
    name = "haar-fullbody"
    cascade = "haarcascade_fullbody.xml"
    description = "Viola-Jones cascade of Haar features, full body (Kruppa & Schiele), as OpenCV ships it"


class HaarUpperBody(HaarCascade):
    name = "haar-upperbody"
    cascade = "haarcascade_upperbody.xml"
    description = "Viola-Jones cascade of Haar features, upper body (Kruppa & Schiele), as OpenCV ships it"


def _detections(rects: Any, scores: np.ndarray, image: np.ndarray) -> zoo.Detections:
    """OpenCV's (x, y, w, h) windows as xyxy boxes, clipped to the image."""
    boxes = np.asarray(rects, dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    height, width = image.shape[:2]
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return zoo.Detections(boxes, scores.astype(np.float32), np.zeros(len(boxes), dtype=np.int64))


def _no_classic() -> str:
    return (
        f"OpenCV {_cv2().__version__} has no HOG people detector or Haar cascades (OpenCV 5 moved them out of its "
        "main package); install opencv-python<5, as zoo's requirements ask"
    )


@zoo.hookimpl
def register_models(register):
    for cls in (HogPeople, HaarFullBody, HaarUpperBody):
        register(cls)
