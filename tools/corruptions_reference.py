"""Compare the corruption library zoo uses (imagecorruptions-imaug) with the benchmark authors' reference package
(imagecorruptions 1.1.2, which no longer imports on today's stack), image for image, at every severity.

    pip download --no-deps imagecorruptions==1.1.2 -d /tmp/ref && unzip -q /tmp/ref/*.whl -d /tmp/ref/pkg
    python -m tools.corruptions_reference /tmp/ref/pkg

The reference is imported with its three dead calls patched here, and nowhere else: ``pkg_resources`` (gone from
setuptools 80), scikit-image's ``multichannel=`` (now ``channel_axis=``) and ``np.float_`` (gone in NumPy 2). Both
packages get the same image and the same numpy seed; the table gives the largest pixel difference and the mean
change from the clean image (reference / fork) per severity. A maintainer script: not part of the installed package.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import types

import numpy as np
import skimage.data
import skimage.filters


def reference(folder: str) -> types.ModuleType:
    """imagecorruptions 1.1.2 from ``folder`` (an unpacked wheel), with its dead calls patched."""
    shim = types.ModuleType("pkg_resources")
    shim.resource_filename = lambda name, rel: os.path.join(folder, "imagecorruptions", rel)  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    gaussian = skimage.filters.gaussian

    def old_gaussian(image, *args, multichannel=None, **kwargs):
        if multichannel:
            kwargs["channel_axis"] = -1
        return gaussian(image, *args, **kwargs)

    skimage.filters.gaussian = old_gaussian
    np.float_ = np.float64  # type: ignore[attr-defined]
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.startswith("imagecorruptions")}
    sys.path.insert(0, folder)
    try:
        module = importlib.import_module("imagecorruptions")
    finally:
        sys.path.remove(folder)
        for name in [n for n in sys.modules if n.startswith("imagecorruptions")]:
            sys.modules[f"reference_{name}"] = sys.modules.pop(name)
        sys.modules.update(saved)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the unpacked imagecorruptions-1.1.2 wheel")
    ref = reference(parser.parse_args().folder)
    import imagecorruptions as fork

    images = [skimage.data.astronaut()[::4, ::4], skimage.data.coffee()[::4, ::4], skimage.data.chelsea()[::3, ::3]]
    print("| corruption | largest pixel difference, severity 1..5 | mean change from clean, reference / fork |")
    print("|---|---|---|")
    for name in fork.get_corruption_names():
        largest, changes = [], []
        for severity in range(1, 6):
            worst, ref_change, fork_change = 0, [], []
            for seed, image in enumerate(images):
                np.random.seed(seed)
                a = ref.corrupt(image, severity=severity, corruption_name=name).astype(float)
                np.random.seed(seed)
                b = fork.corrupt(image, severity=severity, corruption_name=name).astype(float)
                worst = max(worst, int(np.abs(a - b).max()))
                ref_change.append(np.abs(a - image).mean())
                fork_change.append(np.abs(b - image).mean())
            largest.append(str(worst))
            changes.append(f"{np.mean(ref_change):.1f}/{np.mean(fork_change):.1f}")
        print(f"| {name} | {', '.join(largest)} | {' '.join(changes)} |")


if __name__ == "__main__":
    main()
