"""Selective search: class-agnostic region proposals by hierarchical grouping of an over-segmentation.

J. R. R. Uijlings, K. E. A. van de Sande, T. Gevers, A. W. M. Smeulders, "Selective Search for Object
Recognition", IJCV 104(2), 2013 (the region proposals of R-CNN and Fast R-CNN). What is implemented:

- Hierarchical grouping: the initial regions are Felzenszwalb & Huttenlocher's graph-based segmentation
  (``skimage.segmentation.felzenszwalb``, threshold ``k``, ``sigma`` 0.8, minimum size ``k`` as in the authors'
  code). The two most similar neighbouring regions are merged, their similarities to their neighbours
  recomputed, until a single region covers the image; every region of the hierarchy, the initial ones included,
  gives its bounding box as a proposal.
- Diversification strategies: similarity ``s = a1 s_colour + a2 s_texture + a3 s_size + a4 s_fill`` (each ``a`` 0 or 1):
  colour — histogram intersection of 25-bin-per-channel colour histograms (75 values, L1-normalised);
  texture — histogram intersection of gradient-orientation histograms: Gaussian derivatives (sigma 1) of each
  channel in 8 orientations, 10 bins each (240 values, L1-normalised); size — ``1 - (|ri| + |rj|) / |image|``,
  which merges small regions first; fill — ``1 - (|BB_ij| - |ri| - |rj|) / |image|``, how well the two regions
  fit into each other. A merged region's histograms are the size-weighted mean of its parts'.
- Combining locations: each hierarchy's regions are numbered from the top (``i = 1``, the whole image)
  down in the reverse order of creation, given the value ``RND × i`` (RND uniform in [0, 1], drawn from a
  seeded generator, so proposals are deterministic), and all hierarchies' boxes are sorted by it; duplicate
  boxes are removed after sorting, keeping the best-ranked copy.
- "Selective Search Fast", the paper's setting for object detection: colour spaces HSV and Lab, ``k`` = 50 and
  100, similarities C+T+S+F and T+S+F — 8 hierarchies (the defaults here; OpenCV's
  ``switchToSelectiveSearchFast`` takes the same colour spaces and similarities with k = 150, 300, 450, and
  ranks small regions first).

Deviations: a colour image is segmented by ``felzenszwalb`` once on its three channels
together (Euclidean colour distance) rather than per channel; the colour spaces are computed with 8-bit ranges
like OpenCV's (HSV hue 0..255 here); the texture responses are rectified (positive part; the negative part is the
opposite orientation) and binned over ``[0, the image's largest response]``; an image whose longer side exceeds
``max_side`` is searched at that size, with ``k`` and the minimum region size scaled by the ratio of the pixel
counts — Felzenszwalb's threshold ``k / |C|`` counts pixels, so regions keep the size they would have at full
resolution — and its boxes are scaled back.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

COLOUR_BINS = 25
TEXTURE_BINS = 10
ORIENTATIONS = 8
STRATEGIES = {  # name -> (colour, texture, size, fill) weights
    "CTSF": (1, 1, 1, 1),
    "TSF": (0, 1, 1, 1),
    "C": (1, 0, 0, 0),
    "T": (0, 1, 0, 0),
    "S": (0, 0, 1, 0),
    "F": (0, 0, 0, 1),
    "CSF": (1, 0, 1, 1),
    "CTS": (1, 1, 1, 0),
}
FAST = {"colour_spaces": ("hsv", "lab"), "ks": (50, 100), "strategies": ("CTSF", "TSF"), "sigma": 0.8}


def selective_search(
    image: np.ndarray,
    *,
    colour_spaces: tuple[str, ...] = FAST["colour_spaces"],
    ks: tuple[int, ...] = FAST["ks"],
    strategies: tuple[str, ...] = FAST["strategies"],
    sigma: float = FAST["sigma"],
    max_side: int | None = None,
    top: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Proposals for an RGB ``uint8 (H, W, 3)`` image: ``float32 (N, 4)`` boxes ``x1, y1, x2, y2`` in pixels.

    Ranked best first and without duplicates; ``top`` keeps the first N. A box spans whole pixels: a region whose
    pixels run from column 3 to column 7 has ``x1 = 3, x2 = 8``. ``max_side`` caps the resolution the search runs
    at (its cost grows with the pixel count); ``seed`` seeds the ranking's random numbers, so the same image and
    arguments give the same boxes.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"selective_search takes an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    for name in strategies:
        if name not in STRATEGIES:
            raise ValueError(f"unknown similarity strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    height, width = image.shape[:2]
    scale = 1.0
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
    if scale != 1.0:
        image = _resize(image, max(1, round(height * scale)), max(1, round(width * scale)))
    rng = np.random.default_rng(seed)
    boxes, values = [], []
    for space in colour_spaces:
        converted = to_colour_space(image, space)
        colour_bins = _colour_bins(converted)
        texture_bins = _texture_bins(converted)
        for k in ks:
            regions = _initial_regions(converted, colour_bins, texture_bins, k * scale**2, sigma)
            for name in strategies:
                hierarchy = _group(regions, STRATEGIES[name])
                boxes.append(hierarchy)
                values.append(rng.random(len(hierarchy)) * np.arange(len(hierarchy), 0, -1))
    boxes_all = np.concatenate(boxes)
    order = np.argsort(np.concatenate(values), kind="stable")
    ranked = boxes_all[order]
    _, first = np.unique(ranked, axis=0, return_index=True)
    ranked = ranked[np.sort(first)]
    if top is not None:
        ranked = ranked[:top]
    if scale != 1.0:
        ranked = ranked / scale
        ranked = np.minimum(ranked, [width, height, width, height])
    return ranked.astype(np.float32)


def to_colour_space(image: np.ndarray, space: str) -> np.ndarray:
    """An RGB uint8 image in ``space`` ("rgb", "hsv", "lab"), every channel on the 8-bit range 0..255.

    HSV as in ``skimage.color.rgb2hsv`` and Lab (D65) as in ``skimage.color.rgb2lab``, scaled like OpenCV's 8-bit
    conversions (H, S, V, L × 255 / their range; a and b + 128), computed here in float32 for speed.
    """
    if space == "rgb":
        return image
    rgb = image.astype(np.float32)
    if space == "hsv":
        top, bottom = rgb.max(axis=2), rgb.min(axis=2)
        spread = top - bottom
        safe = np.where(spread > 0, spread, 1)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        hue = np.where(top == r, (g - b) / safe, np.where(top == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
        hue = np.where(spread > 0, (hue / 6) % 1, 0)
        saturation = np.where(top > 0, spread / np.where(top > 0, top, 1), 0)
        out = np.stack([hue * 255, saturation * 255, top], axis=2)
    elif space == "lab":
        linear = _SRGB_TO_LINEAR[image]  # (H, W, 3) float32
        xyz = linear @ _RGB_TO_XYZ_D65.T
        t = xyz / _D65_WHITE
        f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
        out = np.stack(
            [
                (116 * f[..., 1] - 16) * (255 / 100),
                500 * (f[..., 0] - f[..., 1]) + 128,
                200 * (f[..., 1] - f[..., 2]) + 128,
            ],
            axis=2,
        )
    else:
        raise ValueError(f"unknown colour space {space!r}; choose rgb, hsv or lab")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


_levels = np.arange(256, dtype=np.float64) / 255
_SRGB_TO_LINEAR = np.where(_levels > 0.04045, ((_levels + 0.055) / 1.055) ** 2.4, _levels / 12.92).astype(np.float32)
_RGB_TO_XYZ_D65 = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]], np.float32
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from skimage.transform import resize

    out = resize(image, (height, width), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _colour_bins(image: np.ndarray) -> np.ndarray:
    """Each pixel's colour-histogram bin in each channel, offset so the 3 channels share one 75-bin axis."""
    bins = (image.astype(np.int32) * COLOUR_BINS) >> 8  # 0..24
    return (bins + np.arange(3) * COLOUR_BINS).reshape(-1, 3)


def _texture_bins(image: np.ndarray) -> np.ndarray:
    """Each pixel's bin in each of the 3 channels × 8 orientations, offset onto one 240-bin axis: ``(H*W, 24)``."""
    from scipy import ndimage

    bins = np.empty((image.shape[0] * image.shape[1], 3 * ORIENTATIONS), np.int32)
    column = 0
    for channel in range(3):
        plane = image[..., channel].astype(np.float32)
        dy = ndimage.gaussian_filter(plane, 1.0, order=(1, 0)).ravel()
        dx = ndimage.gaussian_filter(plane, 1.0, order=(0, 1)).ravel()
        for angle in np.arange(ORIENTATIONS // 2) * np.pi / (ORIENTATIONS // 2):
            response = np.cos(angle) * dx + np.sin(angle) * dy
            for rectified in (np.maximum(response, 0), np.maximum(-response, 0)):  # the two opposite orientations
                top = rectified.max()
                scaled = rectified * (TEXTURE_BINS / top) if top > 0 else rectified
                bins[:, column] = np.minimum(scaled.astype(np.int32), TEXTURE_BINS - 1) + column * TEXTURE_BINS
                column += 1
    return bins


@dataclass
class _Regions:
    """The initial regions of one segmentation: histograms, sizes, boxes and adjacency."""

    colour: np.ndarray  # (n, 75) L1-normalised
    texture: np.ndarray  # (n, 240) L1-normalised
    size: np.ndarray  # (n,) pixels
    box: np.ndarray  # (n, 4) x1, y1, x2, y2 (x2, y2 exclusive)
    pairs: np.ndarray  # (m, 2) neighbouring region pairs, a < b
    image_size: int


def _initial_regions(
    image: np.ndarray, colour_bins: np.ndarray, texture_bins: np.ndarray, k: float, sigma: float
) -> _Regions:
    from scipy import ndimage
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(image, scale=k, sigma=sigma, min_size=max(1, round(k)))  # labels 0..n-1
    n = int(labels.max()) + 1
    flat = labels.reshape(-1)
    size = np.bincount(flat, minlength=n).astype(np.float64)
    if not size.all():  # make the labels consecutive
        _, flat = np.unique(flat, return_inverse=True)
        labels = flat.reshape(labels.shape)
        n = int(flat.max()) + 1
        size = np.bincount(flat, minlength=n).astype(np.float64)
    colour = np.bincount((flat[:, None] * (3 * COLOUR_BINS) + colour_bins).ravel(), minlength=n * 3 * COLOUR_BINS)
    width = texture_bins.shape[1] * TEXTURE_BINS
    texture = np.bincount((flat[:, None] * width + texture_bins).ravel(), minlength=n * width)
    box = np.array([(c.start, r.start, c.stop, r.stop) for r, c in ndimage.find_objects(labels + 1)], np.float64)
    return _Regions(
        colour=(colour.reshape(n, -1) / size[:, None] / 3).astype(np.float32),
        texture=(texture.reshape(n, -1) / size[:, None] / texture_bins.shape[1]).astype(np.float32),
        size=size,
        box=box,
        pairs=_neighbours(labels, n),
        image_size=labels.size,
    )


def _neighbours(labels: np.ndarray, n: int) -> np.ndarray:
    """Pairs of regions that touch (8-connectivity), each once, as ``(a, b)`` with ``a < b``."""
    touching = [
        (labels[:, :-1], labels[:, 1:]),
        (labels[:-1, :], labels[1:, :]),
        (labels[:-1, :-1], labels[1:, 1:]),
        (labels[:-1, 1:], labels[1:, :-1]),
    ]
    a = np.concatenate([x.reshape(-1) for x, _ in touching])
    b = np.concatenate([y.reshape(-1) for _, y in touching])
    differ = a != b
    a, b = a[differ], b[differ]
    keys = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    return np.stack([keys // n, keys % n], axis=1)


def _group(regions: _Regions, weights: tuple[int, int, int, int]) -> np.ndarray:
    """Merge the most similar neighbours until one region is left; every region's box, in order of creation."""
    n = len(regions.size)
    total = 2 * n - 1
    use_colour, use_texture, use_size, use_fill = weights
    colour = np.zeros((total, regions.colour.shape[1]), np.float32)
    texture = np.zeros((total, regions.texture.shape[1]), np.float32)
    size = np.zeros(total)
    box = np.zeros((total, 4))
    colour[:n], texture[:n], size[:n], box[:n] = regions.colour, regions.texture, regions.size, regions.box
    image_size = float(regions.image_size)

    def similarity(i: int | np.ndarray, j: np.ndarray) -> np.ndarray:
        s = np.zeros(len(j))
        if use_colour:
            s += np.minimum(colour[i], colour[j]).sum(axis=-1)
        if use_texture:
            s += np.minimum(texture[i], texture[j]).sum(axis=-1)
        if use_size:
            s += 1.0 - (size[i] + size[j]) / image_size
        if use_fill:
            x1 = np.minimum(box[i, 0], box[j, 0])
            y1 = np.minimum(box[i, 1], box[j, 1])
            x2 = np.maximum(box[i, 2], box[j, 2])
            y2 = np.maximum(box[i, 3], box[j, 3])
            s += 1.0 - ((x2 - x1) * (y2 - y1) - size[i] - size[j]) / image_size
        return s

    a, b = regions.pairs[:, 0], regions.pairs[:, 1]
    heap = list(zip((-similarity(a, b)).tolist(), a.tolist(), b.tolist()))
    heapq.heapify(heap)
    neighbours: list[set[int]] = [set() for _ in range(total)]
    for i, j in regions.pairs.tolist():
        neighbours[i].add(j)
        neighbours[j].add(i)
    alive = np.zeros(total, bool)
    alive[:n] = True
    new = n
    while heap:
        _, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]):
            continue  # a stale pair: one of the two was merged already
        si, sj = size[i], size[j]
        size[new] = si + sj
        colour[new] = (si * colour[i] + sj * colour[j]) / size[new]
        texture[new] = (si * texture[i] + sj * texture[j]) / size[new]
        box[new, :2] = np.minimum(box[i, :2], box[j, :2])
        box[new, 2:] = np.maximum(box[i, 2:], box[j, 2:])
        alive[i] = alive[j] = False
        alive[new] = True
        around = (neighbours[i] | neighbours[j]) - {i, j}
        for other in around:
            neighbours[other] -= {i, j}
            neighbours[other].add(new)
        neighbours[new] = around
        if around:
            others = np.fromiter(around, np.int64, len(around))
            for s, other in zip((-similarity(new, others)).tolist(), others.tolist()):
                heapq.heappush(heap, (s, other, new))
        new += 1
    return box[:new]
