"""The bad-input matrix: every malformed dataset, registry and command line the suite can think of gets a clean
one-line error (exit status 2) or a counted warning — never a traceback. The README states the count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SMALL_SHAPES, save_formats
from tests.test_run import FAST, run_zoo
from zoo.data import load_dataset


def _coco(tmp: Path, change) -> list[str]:
    """The small shapes set as COCO, with ``change(data, folder)`` applied to its JSON."""
    paths = save_formats(load_dataset(SMALL_SHAPES), tmp)
    data = json.loads(paths["coco"].read_text())
    change(data, tmp)
    paths["coco"].write_text(json.dumps(data))
    return ["--data", str(paths["coco"])]


def _coco_text(tmp: Path, text: str) -> list[str]:
    paths = save_formats(load_dataset(SMALL_SHAPES), tmp)
    paths["coco"].write_text(text)
    return ["--data", str(paths["coco"])]


def _yolo(tmp: Path, change) -> list[str]:
    paths = save_formats(load_dataset(SMALL_SHAPES), tmp)
    change(paths["yolo"], tmp)
    return ["--data", str(paths["yolo"])]


def _voc(tmp: Path, change) -> list[str]:
    paths = save_formats(load_dataset(SMALL_SHAPES), tmp)
    change(paths["voc"], tmp)
    return ["--data", str(paths["voc"])]


def _registry(tmp: Path, text: str) -> list[str]:
    (tmp / "registry.yaml").write_text(text)
    return ["--registry", str(tmp / "registry.yaml")]


def _scaffolds(tmp: Path) -> list[str]:
    """A folder holding a plugin package as ``zoo plugin new`` writes it: zoo-mine/{pyproject.toml, zoo_mine/}."""
    (tmp / "zoo-mine" / "zoo_mine").mkdir(parents=True)
    (tmp / "zoo-mine" / "pyproject.toml").write_text("[project]\nname = 'zoo-mine'\n")
    (tmp / "zoo-mine" / "zoo_mine" / "__init__.py").write_text("")
    return ["--plugins-dir", str(tmp)]


def _first_label(root: Path) -> Path:
    return sorted((root.parent / "labels" / "val").glob("*.txt"))[0]


def _first_xml(root: Path) -> Path:
    return sorted((root / "Annotations").glob("*.xml"))[0]


def _set(data: dict, key: str, value) -> None:
    data[key] = value


def _only_image_broken(data: dict, folder: Path) -> None:
    """One image left in the file, and its bytes no image."""
    data["images"] = data["images"][:1]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == data["images"][0]["id"]]
    (folder / "images" / data["images"][0]["file_name"]).write_bytes(b"\x89PNG broken")


# name -> (arguments builder, "error" message part or "warning" message part)
BAD_INPUTS = {
    # datasets: COCO
    "coco: not JSON": (lambda t: _coco_text(t, '{"images": ['), "error", "not valid JSON"),
    "coco: not an object": (lambda t: _coco_text(t, "[1, 2]"), "error", "expected a JSON object"),
    "coco: no annotations list": (
        lambda t: _coco(t, lambda d, t: d.pop("annotations")),
        "error",
        "missing the top-level list 'annotations'",
    ),
    "coco: bbox of three numbers": (
        lambda t: _coco(t, lambda d, t: _set(d["annotations"][0], "bbox", [1, 2, 3])),
        "error",
        "'bbox' must be four numbers",
    ),
    "coco: bbox of text": (
        lambda t: _coco(t, lambda d, t: _set(d["annotations"][0], "bbox", ["1", 2, 3, 4])),
        "error",
        "'bbox' must be four numbers",
    ),
    "coco: unknown category": (
        lambda t: _coco(t, lambda d, t: _set(d["annotations"][0], "category_id", 99)),
        "error",
        "category_id 99 is not in 'categories'",
    ),
    "coco: unknown image": (
        lambda t: _coco(t, lambda d, t: _set(d["annotations"][0], "image_id", 999)),
        "error",
        "image_id 999 is not in 'images'",
    ),
    "coco: image without file_name": (
        lambda t: _coco(t, lambda d, t: d["images"][0].pop("file_name")),
        "error",
        "missing 'file_name'",
    ),
    "coco: category without name": (
        lambda t: _coco(t, lambda d, t: d["categories"][0].pop("name")),
        "error",
        "missing 'name'",
    ),
    "coco: duplicate category id": (
        lambda t: _coco(t, lambda d, t: _set(d["categories"][1], "id", 1)),
        "error",
        "two categories share an id",
    ),
    "coco: images nowhere": (
        lambda t: _coco(t, lambda d, t: [_set(i, "file_name", "x/" + i["file_name"]) for i in d["images"]]),
        "error",
        "none of its images",
    ),
    "coco: no images at all": (
        lambda t: _coco(t, lambda d, t: [_set(d, "images", []), _set(d, "annotations", [])]),
        "error",
        "no usable images: the file lists none",
    ),
    "coco: its only image undecodable": (
        lambda t: _coco(t, _only_image_broken),
        "error",
        "shapes-00000.png: UnidentifiedImageError); none left to score",
    ),
    "coco: every image missing from --images": (
        lambda t: [(t / "empty").mkdir(), *_coco(t, lambda d, t: None), "--images", str(t / "empty")][1:],
        "error",
        "6 images not found (first: ",
    ),
    "coco: an undecodable image": (
        lambda t: _coco(t, lambda d, t: (t / "images" / d["images"][0]["file_name"]).write_bytes(b"\x89PNG broken")),
        "warning",
        "1 × images that could not be decoded skipped",
    ),
    "coco: a missing image": (
        lambda t: _coco(t, lambda d, t: (t / "images" / d["images"][1]["file_name"]).unlink()),
        "warning",
        "1 × images not found skipped",
    ),
    "coco: a box with no width": (
        lambda t: _coco(t, lambda d, t: _set(d["annotations"][0], "bbox", [5, 5, 0, 4])),
        "warning",
        "1 × boxes with non-positive width or height skipped",
    ),
    "coco: a box outside its image": (
        lambda t: _coco(t, lambda d, t: _set(d["annotations"][0], "bbox", [500, 5, 4, 4])),
        "warning",
        "1 × boxes entirely outside their image skipped",
    ),
    "coco: a box past the edge": (
        lambda t: _coco(t, lambda d, t: _set(d["annotations"][0], "bbox", [90, 5, 40, 4])),
        "warning",
        "1 × boxes extending past their image clipped to it",
    ),
    # datasets: YOLO
    "yolo: data.yaml not YAML": (
        lambda t: _yolo(t, lambda p, t: p.write_text("names: [a\n")),
        "error",
        "not valid YAML",
    ),
    "yolo: data.yaml a list": (lambda t: _yolo(t, lambda p, t: p.write_text("- a\n")), "error", "expected a mapping"),
    "yolo: no names": (
        lambda t: _yolo(t, lambda p, t: p.write_text("path: .\nval: images/val\n")),
        "error",
        "'names' must list the class names",
    ),
    "yolo: names with gaps": (
        lambda t: _yolo(t, lambda p, t: p.write_text("val: images/val\nnames: {0: a, 2: b}\n")),
        "error",
        "without gaps",
    ),
    "yolo: no val split": (
        lambda t: _yolo(t, lambda p, t: p.write_text("train: images/val\nnames: [a]\n")),
        "error",
        "no 'val' split",
    ),
    "yolo: split folder missing": (
        lambda t: _yolo(t, lambda p, t: p.write_text("val: images/nope\nnames: [a]\n")),
        "error",
        "split folder or list",
    ),
    "yolo: label line with text": (
        lambda t: _yolo(t, lambda p, t: _first_label(p).write_text("0 a b c d\n")),
        "error",
        "not a YOLO label line",
    ),
    "yolo: label line too short": (
        lambda t: _yolo(t, lambda p, t: _first_label(p).write_text("0 0.5 0.5\n")),
        "error",
        "not a YOLO label line",
    ),
    "yolo: class out of range": (
        lambda t: _yolo(t, lambda p, t: _first_label(p).write_text("9 .5 .5 .1 .1\n")),
        "error",
        "class 9 is not in data.yaml's names",
    ),
    "yolo: an undecodable image": (
        lambda t: _yolo(t, lambda p, t: sorted((p.parent / "images" / "val").iterdir())[0].write_bytes(b"GIF89a")),
        "warning",
        "1 × images that could not be decoded skipped",
    ),
    "yolo: every image undecodable": (
        lambda t: _yolo(t, lambda p, t: [f.write_bytes(b"GIF89a") for f in (p.parent / "images" / "val").iterdir()]),
        "error",
        "6 images could not be decoded (first: ",
    ),
    "yolo: a zero-size box": (
        lambda t: _yolo(t, lambda p, t: _first_label(p).write_text("0 .5 .5 0 .1\n")),
        "warning",
        "1 × boxes with non-positive width or height skipped",
    ),
    # datasets: Pascal VOC
    "voc: not XML": (
        lambda t: _voc(t, lambda p, t: _first_xml(p).write_text("<annotation><object>")),
        "error",
        "not valid XML",
    ),
    "voc: wrong root": (
        lambda t: _voc(t, lambda p, t: _first_xml(p).write_text("<doc/>")),
        "error",
        "root element is <doc>",
    ),
    "voc: coordinate not a number": (
        lambda t: _voc(
            t, lambda p, t: _first_xml(p).write_text(_first_xml(p).read_text().replace("<xmin>", "<xmin>x", 1))
        ),
        "error",
        "xmin",
    ),
    "voc: object without bndbox": (
        lambda t: _voc(
            t,
            lambda p, t: _first_xml(p).write_text(
                "<annotation><filename>shapes-00000.png</filename><object><name>a</name></object></annotation>"
            ),
        ),
        "error",
        "bndbox",
    ),
    "voc: split file missing": (
        lambda t: _voc(t, lambda p, t: (p / "ImageSets" / "Main").mkdir(parents=True)),
        "error",
        "no such split",
    ),
    "voc: split lists a missing file": (
        lambda t: _voc(
            t,
            lambda p, t: [
                (p / "ImageSets" / "Main").mkdir(parents=True),
                (p / "ImageSets" / "Main" / "val.txt").write_text("nope\n"),
            ],
        ),
        "error",
        "listed in ImageSets but missing",
    ),
    "voc: an undecodable image": (
        lambda t: _voc(
            t, lambda p, t: sorted((p / "JPEGImages").iterdir())[0].write_bytes(b"\xff\xd8\xff broken jpeg")
        ),
        "warning",
        "1 × images that could not be decoded skipped",
    ),
    "voc: every image missing": (
        lambda t: _voc(t, lambda p, t: [f.unlink() for f in (p / "JPEGImages").iterdir()]),
        "error",
        "none left to score; check the paths or pass --images DIR",
    ),
    # datasets: anything else
    "data: no such path": (lambda t: ["--data", str(t / "nowhere.json")], "error", "no such file or folder"),
    "data: unknown format": (
        lambda t: [(t / "d").mkdir(), "--data", str(t / "d")][1:],
        "error",
        "format not recognised",
    ),
    "data: bad shapes option": (lambda t: ["--data", "shapes:count=many"], "error", "bad option 'count=many'"),
    "data: --images not a folder": (
        lambda t: _coco(t, lambda d, t: None) + ["--images", str(t / "no")],
        "error",
        "--images",
    ),
    # registry.yaml
    "registry: not YAML": (lambda t: _registry(t, "models:\n  a: [\n"), "error", "not valid YAML"),
    "registry: no models": (lambda t: _registry(t, "model:\n  a: {}\n"), "error", "top-level 'models:' mapping"),
    "registry: unknown key": (
        lambda t: _registry(t, "models:\n  a:\n    wieghts: x\n"),
        "error",
        "unknown key 'wieghts'",
    ),
    "registry: options not a mapping": (
        lambda t: _registry(t, "models:\n  a:\n    options: 3\n"),
        "error",
        "'options' must be a mapping",
    ),
    "registry: bad id": (lambda t: _registry(t, "models:\n  'a b':\n    notes: x\n"), "error", "ids may hold only"),
    "registry: entry not a mapping": (lambda t: _registry(t, "models:\n  a: [1]\n"), "error", "expected a mapping"),
    "registry: weights not text": (
        lambda t: _registry(t, "models:\n  a:\n    weights: [1]\n"),
        "error",
        "'weights' must be text",
    ),
    "registry: missing file": (lambda t: ["--registry", str(t / "none.yaml")], "error", "registry not found"),
    # the command line
    "cli: unknown model": (lambda t: ["--models", "yolov9000"], "error", "unknown model id"),
    "cli: unknown family": (lambda t: ["--models", "family:nope"], "error", "no model of family 'nope'"),
    "cli: pattern matches nothing": (lambda t: ["--models", "zzz*"], "error", "matches no model id"),
    "cli: empty --models": (lambda t: ["--models", ","], "error", "--models is empty"),
    "cli: --limit 0": (lambda t: ["--limit", "0"], "error", "--limit 0"),
    "cli: --iters 0": (lambda t: ["--iters", "0"], "error", "--iters 0"),
    "cli: --warmup -1": (lambda t: ["--warmup", "-1"], "error", "--warmup -1"),
    "cli: --iou-conf 2": (lambda t: ["--iou-conf", "2"], "error", "--iou-conf 2.0"),
    "cli: --imgsz 8": (lambda t: ["--imgsz", "8"], "error", "--imgsz 8"),
    "cli: --memory-limit -1": (lambda t: ["--memory-limit", "-1"], "error", "--memory-limit -1"),
    "cli: --device tpu": (lambda t: ["--device", "tpu"], "error", "unknown device"),
    "cli: --device cuda:9": (lambda t: ["--device", "cuda:9"], "error", "--device cuda:9"),
    "cli: --weights without =": (lambda t: ["--weights", "x.pth"], "error", "expected ID=PATH"),
    "cli: --weights unknown id": (lambda t: ["--weights", "nope=x.pth"], "error", "unknown model id 'nope'"),
    "cli: --plugins-dir a file": (
        lambda t: [(t / "mine.py").write_text(""), "--plugins-dir", str(t / "mine.py")][1:],
        "warning",
        "not a folder of plugins: pass the folder that holds it, --plugins-dir ",
    ),
    "cli: --plugins-dir above a scaffold": (_scaffolds, "warning", "one level below the folder given: pass --plugins"),
    "cli: --out is a file": (
        lambda t: [(t / "f").write_text(""), "--out", str(t / "f")][1:],
        "error",
        "exists and is not a folder",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_one_line_error_or_a_counted_warning(tmp_path, case):
    build, kind, message = BAD_INPUTS[case]
    args = build(tmp_path)
    defaults = {"--models": "reference-blobs", "--data": SMALL_SHAPES, "--out": str(tmp_path / "run")}
    for option, value in defaults.items():
        if option not in args:
            args += [option, value]
    code, _, stderr = run_zoo("run", "--no-isolation", *FAST, *args)
    assert "Traceback" not in stderr
    if kind == "error":
        assert code == 2, stderr
        assert stderr.startswith("zoo: error: ") and stderr.count("\n") == 1, stderr
        assert message in stderr, stderr
    else:
        assert code == 0, stderr
        assert "zoo: warning: " in stderr and message in stderr, stderr


OTHER_COMMANDS = {
    "report: missing folder": (["report", "/no/such/run"], "no results.json here"),
    "report: corrupt results.json": (["report", "{bad}"], "not valid JSON"),
    "models: missing registry": (["models", "--registry", "/no/registry.yaml"], "registry not found"),
    "pull: unknown benchmark": (["pull", "--data", "coco2017"], "not a benchmark zoo can fetch; the benchmarks: coco"),
    "run: benchmark offline": (["run", "--data", "voc2007-test", "--offline"], "`zoo pull --data voc2007-test`"),
}


@pytest.mark.parametrize("case", list(OTHER_COMMANDS))
def test_other_commands_refuse_bad_input_in_one_line(tmp_path, case):
    args, message = OTHER_COMMANDS[case]
    if args[1] == "{bad}":
        (tmp_path / "results.json").write_text("{")
        args = ["report", str(tmp_path)]
    code, _, stderr = run_zoo(*args)
    assert code == 2 and stderr.startswith("zoo: error: ") and message in stderr and stderr.count("\n") == 1
