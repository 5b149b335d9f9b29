"""Ultralytics' detectors: YOLOv8n/s, YOLO11n/s and RT-DETR-L, run through ultralytics' own predictor.

Weights. The default is the official checkpoint (``yolov8n.pt``, ``yolo11s.pt``, ``rtdetr-l.pt``, ...), looked for
where ``YOLO("yolov8n.pt")`` looks: the current directory, then ultralytics' ``weights_dir`` setting
(``yolo settings``); with a weights folder (``--weights-dir``), only in its ``ultralytics/``. zoo fetches a missing
official file from ultralytics' assets release into ``weights_dir`` before the model is measured (``remote_files``),
checked against the size and sha256 ``registry.yaml`` records. ``weights:`` in ``registry.yaml`` (or ``--weights
ID=PATH``) may name another file; a bare ``NAME.pt`` is looked up in the same places. ``weights: untrained`` builds
the architecture from its yaml (``yolov8n.yaml``, ``rtdetr-l.yaml``) with random weights and COCO's 80 names. zoo
hands ultralytics an absolute path to a file that exists, so ultralytics' own download-on-first-use never runs.

Trust. An ultralytics ``.pt`` is a pickle of the whole module, and unpickling can run code. zoo loads only the file
the user named or the official name where ultralytics keeps its own, and loads it with ultralytics' restricted
loader (``torch.load(weights_only=True)`` against an allow-list of ultralytics and torch classes): the environment
flag ``ULTRALYTICS_SAFE_LOAD`` is set to 1 unless the user set it. A checkpoint that needs other types is refused
with a message; set ``ULTRALYTICS_SAFE_LOAD=0`` to unpickle a file you trust in full. Whether the load was restricted
is recorded in the model's settings.

Offline. What ultralytics does that could touch the network or the machine, and what this plugin does about it:
- on import it resolves two DNS names to decide whether it is online (``ONLINE``), which can hang on a machine with
  no network: ``YOLO_OFFLINE=1`` is set before the first import, which skips the lookup and turns off its analytics
  events (Google Analytics, sent after predict/val/train runs) and its Sentry reports;
- on import it reads, and creates or migrates, its settings file (``$YOLO_CONFIG_DIR`` or
  ``~/.config/Ultralytics/settings.json``): local only, left as ultralytics does it, since ``weights_dir`` lives there;
- on import it sets ``OMP_NUM_THREADS=1`` when unset: torch is imported first (its thread pool is then already sized)
  and the variable is removed again, so ultralytics does not change the threads of the models that run after it;
- ``select_device("cpu")`` calls ``torch.set_num_threads(min(8, cpus - 1))``: the thread count is restored after the
  predictor is set up, so ``--threads`` holds and every model runs with the same threads;
- a checkpoint naming a missing module makes it ``pip install`` it (``check_requirements``): ``YOLO_AUTOINSTALL=0``
  is set, and the restricted loader never installs;
- ``YOLO_VERBOSE=0`` (unless set) keeps its log lines out of zoo's output; fonts (downloaded only when plotting), AMP
  checks (training only) and hub calls (``hub.ultralytics.com`` model ids only) are never reached.
``YOLO_OFFLINE`` and ``YOLO_AUTOINSTALL`` are forced (zoo, not ultralytics, fetches; nothing installs); the others
are defaults the user may override. Importing ultralytics also sets ``cv2.setNumThreads(0)`` for the process, as its
own pipeline always runs that way.

Prediction. zoo's three timed steps are ultralytics' own predictor steps, the split its ``Results.speed`` reports:
``preprocess`` is ``predictor.preprocess`` (its letterbox, HWC->CHW, /255; zoo's RGB images are handed over as BGR,
what ``model.predict`` expects from OpenCV), ``forward`` is ``predictor.inference`` (the network, Conv+BN fused as
ultralytics runs it), ``postprocess`` is ``predictor.postprocess`` (NMS for YOLO, the confidence filter for RT-DETR,
boxes scaled back to the original image's pixels). The settings are those of ``model.predict`` (``rect=True``: YOLO
letterboxes the longer side to ``imgsz`` and pads to the stride; RT-DETR stretches to ``imgsz`` x ``imgsz``), at
confidence 0.001 (see ``CONF``); all three are recorded in ``ModelInfo.settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import zoo
import zoo.fetch
from zoo.files import sha256_prefix

# Confidence: 0.001, the threshold of ``yolo val``, which produced the published mAP, rather than zoo's usual 0
# (ultralytics would accept 0.0). Boxes under 0.001 almost never reach the 100 per image COCO AP reads, but at 0.0
# every anchor (8400 at 640) enters NMS, whose cost grows faster than linearly with the candidates (measured on one
# thread of a busy 2-core CPU: ultralytics' NMS took ~45 ms on 1000 random candidates, ~1.35 s on 8400). No
# ultralytics user runs that regime, it would make NMS dominate the speed split, and past 2 s per batch ultralytics'
# NMS time limit silently drops the rest of the batch. iou and max_det are ultralytics' defaults for predict and val.
CONF = 0.001
IOU = 0.7
MAX_DET = 300

TRUTHY = {"1", "true", "yes", "on", "y", "t"}  # what ultralytics reads as true in an environment flag


@dataclass(frozen=True)
class Spec:
    family: str
    yaml: str  # the architecture, for untrained copies
    rtdetr: bool = False


# The box AP ultralytics' docs publish for each official checkpoint lives in registry.yaml (``published:``).
SPECS = {
    "yolov8n": Spec("yolo", "yolov8n.yaml"),
    "yolov8s": Spec("yolo", "yolov8s.yaml"),
    "yolo11n": Spec("yolo", "yolo11n.yaml"),
    "yolo11s": Spec("yolo", "yolo11s.yaml"),
    "rtdetr-l": Spec("detr", "rtdetr-l.yaml", rtdetr=True),
}


def import_ultralytics():
    """Import ultralytics offline, quietly, with restricted checkpoint loading, without touching torch's threads."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "0")
    os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")
    omp = os.environ.get("OMP_NUM_THREADS")
    import torch  # noqa: F401  (before ultralytics: torch sizes its thread pool before OMP_NUM_THREADS=1 is set)
    import ultralytics

    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    return ultralytics


def weights_dir() -> Path:
    """ultralytics' ``weights_dir`` setting, as an absolute path (a relative one is relative to the current folder),
    or ``ultralytics/`` in the weights folder in use."""

    def setting() -> Path:
        import_ultralytics()
        from ultralytics.utils import SETTINGS

        return Path(SETTINGS["weights_dir"]).expanduser().absolute()

    return zoo.fetch.config.library_cache("ultralytics", setting)


def official_url(name: str) -> str:
    """Where ultralytics itself downloads an official file from: its assets repository, at the release its
    ``attempt_download_asset`` defaults to (``v8.4.0`` for ultralytics 8.4)."""
    import inspect

    import_ultralytics()
    from ultralytics.utils.downloads import GITHUB_ASSETS_REPO, attempt_download_asset

    release = inspect.signature(attempt_download_asset).parameters["release"].default
    return f"https://github.com/{GITHUB_ASSETS_REPO}/releases/download/{release}/{name}"


def coco_names() -> list[str]:
    """The 80 COCO class names, in ultralytics' class order (its ``coco.yaml``)."""
    import_ultralytics()
    from ultralytics.utils import ROOT, YAML

    names = YAML.load(ROOT / "cfg" / "datasets" / "coco.yaml")["names"]
    return [names[i] for i in range(len(names))]


class UltralyticsDetector(zoo.Model):
    framework = "ultralytics"
    spec: ClassVar[Spec]

    def __init__(self, *, weights: str | None = None, imgsz: int | None = None) -> None:
        super().__init__(weights=weights)
        if imgsz is not None and imgsz < 32:
            raise ValueError(f"imgsz must be at least 32, got {imgsz}")
        self.imgsz = imgsz
        self.predictor = None

    @property
    def official_name(self) -> str:
        return f"{self.name}.pt"

    # -- weights -------------------------------------------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        """The files to try, in order: a path as given, or a bare name in the current folder then ``weights_dir``
        (only the weights folder's ``ultralytics/`` when one is in use)."""
        value = self.weights or self.official_name
        path = Path(value).expanduser()
        if path.parent != Path("."):  # a path with a folder: only that file
            return [path.absolute()]
        if zoo.fetch.config.weights_dir() is not None:
            return [weights_dir() / path.name]
        return [path.absolute(), weights_dir() / path.name]

    def remote_files(self) -> list[zoo.RemoteFile]:
        """The official file, where it is found (it is checked there) or where zoo puts it: ``weights_dir``."""
        if (self.weights or self.official_name) != self.official_name:
            return []
        return [zoo.RemoteFile(url=official_url(self.official_name), path=self._find() or self._candidates()[-1])]

    def _find(self) -> Path | None:
        return next((path for path in self._candidates() if path.is_file()), None)

    def _missing_message(self) -> str:
        candidates = self._candidates()
        name = candidates[-1].name
        if Path(self.weights or self.official_name).parent != Path("."):
            return f"no file at {candidates[0]}; check the path given with weights: or --weights {self.name}=PATH"
        if len(candidates) == 1:
            looked = f"{name} is not in the weights folder's {candidates[0].parent}"
        else:
            looked = f"{name} is not in {candidates[0].parent} nor in ultralytics' weights_dir {candidates[1].parent}"
        from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

        if name not in GITHUB_ASSETS_NAMES:
            return f"{looked}; put it there, or give its path with --weights {self.name}=PATH"
        return (
            f"{looked}; `zoo pull --models {self.name}` fetches {official_url(name)} to {candidates[-1]}, or give "
            f"a local file with --weights {self.name}=PATH"
        )

    def check_weights(self) -> zoo.WeightsCheck:
        if self.weights == zoo.UNTRAINED:
            return zoo.WeightsCheck("none", hint=f"untrained: random initialisation from {self.spec.yaml}")
        found = self._find()
        if found is not None:
            return zoo.WeightsCheck("found", str(found))
        location = ", ".join(str(path) for path in self._candidates())
        return zoo.WeightsCheck("missing", location, self._missing_message())

    # -- loading -------------------------------------------------------------------------------------------------

    def load(self, device: str) -> None:
        import torch

        import_ultralytics()
        from ultralytics import RTDETR, YOLO

        wrapper = RTDETR if self.spec.rtdetr else YOLO
        self.restricted = None
        path = None
        if self.weights == zoo.UNTRAINED:
            model = wrapper(self.spec.yaml)
            model.model.names = dict(enumerate(coco_names()))
            self.identity = zoo.UNTRAINED
        else:
            path = self._find()
            if path is None:
                raise zoo.WeightsUnavailable(self._missing_message())
            if path.suffix.lower() != ".pt":
                raise ValueError(f"{path}: expected an ultralytics .pt checkpoint")
            self.restricted = self._vet(path)
            try:
                model = wrapper(str(path))
            except TypeError as error:  # ultralytics' words for a file its restricted loader rejects
                if self.restricted and "outside the supported" in str(error):
                    raise ValueError(self._refused(path, error)) from None
                raise
            self.identity = f"{path} (sha256 {sha256_prefix(path)})"
        self.labels = [str(model.model.names[i]) for i in range(len(model.model.names))]
        self.architecture = (getattr(model.model, "yaml", None) or {}).get("yaml_file")

        # the arguments model.predict() gives its predictor, at ultralytics' lowest working confidence
        custom = {"conf": CONF, "iou": IOU, "max_det": MAX_DET, "batch": 1, "save": False, "mode": "predict"}
        custom |= {"rect": True, "embed": None, "verbose": False, "device": str(torch.device(device))}
        if self.imgsz is not None:
            custom["imgsz"] = self.imgsz
        predictor = model.task_map[model.task]["predictor"](overrides={**model.overrides, **custom})
        threads = torch.get_num_threads()
        try:  # ultralytics' select_device("cpu") resets torch's threads; zoo keeps the run's setting
            predictor.setup_model(model=model.model, verbose=False)
        finally:
            torch.set_num_threads(threads)
        probe = np.zeros((64, 64, 3), np.uint8)
        predictor.setup_source([probe])  # the source setup model.predict() does: imgsz checked against the stride
        predictor.model.warmup(imgsz=(1, 3, *predictor.imgsz))
        predictor.done_warmup = True
        self.predictor = predictor  # holds the fused copy that runs; the loaded model is not kept

    def _vet(self, path: Path) -> bool:
        """Whether ``path`` is loaded with ultralytics' restricted (weights_only) loader; refuse what it rejects."""
        from ultralytics.nn import tasks

        if getattr(tasks, "SAFE_LOAD", False):
            return True  # ultralytics itself loads restricted (ULTRALYTICS_SAFE_LOAD was on when it was imported)
        if os.environ.get("ULTRALYTICS_SAFE_LOAD", "1").strip().lower() not in TRUTHY:
            return False  # the user opted out: a full unpickle of a file they trust
        if not getattr(getattr(tasks, "_SafeLoad", None), "SUPPORTED", False):
            return False  # no restricted loader in this ultralytics or torch: a full unpickle, recorded as such
        # ultralytics was imported before this plugin could set the flag: vet the file with the restricted loader
        try:
            tasks.torch_safe_load(str(path), safe_only=True)
        except TypeError as error:
            raise ValueError(self._refused(path, error)) from None
        return True

    @staticmethod
    def _refused(path: Path, error: Exception) -> str:
        text = " ".join(str(error).split())
        return (
            f"{path}: ultralytics' restricted loader refused it ({text}); if you trust this file, set "
            "ULTRALYTICS_SAFE_LOAD=0 to unpickle it in full"
        )

    def set_score_threshold(self, conf: float) -> bool:
        """The predictor's ``args.conf``, what ``model.predict(conf=...)`` sets: YOLO's NMS drops the boxes under it
        before sorting them, RT-DETR's postprocess filters by it; ``iou`` and ``max_det`` stay as for accuracy (never
        under ``CONF``)."""
        self.predictor.args.conf = max(float(conf), CONF)
        return True

    def info(self) -> zoo.ModelInfo:
        import ultralytics

        predictor = self.predictor
        height, width = predictor.imgsz
        if self.spec.rtdetr:
            size = f"{width}x{height} (stretched)"
        else:
            size = (
                f"longer side {max(height, width)}, letterboxed, padded to a multiple of {int(predictor.model.stride)}"
            )
        params = sum(p.numel() for p in predictor.model.model.parameters())  # the network as it runs (fused)
        args = predictor.args
        settings: dict[str, Any] = {
            "conf": args.conf,
            "iou": args.iou,
            "max_det": args.max_det,
            "imgsz": [height, width],
            "rect": bool(args.rect) and not self.spec.rtdetr,
            "agnostic_nms": bool(args.agnostic_nms),
            "half": bool(predictor.model.fp16),
            "nms": "none (RT-DETR)" if self.spec.rtdetr else "class-aware, best class per box",
            "restricted_load": self.restricted,
            "architecture": self.architecture,
            "ultralytics": ultralytics.__version__,
        }
        return zoo.ModelInfo(
            num_params=params,
            input_size=size,
            weights=self.identity,
            settings=settings,
        )

    # -- prediction: ultralytics' own predictor steps ------------------------------------------------------------

    def preprocess(self, images: list[np.ndarray]):
        import torch

        bgr = [np.ascontiguousarray(image[..., ::-1]) for image in images]  # model.predict() takes OpenCV's BGR
        with torch.inference_mode():
            return self.predictor.preprocess(bgr), bgr

    def forward(self, batch):
        import torch

        tensor, bgr = batch
        with torch.inference_mode():
            return self.predictor.inference(tensor), tensor, bgr

    def postprocess(self, outputs, images: list[np.ndarray]) -> list[zoo.Detections]:
        import torch

        preds, tensor, bgr = outputs
        self.predictor.batch = ([""] * len(bgr), bgr, [""] * len(bgr))  # (paths, images, logs), as its loader yields
        with torch.inference_mode():
            results = self.predictor.postprocess(preds, tensor, bgr)
        detections = []
        for result in results:
            boxes = result.boxes
            detections.append(
                zoo.Detections(
                    boxes.xyxy.float().cpu().numpy(), boxes.conf.float().cpu().numpy(), boxes.cls.long().cpu().numpy()
                )
            )
        return detections

    def finetune(self, session):
        """Fine-tune with ultralytics' own trainer (`zoo.adapt.ultralytics_training`): from the official checkpoint
        when it is here (or the file ``weights`` names), else from the architecture's yaml ("from scratch")."""
        import_ultralytics()
        from ultralytics import RTDETR, YOLO

        from zoo.adapt.ultralytics_training import finetune

        base = None if self.weights == zoo.UNTRAINED or session.settings.from_scratch else self._find()
        if base is not None:
            self._vet(base)
        return finetune(self, session, RTDETR if self.spec.rtdetr else YOLO, base)


def _model_class(name: str, spec: Spec) -> type[UltralyticsDetector]:
    kind = "RT-DETR" if spec.rtdetr else "YOLO"
    return type(
        name,
        (UltralyticsDetector,),
        {
            "name": name,
            "spec": spec,
            "family": spec.family,
            "description": f"ultralytics {name} ({kind}, COCO)",
            "__doc__": f"ultralytics' {name}.",
        },
    )


@zoo.hookimpl
def register_models(register):
    for name, spec in SPECS.items():
        register(_model_class(name, spec))
