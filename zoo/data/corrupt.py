"""Corrupted copies of a dataset's images: the 15 corruptions of the robustness benchmark (Hendrycks & Dietterich,
ICLR 2019, as packaged for detection by Michaelis et al., 2019) at severities 1-5, made by the maintained fork of
the benchmark authors' package, ``imagecorruptions-imaug`` (``zoo[robustness]``), never by zoo's own code.

Each corrupted image is made once per (image, corruption, severity, seed), written as a lossless PNG under
``$ZOO_HOME/corruptions/`` and read back by every later model and run: every model sees the same pixels, and a
resumed or repeated run makes none again. The random corruptions (noise, glass blur, snow, frost, fog, elastic)
draw from a seed derived from the run's seed, the image id, the corruption and the severity.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.dataset import Dataset, ImageRecord
from zoo.errors import ZooError
from zoo.fetch.config import home

GROUPS: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
CORRUPTIONS: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)
"""The benchmark's 15 corruptions, in its order (noise, blur, weather, digital)."""
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
ALIASES = {"elastic": "elastic_transform", "jpeg": "jpeg_compression", "gaussian": "gaussian_noise",
           "shot": "shot_noise", "impulse": "impulse_noise", "defocus": "defocus_blur", "glass": "glass_blur",
           "motion": "motion_blur", "zoom": "zoom_blur"}  # fmt: skip
PACKAGE = "imagecorruptions-imaug"
LIBRARY = {
    "package": PACKAGE,
    "licence": "Apache-2.0 (a fork of bethgelab/imagecorruptions, itself from hendrycks/robustness)",
    "source": "https://github.com/imaug/imagecorruptions",
    "cite": "Hendrycks & Dietterich, ICLR 2019; Michaelis et al., arXiv:1907.07484, 2019",
}
MIN_SIDE = 32  # the library refuses smaller images


def group_of(name: str) -> str:
    return next(group for group, names in GROUPS.items() if name in names)


def parse_corruptions(text: str) -> tuple[str, ...]:
    """``all``, a group (``noise``, ``blur``, ``weather``, ``digital``) or corruption names, comma-separated, in the
    benchmark's order; a one-line `ZooError` naming an unknown one."""
    chosen: list[str] = []
    for word in (w.strip().lower().replace("-", "_") for w in text.split(",") if w.strip()):
        if word == "all":
            chosen += CORRUPTIONS
        elif word in GROUPS:
            chosen += GROUPS[word]
        elif ALIASES.get(word, word) in CORRUPTIONS:
            chosen.append(ALIASES.get(word, word))
        else:
            raise ZooError(
                f"--corruptions {text}: {word!r} is not a corruption; give all, a group ({', '.join(GROUPS)}) or "
                f"names among {', '.join(CORRUPTIONS)}"
            )
    if not chosen:
        raise ZooError(f"--corruptions {text!r}: give all, a group or corruption names")
    return tuple(name for name in CORRUPTIONS if name in chosen)


def parse_severities(text: str) -> tuple[int, ...]:
    """Severities 1-5, comma-separated; a one-line `ZooError` otherwise."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    if not values or not set(values) <= set(SEVERITIES):
        raise ZooError(f"--severities {text}: give severities between 1 and 5, comma-separated (e.g. 1,3,5)")
    return tuple(values)


def library_version() -> str:
    """The installed corruption library's version; a one-line `ZooError` with the fix when it is missing."""
    try:
        version = metadata.version(PACKAGE)
        import imagecorruptions  # noqa: F401 - importable, not only listed
    except (metadata.PackageNotFoundError, ImportError) as error:
        raise ZooError(
            f"--corruptions needs {PACKAGE} ({type(error).__name__}: {error}); install it with "
            "pip install 'zoo[robustness]'"
        ) from None
    return version


def image_seed(seed: int, image_id: int, name: str, severity: int) -> int:
    """The seed one corrupted image is drawn with: distinct per image, corruption and severity, fixed by ``seed``."""
    sequence = np.random.SeedSequence([seed, image_id & 0xFFFFFFFF, CORRUPTIONS.index(name), severity])
    return int(sequence.generate_state(1)[0])


def corrupt(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """``image`` (H, W, 3 uint8) under one corruption at one severity, drawn from ``seed``: the library's function,
    with numpy's global generator seeded around the call (and restored) and the seed given to the two functions that
    take one (impulse noise, glass blur). An image under 32 pixels a side is edge-padded to 32 and cropped back."""
    from imagecorruptions import corrupt as library_corrupt

    height, width = image.shape[:2]
    padded = np.pad(image, ((0, max(0, MIN_SIDE - height)), (0, max(0, MIN_SIDE - width)), (0, 0)), mode="edge")
    keywords = {"seed": seed} if name in ("impulse_noise", "glass_blur") else {}
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        out = library_corrupt(padded, severity=severity, corruption_name=name, **keywords)
    finally:
        np.random.set_state(state)
    return np.ascontiguousarray(out[:height, :width, :3], dtype=np.uint8)


def cache_root() -> Path:
    """Where corrupted copies are kept: ``$ZOO_HOME/corruptions``."""

    return home() / "corruptions"


@dataclass(frozen=True)
class CorruptedImage:
    """An `ImageRecord` source: the corrupted copy of ``original`` read from the cache, made (and cached) on first
    use. Picklable, so a corrupted dataset travels to a worker or a Ray node like the clean one."""

    original: ImageRecord
    name: str
    severity: int
    seed: int
    path: Path

    def __call__(self) -> np.ndarray:
        if self.path.is_file():
            with Image.open(self.path) as stored:
                return np.array(stored.convert("RGB"), dtype=np.uint8)
        seed = image_seed(self.seed, self.original.id, self.name, self.severity)
        pixels = corrupt(self.original.load(), self.name, self.severity, seed)
        _write_png(self.path, pixels)
        return pixels


def _write_png(path: Path, pixels: np.ndarray) -> None:
    """A lossless PNG, written under a temporary name and moved into place: a reader sees all of it or none."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(buffer.getvalue())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def corrupted(dataset: Dataset, name: str, severity: int, seed: int, root: Path | None = None) -> Dataset:
    """``dataset`` with every image replaced by its corrupted copy (same ids, sizes and boxes: scored the same)."""
    folder = (root or cache_root()) / dataset.fingerprint / f"{PACKAGE}-{library_version()}-seed{seed}"
    images = [
        dataclasses.replace(
            image, source=CorruptedImage(image, name, severity, seed, folder / name / str(severity) / f"{image.id}.png")
        )
        for image in dataset.images
    ]
    return dataclasses.replace(dataset, images=images)


def cached(dataset: Dataset) -> tuple[int, int]:
    """How many of a corrupted dataset's images are on disk already, of how many."""
    paths = [image.source.path for image in dataset.images if isinstance(image.source, CorruptedImage)]
    return sum(path.is_file() for path in paths), len(paths)
