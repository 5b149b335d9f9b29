"""Decoding an image file the way every model in a run sees it: upright (EXIF orientation applied), 8-bit RGB."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".mpo", ".dng")


@dataclass(frozen=True)
class EncodedImage:
    """An image kept as its file's bytes, decoded when loaded: an `ImageRecord` source that travels to another
    machine (``zoo run --executor ray``) and gives the same pixels there as the file gives here."""

    data: bytes

    def __call__(self) -> np.ndarray:
        return decode_image(self.data)


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes to an ``(H, W, 3) uint8`` RGB array; raise on anything PIL cannot fully decode.

    Grayscale, palette, alpha, CMYK and 16-bit images are converted; alpha is dropped, as OpenCV and PIL do
    by default, so a model sees what its own loader would show it.
    """
    with _pil_open()(io.BytesIO(data)) as image:
        image.load()
        upright = ImageOps.exif_transpose(image)
        return to_rgb(upright)


def _pil_open():
    """PIL's own ``Image.open``: once ultralytics is imported, ``Image.open`` is its wrapper, which answers a file PIL
    cannot identify by pip-installing pi-heif (a ModuleNotFoundError offline) instead of saying it is unreadable."""
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", None) or Image.open


def to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0
        gray = np.clip(np.round(values * 255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy: models may work in place
