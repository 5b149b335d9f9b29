"""The K-shot rule of TFA / FsDet: a balanced sample of a dataset with exactly K annotated instances per class.

Images are visited in an order drawn from the seed; an image is taken when it adds an instance of a class still
under K and pushes no class over K, and skipped otherwise (an image without boxes adds nothing and is skipped too).
The walk stops once every class has K. Crowd / difficult regions are not instances: they travel with their image and
count for nothing. With several objects per image a walk can get stuck (every image left that has the missing class
would push another past K): the walk is then drawn again in an order from ``(seed, attempt)``, up to 100 times, so
one seed still names one sample. A class with fewer than K instances in the whole dataset is a one-line error naming
the class and its count; a dataset where no walk reaches K is an error that says so.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace

import numpy as np

from zoo.data import Dataset, ImageRecord
from zoo.errors import ZooError

ATTEMPTS = 100


def instance_counts(record: ImageRecord) -> Counter[int]:
    """Category id -> annotated (non-crowd) instances in one image."""
    return Counter(int(c) for c, crowd in zip(record.category_ids, record.iscrowd) if not crowd)


def k_shot_ids(dataset: Dataset, shots: int, seed: int) -> list[int]:
    """The image ids of the K-shot sample of ``dataset`` for ``seed``, in the order they were drawn."""
    if shots < 1:
        raise ZooError(f"--shots {shots}: give 1 or more instances per class")
    totals: Counter[int] = Counter()
    for record in dataset.images:
        totals.update(instance_counts(record))
    for category in dataset.categories:
        if totals[category.id] < shots:
            raise ZooError(
                f"--shots {shots}: class {category.name!r} of {dataset.name} has only {totals[category.id]} "
                f"instance(s); give at most {totals[category.id]} shots or a larger dataset"
            )
    for attempt in range(ATTEMPTS):
        order = np.random.default_rng(seed if attempt == 0 else [seed, attempt]).permutation(len(dataset.images))
        chosen, have = _walk(dataset, order, shots)
        if chosen is not None:
            return chosen
    short = next(c for c in dataset.categories if have[c.id] < shots)
    raise ZooError(
        f"--shots {shots}, seed {seed}: the K-shot rule reached only {have[short.id]} instance(s) of {short.name!r} "
        f"in {dataset.name} in {ATTEMPTS} orders (each image left with one would push a class past {shots}); give "
        "fewer shots or a larger dataset"
    )


def _walk(dataset: Dataset, order: np.ndarray, shots: int) -> tuple[list[int] | None, Counter[int]]:
    """One walk in ``order``: the image ids taken (None when it got stuck) and the instances reached per class."""
    have: Counter[int] = Counter()
    wanted = {category.id for category in dataset.categories}
    chosen: list[int] = []
    for index in order:
        record = dataset.images[int(index)]
        counts = instance_counts(record)
        helps = any(have[c] < shots for c in counts if c in wanted)
        if not helps or any(have[c] + n > shots for c, n in counts.items()):
            continue
        have.update(counts)
        chosen.append(record.id)
        if all(have[c] == shots for c in wanted):
            return chosen, have
    return None, have


def subset(dataset: Dataset, image_ids: list[int], label: str) -> Dataset:
    """The dataset restricted to ``image_ids`` (in the dataset's order), named ``NAME LABEL``, its fingerprint that of
    the whole and the ids (so two samples of the same images share one)."""
    keep = set(image_ids)
    images = [record for record in dataset.images if record.id in keep]
    digest = hashlib.sha256(f"{dataset.fingerprint}:{sorted(keep)}".encode()).hexdigest()[:16]
    return replace(dataset, name=f"{dataset.name} {label}", images=images, fingerprint=digest)
