"""The CNN box regressor: a small conv net whose last layer outputs four numbers, one box per image, trained with L2
loss by ``zoo train regressor`` — the plain localization model the detectors are compared with.

Prediction. ``preprocess`` stretches each image to the checkpoint's input size (96x96 by default; bilinear,
antialiased, the aspect ratio not kept) and normalises it with ImageNet's mean and std; ``forward`` runs the
network; ``postprocess`` maps the four outputs through a sigmoid to (cx, cy, w, h) — the box's centre and size as
fractions of the image's width and height — turns them into an xyxy box clipped to the image, at least one pixel
wide and high, and scales it to the original image's pixels. One box per image, score 1.0.

Labels. Trained on the largest box of every image (any class), the model is class-agnostic (``labels`` is None);
trained with ``--class NAME``, its one label is that class.

Weights. The default is the checkpoint ``zoo train regressor --data shapes:...`` writes:
``$ZOO_HOME/regressor-shapes.pt``, where ``$ZOO_HOME`` defaults to ``$XDG_CACHE_HOME/zoo`` or ``~/.cache/zoo``.
``--weights regressor=PATH`` (or ``weights:`` in ``registry.yaml``) names another checkpoint; ``untrained`` builds
the network with random weights at 96 px. A missing default is `zoo.WeightsUnavailable` naming the command that
makes it. Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain data only, no code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import zoo
from zoo.fetch.config import home
from zoo.files import sha256_prefix

TRAIN_COMMAND = "zoo train regressor --data shapes:count=3000"
"""The command that makes the default checkpoint (the README gives its measured time and IoU)."""


def default_checkpoint() -> Path:
    return home() / "regressor-shapes.pt"


def read_checkpoint(path: Path) -> tuple[dict, dict]:
    """The state dict and metadata of a checkpoint `zoo train regressor` wrote; ValueError for any other file."""
    import torch

    from . import network

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path} is not a checkpoint torch can read safely ({type(error).__name__}: {error})"
        ) from None
    if not (isinstance(data, dict) and isinstance(data.get("meta"), dict) and isinstance(data.get("model"), dict)):
        raise ValueError(f"{path} is not a zoo regressor checkpoint; make one with `zoo train regressor`")
    meta = data["meta"]
    if meta.get("format") != network.FORMAT:
        raise ValueError(f"{path} has checkpoint format {meta.get('format')!r}; this zoo reads {network.FORMAT!r}")
    return data["model"], meta


class Regressor(zoo.Model):
    """One box per image from a compact CNN trained with L2 loss (``zoo train regressor``)."""

    name = "regressor"
    family = "regressor"
    framework = "torch"
    finetune_unsupported = "it learns one box per image with its own trainer: `zoo train regressor --data DATA`"
    description = "compact CNN, 4 outputs (cx, cy, w, h), L2 loss; one box per image (zoo train regressor)"

    def __init__(self, *, weights: str | None = None) -> None:
        super().__init__(weights=weights)
        self.net = None
        self.meta: dict = {}

    def _path(self) -> Path | None:
        if self.weights == zoo.UNTRAINED:
            return None
        return Path(self.weights).expanduser() if self.weights else default_checkpoint()

    def _missing(self, path: Path) -> str:
        if self.weights:
            return f"no checkpoint at {path}; check the path, or make one with `zoo train regressor --out {path} ...`"
        return (
            f"no checkpoint at {path}; create it with `{TRAIN_COMMAND}` (about 12 minutes on 2 CPU cores, see the "
            "README), or give one with --weights regressor=PATH"
        )

    def check_weights(self) -> zoo.WeightsCheck:
        path = self._path()
        if path is None:
            return zoo.WeightsCheck("none", hint="untrained: random initialisation")
        if path.is_file():
            return zoo.WeightsCheck("found", str(path))
        return zoo.WeightsCheck("missing", str(path), self._missing(path))

    def load(self, device: str) -> None:
        from . import network

        path = self._path()
        if path is None:
            self.meta = {"architecture": network.architecture(), "class": None}
            self.identity = zoo.UNTRAINED
            state = None
        else:
            if not path.is_file():
                raise zoo.WeightsUnavailable(self._missing(path))
            state, self.meta = read_checkpoint(path)
            self.identity = f"{path} (sha256 {sha256_prefix(path)})"
        net = network.build(self.meta["architecture"])
        if state is not None:
            net.load_state_dict(state)
        self.imgsz = int(self.meta["architecture"]["imgsz"])
        self.labels = [self.meta["class"]] if self.meta.get("class") else None
        self.net = net.eval().to(device)

    def info(self) -> zoo.ModelInfo:
        from . import network

        settings = {"output": network.OUTPUT, "resize": "stretched to the input size, bilinear, antialiased"}
        settings["checkpoint"] = {k: v for k, v in self.meta.items() if k not in ("history",)}
        return zoo.ModelInfo(
            num_params=sum(p.numel() for p in self.net.parameters()),
            input_size=f"{self.imgsz}x{self.imgsz}",
            weights=self.identity,
            settings=settings,
        )

    def preprocess(self, images: list[np.ndarray]):
        import torch

        from . import network

        batch = torch.stack([network.resize(image, self.imgsz) for image in images]).to(self.device)
        return network.normalise(batch)

    def forward(self, batch):
        import torch

        with torch.inference_mode():
            return self.net(batch)

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        from . import network

        boxes = network.decode(outputs).cpu().numpy().astype(np.float64)
        if not np.isfinite(boxes).all():
            raise ValueError("the network's outputs are not finite numbers; the checkpoint is broken")
        results = []
        for box, image in zip(boxes, images):
            height, width = image.shape[:2]
            results.append(zoo.Detections([pixel_box(box, width, height)], [1.0], [0]))
        return results

    @classmethod
    def train(cls, dataset, **options) -> Path:
        """Train on ``dataset`` and save a checkpoint (see `training.train` for the options); used by `zoo train`."""
        from . import training

        return training.train(dataset, default_dir=home, **options)


def pixel_box(fractions: np.ndarray, width: int, height: int) -> list[float]:
    """An xyxy box in fractions of the image -> pixels, inside the image and at least 1 px wide and high (or the
    image's size, if smaller)."""
    box = []
    for low, high, size in ((fractions[0], fractions[2], width), (fractions[1], fractions[3], height)):
        low, high = float(np.clip(low, 0, 1)) * size, float(np.clip(high, 0, 1)) * size
        extent = min(1.0, size)
        if high - low < extent:
            centre = min(max((low + high) / 2, extent / 2), size - extent / 2)
            low, high = centre - extent / 2, centre + extent / 2
        box.append((low, high))
    (x1, x2), (y1, y2) = box
    return [x1, y1, x2, y2]


@zoo.hookimpl
def register_models(register):
    register(Regressor)
