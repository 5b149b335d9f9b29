"""Named benchmarks, fetched on first use: ``--data coco-val2017`` and ``--data voc2007-test`` (``zoo run``), and
``--data mot17`` (``zoo track``: MOT17's train split, the FRCNN copy of each sequence).

Each benchmark is the official archives (URL, size and the checksums their publishers or several independent
mirrors give), the members of each archive zoo needs, and the layout they unpack to. They are fetched with the same
machinery as the weights (progress, checksums, a part file moved into place when verified, resume, the mirror,
``--offline``), unpacked into a hidden part folder that is moved into place only when complete, and kept under
``$ZOO_HOME/data/NAME`` (``DIR/data/NAME`` with ``--weights-dir DIR``). The archives are deleted once unpacked; a
``.zoo-benchmark.json`` in the folder lists every file and its size, so a file lost or cut later is noticed.

An archive whose publisher gives no checksum and no size (MOT17.zip) is checked as far as it can be: the zip's own
CRCs of every member kept, and the files the benchmark must hold (``expect``); its sha256 is then pinned in
zoo's pins (`zoo.fetch.pins`, where the weights without a published digest are pinned too), and every later
download of it is checked against that digest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.data import coco, voc
from zoo.data.dataset import Dataset, Track, no_progress
from zoo.errors import ZooError
from zoo.fetch import Outcome, Progress, RemoteFile, config, ensure, pins
from zoo.fetch.integrity import digest
from zoo.files import atomic_write, to_json

MARKER = ".zoo-benchmark.json"
DOWNLOADS = ".downloads"
MOT17_TRAIN = ("MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09", "MOT17-10", "MOT17-11", "MOT17-13")


@dataclass(frozen=True)
class Archive:
    """One official archive and the members of it zoo keeps (path prefixes inside the archive)."""

    url: str
    size: int | None  # None: not published, not checked
    md5: str | None
    members: tuple[str, ...]
    sha256: str | None = None
    size_estimate: int | None = None  # shown only, when the exact size is not published
    pinned: bool = False  # no published checksum: its sha256 is pinned at the first good download (`zoo.fetch.pins`)

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def remote(self, folder: Path, pin: str | None = None) -> RemoteFile:
        """The archive as a file to fetch into ``folder``; ``pin``: the sha256 an earlier download pinned."""
        return RemoteFile(
            self.url, folder / self.name, sha256=self.sha256 or pin, md5=self.md5, size=self.size,
            size_estimate=self.size_estimate,
        )  # fmt: skip

    def size_text(self) -> str:
        if self.size is not None:
            return _mib(self.size)
        return f"about {_mib(self.size_estimate or 0)}, size not published"


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    format: str  # "coco" or "voc": which reader reads it
    data: str  # what the reader is given, relative to the benchmark's folder
    images: int  # images in the whole split
    archives: tuple[Archive, ...]
    licence: str
    citation: str
    homepage: str
    split: str = "val"  # for VOC: the ImageSets/Main list
    expect: tuple[str, ...] = ()  # files the unpacked benchmark must hold (checked before it is moved into place)
    checks: str = ""  # what is verified, said before the download when it is not the published checksums

    @property
    def download_bytes(self) -> int:
        return sum(archive.size or archive.size_estimate or 0 for archive in self.archives)

    def folder(self) -> Path:
        return config.data_dir() / self.name

    def describe(self, limit: int | None) -> dict[str, Any]:
        """What a run records about the benchmark; ``limit``: the run's ``--limit`` (a subset when under the size)."""
        subset = f"the first {limit} image ids of {self.images}" if limit is not None and limit < self.images else None
        return {
            "name": self.name,
            "title": self.title,
            "images": self.images,
            "subset": subset,
            "licence": self.licence,
            "citation": self.citation,
            "homepage": self.homepage,
        }


BENCHMARKS: dict[str, Benchmark] = {
    "coco-val2017": Benchmark(
        name="coco-val2017",
        title="COCO 2017 validation (5,000 images, 80 categories, instances_val2017.json)",
        format="coco",
        data="annotations/instances_val2017.json",
        images=5000,
        archives=(
            Archive(
                "http://images.cocodataset.org/zips/val2017.zip",
                815_585_330,
                "442b8da7639aecaf257c1dceb8ba8c80",
                ("val2017/",),
                sha256="4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05",
            ),
            Archive(
                "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
                252_907_541,
                "f4bbac642086de4f52a3fdda2de5fa2c",
                ("annotations/instances_val2017.json",),
                sha256="113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268",
            ),
        ),
        licence="annotations CC-BY-4.0; images under their Flickr licences (cocodataset.org/#termsofuse)",
        citation="Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014",
        homepage="https://cocodataset.org",
    ),
    "voc2007-test": Benchmark(
        name="voc2007-test",
        title="PASCAL VOC 2007 test (4,952 images, 20 classes)",
        format="voc",
        data="VOCdevkit/VOC2007",
        images=4952,
        split="test",
        archives=(
            Archive(
                "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar",
                451_020_800,
                "b6e924de25625d8de591ea690078ad9f",
                (
                    "VOCdevkit/VOC2007/Annotations/",
                    "VOCdevkit/VOC2007/JPEGImages/",
                    "VOCdevkit/VOC2007/ImageSets/Main/test.txt",
                ),
            ),
        ),
        licence="images under the flickr terms of use; annotations for research use (host.robots.ox.ac.uk/pascal/VOC)",
        citation="Everingham et al., The PASCAL Visual Object Classes (VOC) Challenge, IJCV 88(2), 2010",
        homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2007/",
    ),
    "mot17": Benchmark(
        name="mot17",
        title="MOT17 train (7 sequences, 5,316 frames; the FRCNN copy of each: the three copies share frames and gt)",
        format="mot",
        data="MOT17/train",
        images=5316,
        archives=(
            Archive(
                "https://motchallenge.net/data/MOT17.zip",
                None,  # motchallenge.net publishes neither its size nor a checksum
                None,
                tuple(f"MOT17/train/{sequence}-FRCNN/" for sequence in MOT17_TRAIN),
                size_estimate=5_500 * 2**20,
                pinned=True,
            ),
        ),
        licence="CC BY-NC-SA 3.0 (motchallenge.net/data/MOT17)",
        citation="Milan et al., MOT16: A Benchmark for Multi-Object Tracking, arXiv:1603.00831, 2016",
        homepage="https://motchallenge.net/data/MOT17/",
        expect=tuple(
            f"MOT17/train/{sequence}-FRCNN/{name}"
            for sequence in MOT17_TRAIN
            for name in ("seqinfo.ini", "gt/gt.txt", "img1/000001.jpg")
        ),
        checks="no published checksum or size: zoo checks the zip's CRCs and that the 7 train sequences' seqinfo.ini,"
        " gt/gt.txt and frames are there, pins the archive's sha256 on the first good download (pins.json in zoo's"
        " home) and checks every later download against it",
    ),
}


def get(name: str) -> Benchmark | None:
    return BENCHMARKS.get(name)


def missing(benchmark: Benchmark) -> str | None:
    """Why the benchmark cannot be read from this machine (None when it can): not fetched, or files lost since."""
    folder = benchmark.folder()
    try:
        files = json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{benchmark.name} is not on this machine"
    for relative, size in files.items():
        path = folder / relative
        if not path.is_file() or path.stat().st_size != size:
            changed = "missing" if not path.is_file() else "changed"
            return f"{benchmark.name} at {folder} is incomplete ({path} is {changed})"
    return None


def fetch(benchmark: Benchmark, progress: Progress | None = None) -> list[Outcome]:
    """Make the benchmark present: fetch its archives (resuming what a cut transfer left), check them, unpack them.
    A `ZooError` with the cause and what to do when it cannot be done."""
    if not missing(benchmark):
        return []
    if config.offline():
        raise ZooError(offline_message(benchmark))
    downloads = config.data_dir() / DOWNLOADS
    outcomes = []
    for archive in benchmark.archives:
        pin = pins.pinned(archive.url) if archive.pinned else None
        outcome = ensure(archive.remote(downloads, pin["sha256"] if pin else None), progress)
        if not outcome.ok:
            why = f" (checked against the sha256 pinned at its first download, in {pins.location()})" if pin else ""
            raise ZooError(f"--data {benchmark.name}: could not fetch {outcome.file.name}: {outcome.detail}{why}")
        outcomes.append(outcome)
    _unpack(benchmark, [outcome.path for outcome in outcomes], progress or Progress())
    for archive, outcome in zip(benchmark.archives, outcomes):
        if archive.pinned:  # downloaded and unpacked whole: pinned now, unless an earlier download was (and matched)
            origin = f"downloaded from {archive.url}; zip CRCs and the benchmark's files checked"
            pins.pin(archive.url, archive.name, digest(outcome.path), outcome.path.stat().st_size, origin)
    for outcome in outcomes:
        outcome.path.unlink(missing_ok=True)
    return outcomes


def copy(benchmark: Benchmark, source: Path) -> None:
    """Copy the complete benchmark folder ``source`` (another machine's cache, for a bundle) into place."""
    part = _part(benchmark)
    shutil.copytree(source, part)
    _move_into_place(benchmark, part)


def offline_message(benchmark: Benchmark) -> str:
    files = " and ".join(f"{archive.name} ({archive.size_text()})" for archive in benchmark.archives)
    return (
        f"--data {benchmark.name}: not on this machine, and zoo is offline: {files} unpack into "
        f"{benchmark.folder()}. On a connected machine: `zoo pull --data {benchmark.name}` (or `zoo pull --data "
        f"{benchmark.name} --to DIR`, then --weights-dir DIR here)"
    )


def load(name: str, *, limit: int | None, track: Track = no_progress) -> Dataset:
    """Read the benchmark from its folder (`fetch` first); ``limit`` keeps the first N image ids."""
    benchmark = BENCHMARKS[name]
    if benchmark.format == "mot":
        raise ZooError(f"--data {name}: a tracking benchmark (video sequences); use it with `zoo track --data {name}`")
    problem = missing(benchmark)
    if problem and config.offline():
        raise ZooError(offline_message(benchmark))
    if problem:
        raise ZooError(f"--data {name}: {problem}; `zoo pull --data {name}` fetches it")
    path = benchmark.folder() / benchmark.data
    if benchmark.format == "coco":
        dataset = coco.load(path, images_dir=None, limit=limit, track=track)
    else:
        dataset = voc.load(path, images_dir=None, split=benchmark.split, limit=limit, track=track)
    return dataclasses.replace(dataset, name=name, source=name, benchmark=benchmark.describe(limit))


def _unpack(benchmark: Benchmark, archives: list[Path], progress: Progress) -> None:
    part = _part(benchmark)
    part.mkdir(parents=True)
    try:
        for archive, spec in zip(archives, benchmark.archives):
            _extract(archive, spec.members, part, progress)
        absent = [name for name in benchmark.expect if not (part / name).is_file()]
        if absent:
            raise ValueError(f"{absent[0]} is not in it ({len(absent)} expected file(s) missing); not the official one")
    except (OSError, zipfile.BadZipFile, tarfile.TarError, ValueError) as error:
        shutil.rmtree(part, ignore_errors=True)
        for archive in archives:
            archive.unlink(missing_ok=True)
        raise ZooError(
            f"--data {benchmark.name}: the archive could not be unpacked ({type(error).__name__}: {error}); it was "
            "deleted, run the same command again to fetch it again"
        ) from None
    _move_into_place(benchmark, part)


def _extract(archive: Path, members: tuple[str, ...], into: Path, progress: Progress) -> None:
    """The archive's files under ``members`` into ``into``; a member that would land outside it is refused."""

    def wanted(name: str) -> bool:
        return any(name == m or (m.endswith("/") and name.startswith(m)) for m in members)

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as source:
            chosen = [info for info in source.infolist() if not info.is_dir() and wanted(info.filename)]
            progress.begin(f"unpacking {archive.name}", sum(info.file_size for info in chosen))
            for info in chosen:
                target = _inside(into, info.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                with source.open(info) as data, open(target, "wb") as out:
                    shutil.copyfileobj(data, out)
                progress.advance(info.file_size)
    else:
        with tarfile.open(archive) as source:
            chosen = [member for member in source.getmembers() if member.isfile() and wanted(member.name)]
            progress.begin(f"unpacking {archive.name}", sum(member.size for member in chosen))
            for member in chosen:
                _inside(into, member.name)
                source.extract(member, into, filter="data")
                progress.advance(member.size)
    progress.end()
    if not chosen:
        raise ValueError(f"{archive.name} holds none of {', '.join(members)}; not the official archive")


def _inside(folder: Path, name: str) -> Path:
    target = (folder / name).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ValueError(f"member {name!r} would be written outside {folder}")
    return target


def _part(benchmark: Benchmark) -> Path:
    part = benchmark.folder().with_name(f".{benchmark.name}.zoo-part")
    shutil.rmtree(part, ignore_errors=True)
    part.parent.mkdir(parents=True, exist_ok=True)
    return part


def _move_into_place(benchmark: Benchmark, part: Path) -> None:
    """Record every file and its size in the marker, then replace the benchmark's folder with ``part``."""
    files = {
        path.relative_to(part).as_posix(): path.stat().st_size
        for path in sorted(part.rglob("*"))
        if path.is_file() and path.name != MARKER
    }
    record = {
        "benchmark": benchmark.name,
        "unpacked": _now(),
        "archives": [dataclasses.asdict(archive) for archive in benchmark.archives],
        "files": files,
    }
    atomic_write(part / MARKER, to_json(record))
    folder = benchmark.folder()
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(part, folder)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _mib(count: int) -> str:
    return f"{count / 2**20:.0f} MiB"
