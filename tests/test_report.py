"""The report as its reader meets it: honest rows, escaped names, merged runs, a gallery without the dataset, a page
that stands alone in its folder — and, in a real headless Chromium, a page that loads clean and sorts."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest
from PIL import Image

from tests.conftest import SMALL_SHAPES
from tests.test_run import FAST, run_zoo
from zoo.data import load_dataset
from zoo.report import charts, render
from zoo.report.gallery import THUMB_SIDE, sync_thumbnails, worst_first
from zoo.results import RunResults
from zoo.runfolder import read_results

# every place a plugin, a registry entry or a dataset puts a name into the page gets its own hostile string
CLASS = "<script>alert('class')</script>"
IMAGE = "<img src=x onerror=alert('image')>"
DATASET = "<svg onload=alert('dataset')>"
FAMILY = "<script>alert('family')</script>"
NOTES = "<script>alert('notes')</script>"
FAILURE = "<script>alert('failure')</script>"
MISSING = "<b onmouseover=alert('weights')>weights</b>"
MODEL = "<script>alert('model')</script>"
HOSTILE = (CLASS, IMAGE, DATASET, FAMILY, NOTES, FAILURE, MISSING, MODEL)

PLUGINS = f'''
import hashlib
import json
from pathlib import Path

import numpy as np

import zoo
from zoo.data.images import decode_image


class Oracle(zoo.Model):
    """Predicts the ground truth of the COCO file it is given, two pixels off on every other image."""

    name = "oracle"
    family = {FAMILY!r}
    framework = "numpy"

    def __init__(self, *, weights=None, truth=""):
        super().__init__(weights=weights)
        self.truth = Path(truth)

    def load(self, device):
        data = json.loads(self.truth.read_text())
        self.labels = [c["name"] for c in data["categories"]]
        index = {{c["id"]: i for i, c in enumerate(data["categories"])}}
        self.answers = {{}}
        for n, image in enumerate(data["images"]):
            pixels = decode_image((self.truth.parent / "images" / image["file_name"]).read_bytes())
            mine = [a for a in data["annotations"] if a["image_id"] == image["id"]]
            shift = 2.0 * (n % 2)
            boxes = [[x + shift, y, x + w + shift, y + h] for x, y, w, h in (a["bbox"] for a in mine)]
            self.answers[hashlib.sha1(pixels.tobytes()).hexdigest()] = (boxes, [index[a["category_id"]] for a in mine])

    def forward(self, batch):
        return [self.answers.get(hashlib.sha1(image.tobytes()).hexdigest(), ([], [])) for image in batch]

    def postprocess(self, outputs, images):
        return [
            zoo.Detections(np.array(b, float).reshape(-1, 4), np.full(len(b), 0.9), np.array(l, int))
            for b, l in outputs
        ]


class NeedsWeights(zoo.Model):
    name = "needs-weights"
    family = "test"
    framework = "numpy"

    def load(self, device):
        if self.weights != zoo.UNTRAINED:
            raise zoo.WeightsUnavailable({MISSING!r})
        self.labels = ["thing"]

    def forward(self, batch):
        return batch

    def postprocess(self, outputs, images):
        return [zoo.Detections.empty() for _ in images]


class Explodes(zoo.Model):
    name = "explodes"
    family = "test"

    def load(self, device):
        self.labels = ["thing"]

    def forward(self, batch):
        raise RuntimeError({FAILURE!r})


@zoo.hookimpl
def register_models(register):
    register(Oracle)
    register(NeedsWeights)
    register(Explodes)
'''


def write_hostile_coco(root: Path) -> Path:
    """The small shapes set as a COCO file whose dataset, image and class names are hostile markup."""
    dataset = load_dataset(SMALL_SHAPES)
    (root / "images").mkdir(parents=True)
    truth = dataset.coco_ground_truth()
    for image, record in zip(dataset.images, truth["images"]):
        record["file_name"] = f"{IMAGE}{image.id}.png"
        Image.fromarray(image.load()).save(root / "images" / record["file_name"])
    for category in truth["categories"]:
        if category["name"] == "circle":
            category["name"] = CLASS
    path = root / f"{DATASET}.json"
    path.write_text(json.dumps(truth))
    return path


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A real run on a dataset with hostile names: reference models, an oracle, a model without weights and one
    that fails; then one model id in results.json is made hostile too (ids cannot be, through a plugin)."""
    root = tmp_path_factory.mktemp("report")
    data = write_hostile_coco(root / "data")
    (root / "plugins").mkdir()
    (root / "plugins" / "fakes.py").write_text(PLUGINS)
    registry = root / "registry.yaml"
    registry.write_text(
        "models:\n  reference-blobs: {}\n  centre-box: {}\n"
        f"  oracle:\n    options: {{truth: {json.dumps(str(data))}}}\n    notes: {json.dumps(NOTES)}\n"
        "  needs-weights: {}\n  explodes: {}\n"
    )
    out = root / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(root / "torch-home"))
        code, _, stderr = run_zoo(
            "run",
            "--plugins-dir",
            str(root / "plugins"),
            "--registry",
            str(registry),
            "--models",
            "reference-blobs,centre-box,oracle,needs-weights,explodes",
            "--data",
            str(data),
            "--images",
            str(data.parent / "images"),
            "--out",
            str(out),
            *FAST,
        )
    assert code == 1, stderr  # "explodes" failed
    results = json.loads((out / "results.json").read_text())
    statuses = {m["id"]: m["status"] for m in results["models"]}
    assert statuses == {
        "reference-blobs": "ok",
        "centre-box": "ok",
        "oracle": "ok",
        "needs-weights": "no-weights",
        "explodes": "failed",
    }, results
    (centre,) = [m for m in results["models"] if m["id"] == "centre-box"]
    centre["id"] = MODEL
    (out / "results.json").write_text(json.dumps(results))
    code, _, stderr = run_zoo("report", str(out))
    assert code == 0, stderr
    return out


class Page(HTMLParser):
    """What a browser would make of the page: its elements, attributes and text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.script = ""
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script += data
        self.text.append(data)

    def attributes(self, name: str) -> list[str]:
        return [attrs[name] for _, attrs in self.tags if attrs.get(name)]


def page_of(folder: Path) -> tuple[str, Page]:
    html = (folder / "index.html").read_text(encoding="utf-8")
    return html, Page(html)


def rows_of(html: str, table_id: str) -> dict[str, str]:
    """Each row of a leaderboard table, by model id, as its HTML."""
    table = html.split(f'id="table-{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for chunk in table.split("<tr")[2:]:
        model = chunk.split('class="model" data-v="', 1)[1].split('"', 1)[0]
        rows[model] = chunk
    return rows


# ---------------------------------------------------------------------------------------------------- escaping


def test_hostile_names_show_as_text_and_never_as_markup(hostile_run):
    html, page = page_of(hostile_run)
    for hostile in HOSTILE:
        assert hostile not in html, f"raw markup in the page: {hostile}"
    text = "".join(page.text)
    for hostile in HOSTILE:
        assert hostile in text, f"{hostile} is not shown as text"
    assert [tag for tag, _ in page.tags].count("script") == 1, "the page's own script is its only one"
    assert not any(tag in ("img", "svg", "b") and "onerror" in attrs or "onload" in attrs for tag, attrs in page.tags)
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs), "no event handler attribute"
    assert not any(h in page.script for h in HOSTILE), "no name inside the inline script"
    svg_text = html.split('data-chart="tradeoff-mean_iou"', 1)[1].split("</svg>", 1)[0]
    assert "&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;" in svg_text, "the model's name, escaped, in the chart"
    per_class = html.split('id="table-per-class"', 1)[1].split("</table>", 1)[0]
    assert "&lt;script&gt;alert(&#39;class&#39;)&lt;/script&gt;" in per_class


# ---------------------------------------------------------------------------------------------------- honest rows


def test_failed_and_no_weights_rows_are_shown_with_their_reason_and_no_numbers(hostile_run):
    html, _ = page_of(hostile_run)
    for table in ("localization", "detection", "speed"):
        rows = rows_of(html, table)
        assert {"explodes", "needs-weights", "oracle", "reference-blobs"} <= set(rows), f"{table}: a row is missing"
        failed = rows["explodes"]
        assert 'class="badge failed">failed<' in failed
        assert "predict failed: RuntimeError: &lt;script&gt;alert(&#39;failure&#39;)" in failed
        numbers = [cell for cell in failed.split("<td")[1:] if 'class="num' in cell]
        assert numbers and all('class="num missing" data-v=""' in cell and "—" in cell for cell in numbers)
        assert all('title="failed: predict failed' in cell for cell in numbers), "each dash says why"
        no_weights = rows["needs-weights"]
        assert 'class="badge no-weights">no-weights<' in no_weights and "untrained copy" in no_weights
        assert "&lt;b onmouseover=alert(&#39;weights&#39;)&gt;weights&lt;/b&gt;" in no_weights
        cells = [cell for cell in no_weights.split("<td")[1:] if 'class="num' in cell]
        if table == "speed":
            assert 'class="num missing"' not in cells[0], "a model without weights is still timed"
        else:
            assert all('class="num missing"' in cell for cell in cells), "no accuracy without weights, never a 0"
            assert 'title="weights missing: speed measured on an untrained copy"' in cells[0]
    centre = rows_of(html, "detection")[MODEL.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")]
    assert 'title="the model predicts no classes (class-agnostic)"' in centre


def test_the_headline_names_the_best_model_of_each_board(hostile_run):
    html, _ = page_of(hostile_run)
    results = read_results(hostile_run).to_dict()
    ok = [m for m in results["models"] if m["status"] == "ok"]
    best_iou = max(ok, key=lambda m: m["accuracy"]["localization"]["mean_iou"])
    best_ap = max((m for m in ok if "coco" in m["accuracy"]), key=lambda m: m["accuracy"]["coco"]["map"])
    fastest = min(ok, key=lambda m: m["speed"]["latency_ms"]["total"]["median"])
    cards = html.split('class="cards"', 1)[1].split("</section>", 1)[0].split('class="card"')[1:]
    titles = {card.split('class="card-title">', 1)[1].split("<", 1)[0]: card for card in cards}
    assert set(titles) == {"Best localization", "Best detection", "Fastest", "Best trade-off"}
    escaped = {MODEL: "&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;"}
    assert f">{best_iou['id']}</div>" in titles["Best localization"]
    assert f">{best_ap['id']}</div>" in titles["Best detection"]
    assert f">{escaped.get(fastest['id'], fastest['id'])}</div>" in titles["Fastest"]
    assert "no weights" not in html.split('class="cards"', 1)[1].split("</section>", 1)[0], "only models with results"


# ---------------------------------------------------------------------------------------------------- pareto


def test_pareto_front_on_a_hand_made_example():
    points = [
        (10.0, 0.50),  # 0: fastest
        (20.0, 0.70),  # 1: front
        (25.0, 0.60),  # 2: beaten by 1 (slower and less accurate)
        (40.0, 0.70),  # 3: as accurate as 1, slower: beaten
        (80.0, 0.90),  # 4: most accurate
        (10.0, 0.40),  # 5: as fast as 0, less accurate: beaten
        (20.0, 0.70),  # 6: the same as 1: both stay
    ]
    assert charts.pareto_front(points) == [0, 1, 6, 4]
    assert charts.pareto_front([]) == []
    assert charts.pareto_front([(5.0, 0.1)]) == [0]
    # the knee: the front point nearest the ideal corner once both axes span 0..1 (latency on a log scale)
    assert charts.knee(points, charts.pareto_front(points)) == 1
    assert charts.knee([(1.0, 0.2), (100.0, 0.9)], [0, 1]) == 1, "a tie goes to the more accurate"


def test_the_chart_draws_the_front_through_its_points_and_puts_unscored_models_in_a_lane():
    mark = lambda name: charts.Mark(name, name, "#000", "circle")  # noqa: E731
    chart = charts.scatter_chart(
        "t",
        "AP",
        [
            (mark("fast"), 1.0, 2.0, 0.2, ""),
            (mark("slow"), 100.0, 120.0, 0.8, ""),
            (mark("beaten"), 50.0, 60.0, 0.1, ""),
            (mark("untrained"), 30.0, 40.0, None, "weights missing"),
        ],
    )
    on_front = {p.mark.label for p in chart.points if p.on_front}
    assert on_front == {"fast", "slow"}
    assert [p.mark.label for p in chart.lane] == ["untrained"] and "weights missing" in chart.lane[0].title
    fast, slow = (next(p for p in chart.points if p.mark.label == name) for name in ("fast", "slow"))
    assert chart.front_path.startswith(f"M{fast.x},{fast.y}H{slow.x}V{slow.y}")
    assert fast.x < slow.x and fast.y > slow.y, "faster is left, more accurate is up"


# ---------------------------------------------------------------------------------------------------- several runs


def test_two_runs_merge_into_one_report_written_to_out(hostile_run, tmp_path):
    a, b = tmp_path / "laptop", tmp_path / "server"
    shutil.copytree(hostile_run, a)
    shutil.copytree(hostile_run, b)
    results = json.loads((b / "results.json").read_text())
    results["context"]["hardware"]["torch_threads"] = 64
    for model in results["models"]:
        if model["speed"].get("latency_ms"):
            model["speed"]["latency_ms"]["total"]["median"] /= 10
    (b / "results.json").write_text(json.dumps(results))
    before = (a / "index.html").read_bytes()

    code, _, stderr = run_zoo("report", str(a), str(b))
    assert code == 2 and "give --out DIR" in stderr, "two runs never overwrite one run's own report"
    out = tmp_path / "both"
    code, stdout, stderr = run_zoo("report", str(a), str(b), "--out", str(out))
    assert code == 0, stderr
    assert stdout.strip() == str(out / "index.html")
    assert (a / "index.html").read_bytes() == before

    html, page = page_of(out)
    for table in ("localization", "detection", "speed"):
        body = html.split(f'id="table-{table}"', 1)[1].split("</table>", 1)[0]
        assert body.count('<td class="text" data-v="laptop">') == 5 and body.count('data-v="server">') == 5
    assert "reference-blobs · laptop" in html and "reference-blobs · server" in html
    threads = html.split("<th>torch_threads</th>", 1)[0].rsplit("<tr", 1)[1]
    assert 'class="differs"' in threads, "the setting that differs between the runs is marked"
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.columns[:2]) == ["run", "model"] and sorted(set(board["run"])) == ["laptop", "server"]
    assert len(board) == 10
    sources = [src for src in page.attributes("src")]
    assert sources and all(src.startswith("report-assets/") for src in sources), "thumbnails copied beside it"
    assert_links_resolve(out)


# ---------------------------------------------------------------------------------------------------- the folder


def assert_links_resolve(folder: Path) -> None:
    html, page = page_of(folder)
    ids = set(page.attributes("id"))
    links = page.attributes("href") + page.attributes("src")
    assert links
    for link in links:
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc, f"{link}: the page must not reach outside its folder"
        if link.startswith("#"):
            assert link[1:] in ids, f"{link}: no such anchor"
            continue
        target = (folder / unquote(parts.path)).resolve()
        assert target.is_relative_to(folder.resolve()) and target.is_file(), f"{link}: not a file in {folder}"
    assert "url(" not in html and "@import" not in html, "no stylesheet resource"


def test_every_link_and_asset_resolves_inside_the_run_folder(hostile_run, tmp_path):
    assert_links_resolve(hostile_run)
    code, _, _ = run_zoo("report", str(hostile_run), "--out", str(tmp_path / "elsewhere"))
    assert code == 0
    assert_links_resolve(tmp_path / "elsewhere")


def test_the_gallery_needs_no_dataset_and_shows_the_worst_images_first(hostile_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(hostile_run, run)
    thumbnails = sorted((run / "gallery").glob("*.jpg"))
    assert len(thumbnails) == 6, "every image of a small dataset"
    for path in thumbnails:
        with Image.open(path) as image:
            assert image.format == "JPEG" and max(image.size) <= THUMB_SIDE
    (run / "index.html").unlink()
    data, away = hostile_run.parent / "data", tmp_path / "data-away"
    data.rename(away)  # the dataset is gone while the report is built
    try:
        code, _, stderr = run_zoo("report", str(run))
    finally:
        away.rename(data)
    assert code == 0, stderr
    html, page = page_of(run)
    gallery = html.split('id="gallery"', 1)[1]
    order = [int(chunk.split(".png", 1)[0].rsplit(")&gt;", 1)[1]) for chunk in gallery.split('class="file"')[1:]]
    results = read_results(run).to_dict()
    tables = [m["accuracy"]["per_image_iou"] for m in results["models"] if m["accuracy"].get("per_image_iou")]
    assert order == worst_first(sorted(order), tables), "worst-localized first"
    assert len({tuple(t.values()) for t in tables}) > 1
    assert all((run / src).is_file() for src in page.attributes("src"))
    model_tiles = gallery.count('<figure class="tile" data-series=')
    assert model_tiles == 6 * 3, "a tile per image for each model with predictions (blobs, centre, oracle)"


def test_the_run_folder_keeps_only_the_worst_images_as_thumbnails(tmp_path):
    dataset = load_dataset(SMALL_SHAPES)
    ids = [image.id for image in dataset.images]
    scores = {str(i): 0.9 for i in ids} | {str(ids[4]): 0.1, str(ids[2]): 0.3}
    assert sync_thumbnails(tmp_path, dataset, RunResults(), cap=2) == ids[:2], "before any model: the first"
    scored = RunResults.from_dict({"models": [{"id": "m", "accuracy": {"per_image_iou": scores}}]})
    kept = sync_thumbnails(tmp_path, dataset, scored, cap=2)
    assert kept == [ids[4], ids[2]]
    assert sorted(p.name for p in (tmp_path / "gallery").iterdir()) == sorted([f"{ids[4]}.jpg", f"{ids[2]}.jpg"])


def test_results_without_the_newer_fields_still_render():
    """A results.json from an older zoo (no samples, curves, per-image IoU, nor a context) renders its rows."""
    results = {
        "models": [
            {
                "id": "old",
                "status": "ok",
                "accuracy": {"localization": {"mean_iou": 0.5}},
                "speed": {"latency_ms": {"total": {"median": 3.0, "min": 2.0, "max": 9.0}}},
            },
            {"id": "broken", "status": "failed", "reason": "load failed: OSError"},
        ]
    }
    html = render([results])
    page = Page(html)
    assert "old" in html and "load failed: OSError" in html
    assert 'class="chart latency"' in html, "a latency chart from the summary alone"
    assert "Run context" in "".join(page.text)


# ---------------------------------------------------------------------------------------------------- the CSV


def test_leaderboard_csv_cells_never_start_a_formula(tmp_path):
    """Every text cell a plugin, a registry or a results file fills is made inert with a leading quote (OWASP's rule
    against CSV injection); numbers, a negative one included, stay numbers."""
    import csv

    from zoo.leaderboard import write_csv, write_joint_csv

    hostile = {  # (not the status: a results.json whose status is not a `zoo.results.Status` is refused on reading)
        "model": '=HYPERLINK("http://evil.example","click")',
        "family": "=1+1",
        "input_size": "+640",
        "framework": "-2+3",
        "weights": "\t=weights",
        "reason": "\r=reason",
    }
    result = {
        "id": hostile["model"],
        "family": hostile["family"],
        "framework": hostile["framework"],
        "weights": hostile["weights"],
        "reason": hostile["reason"],
        "info": {"input_size": hostile["input_size"]},
        "accuracy": {"coco": {"map": 0.25}},
        "published": {"box_ap": 0.3},
        "reproduction": {"gap": -5.0, "flagged": True, "indicative": False, "causes": ["@cause"]},
    }
    results = RunResults.from_dict({"models": [result]})
    write_csv(results, tmp_path / "one.csv")
    write_joint_csv([results], ["=run"], tmp_path / "joint.csv")
    for name, extra in (("one.csv", {}), ("joint.csv", {"run": "=run"})):
        with (tmp_path / name).open(newline="", encoding="utf-8") as file:
            (row,) = list(csv.DictReader(file))
        for column, text in {**hostile, **extra}.items():
            assert row[column] == "'" + text.replace("\r", "\n"), (name, column, row[column])
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values() if cell != "-5")
        assert row["ap_gap"] == "-5" and row["map"] == "0.25", "numbers stay numbers, a negative one too"
        assert row["reproduction"].startswith("gap over 1 AP point") and "@cause" in row["reproduction"]


# ---------------------------------------------------------------------------------------------------- weights


def details_of(html: str) -> dict[str, str]:
    """Each model's details (its facts), by the model's label as the page writes it."""
    chunks = html.split('<details class="model-detail')[1:]
    return {chunk.split("<b>", 1)[1].split("</b>", 1)[0]: chunk.split("</details>", 1)[0] for chunk in chunks}


def test_each_model_shows_its_licence_and_what_was_fetched_for_it_escaped():
    file, detail, url = (
        "<img src=x onerror=alert('file')>.pt",
        "<script>alert('detail')</script>",
        "https://h/a?b=1&c=<x>",
    )
    results = {
        "context": {"weights_source": {"offline": False, "weights_dir": "/w/<b>dir</b>", "mirror": "http://m/<i>"}},
        "models": [
            {
                "id": "yolo",
                "status": "ok",
                "weights": "yolov8n.pt",
                "licence": "<b>AGPL-3.0</b>",
                "fetch": [
                    {
                        "file": "yolov8n.pt",
                        "url": url,
                        "state": "fetched",
                        "path": "/w/yolov8n.pt",
                        "bytes": 6_500_000,
                        "seconds": 3.14,
                        "detail": "",
                    },
                    {
                        "file": file,
                        "url": "https://h/x.pt",
                        "state": "failed",
                        "path": None,
                        "bytes": 0,
                        "seconds": 0.5,
                        "detail": detail,
                    },
                ],
            },
            {"id": "blobs", "status": "ok", "licence": None, "fetch": []},
            {"id": "older", "status": "ok"},
        ],
    }
    html = render([results])
    text = "".join(Page(html).text)
    for hostile in ("<b>AGPL-3.0</b>", file, detail, url, "/w/<b>dir</b>", "http://m/<i>"):
        assert hostile not in html and hostile in text, f"{hostile} is shown as text, never as markup"
    details = details_of(html)
    yolo = details["yolo"]
    assert "<dt>licence</dt><dd>&lt;b&gt;AGPL-3.0&lt;/b&gt;</dd>" in yolo
    assert (
        "<dt>fetched</dt><dd>yolov8n.pt (6.2 MiB in 3.1 s) from https://h/a?b=1&amp;c=&lt;x&gt; via the mirror "
        "http://m/&lt;i&gt;</dd>" in yolo
    )
    assert (
        "<dt>could not fetch</dt><dd>&lt;img src=x onerror=alert(&#39;file&#39;)&gt;.pt from https://h/x.pt: "
        "&lt;script&gt;alert(&#39;detail&#39;)&lt;/script&gt;</dd>" in yolo
    )
    assert "<dt>licence</dt><dd>none: the model has no weights</dd>" in details["blobs"]
    assert "<dt>licence</dt><dd>unknown: not recorded by the zoo that wrote this run</dd>" in details["older"]
    assert not any("fetch" in details[model] for model in ("blobs", "older")), "nothing fetched, nothing said"
    context = html.split('id="context"', 1)[1]
    assert (
        "<th>source</th><td>fetched when missing from the mirror http://m/&lt;i&gt; into the weights folder "
        "/w/&lt;b&gt;dir&lt;/b&gt;</td>" in context
    )


def test_a_real_run_says_where_its_weights_came_from(hostile_run):
    html, _ = page_of(hostile_run)
    assert "<dt>licence</dt><dd>none: the model has no weights</dd>" in details_of(html)["reference-blobs"]
    context = html.split('id="context"', 1)[1]
    assert "<h3>Weights</h3>" in context, "the run's weights_source is shown"
    assert "<th>source</th><td>offline: nothing fetched; only files already in each library&#39;s own cache</td>" in (
        context
    ), "the tests run offline (conftest)"


# ---------------------------------------------------------------------------------------------------- in a browser


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed: `apt-get install -y chromium` (Debian) to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -e '.[test]'")
    return path


# Chromium must make no connection of its own: no updates, no metrics, no safe browsing, no DNS prefetch.
QUIET = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,NetworkPrediction",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-pings",
    "--dns-prefetch-disable",
]


def test_the_page_loads_clean_sorts_and_draws_in_chromium(hostile_run, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = chromium()
    errors, requests, dialogs = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=QUIET)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto((hostile_run / "index.html").as_uri(), wait_until="load")

            assert errors == [] and dialogs == []
            assert requests and all(url.startswith(("file://", "data:")) for url in requests), requests

            speed = page.locator("#table-speed")
            header = speed.locator("th", has_text="p50 ms")
            header.click()  # the board is fastest first already: a click puts the slowest first
            values = speed.locator("tbody tr").evaluate_all(
                "rows => rows.map(r => r.cells[2].getAttribute('data-v'))"  # model, status, p50
            )
            present = [float(v) for v in values if v]
            assert present == sorted(present, reverse=True) and values[len(present) :] == [""] * (
                len(values) - len(present)
            ), "sorted slowest first, the rows with no value last"
            assert header.get_attribute("aria-sort") == "descending"
            page.locator("#table-localization th", has_text="model").click()
            names = page.locator("#table-localization tbody tr").evaluate_all(
                "rows => rows.map(r => r.cells[0].getAttribute('data-v'))"
            )
            assert names == sorted(names, key=str.casefold) and len(names) == 5

            chart = page.locator("svg[data-chart='tradeoff-map'], svg[data-chart='tradeoff-mean_iou']").first
            box = chart.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 200
            assert chart.locator("g.point").count() >= 2 and chart.locator("path.front").count() == 1
            iou_button = page.locator("#tradeoff .seg button", has_text="IoU")
            iou_button.click()
            assert page.locator("svg[data-chart='tradeoff-mean_iou']").is_visible()

            assert page.locator(".gallery img").count() >= 6
            loaded = page.locator(".gallery article:not([hidden]) img").evaluate_all(
                "images => images.map(i => i.complete && i.naturalWidth > 0)"
            )
            assert loaded and all(loaded), "every visible thumbnail loads from the folder"
            assert page.locator(".gallery svg rect.pred").count() > 0
            assert page.get_by_text(CLASS).count() > 0, "the hostile class name is visible text"

            page.evaluate("window.scrollTo(0, 0)")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            assert errors == [] and dialogs == []
        finally:
            browser.close()


# ---------------------------------------------------------------------------------------- long and bidi names

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: left open, it reverses everything after it in its paragraph
WIDE_FAMILY = RLO + "detector family " + "VeryLongFamilyName" * 5  # ~110 characters
WIDE_CLASS = "VeryLongCategoryName" * 15  # 300 characters, no space to break at
WIDE_NOTES = RLO + "these notes read right to left"


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    """A quick run (two images, in this process) of the oracle with a long right-to-left family and notes, on a COCO
    file with a 300-character class name."""
    root = tmp_path_factory.mktemp("wide")
    dataset = load_dataset(SMALL_SHAPES, limit=2)
    truth = dataset.coco_ground_truth()
    (root / "data" / "images").mkdir(parents=True)
    for image, record in zip(dataset.images, truth["images"]):
        Image.fromarray(image.load()).save(root / "data" / "images" / record["file_name"])
    for category in truth["categories"]:
        category["name"] = WIDE_CLASS if category["name"] == "circle" else category["name"]
    data = root / "data" / "wide.json"
    data.write_text(json.dumps(truth))
    (root / "plugins").mkdir()
    assert repr(FAMILY) in PLUGINS
    (root / "plugins" / "wide.py").write_text(PLUGINS.replace(repr(FAMILY), repr(WIDE_FAMILY)))
    registry = root / "registry.yaml"
    registry.write_text(
        "models:\n  reference-blobs: {}\n"
        f"  oracle:\n    options: {{truth: {json.dumps(str(data))}}}\n    notes: {json.dumps(WIDE_NOTES)}\n"
    )
    out = root / "run"
    code, _, stderr = run_zoo(
        "run",
        "--no-isolation",
        *("--plugins-dir", str(root / "plugins"), "--registry", str(registry)),
        *("--models", "oracle,reference-blobs", "--data", str(data), "--out", str(out)),
        *FAST,
    )
    assert code == 0, stderr
    return out


def test_long_and_right_to_left_names_keep_the_layout_in_chromium(wide_run, tmp_path):
    from playwright.sync_api import sync_playwright

    from zoo.report import _environment

    assert _environment().autoescape is True, "every name is escaped by the templates"
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=QUIET)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto((wide_run / "index.html").as_uri(), wait_until="load")
            for table in ("localization", "detection", "speed"):
                for row in page.locator(f"#table-{table} tbody tr").all():
                    status = row.locator("td").nth(1).bounding_box()
                    rights = row.locator("td.model *").evaluate_all(
                        "nodes => nodes.map(n => n.getBoundingClientRect().right + window.scrollX)"
                    )
                    assert max(rights) <= status["x"] + 0.5, f"{table}: the model cell paints over the status"
            pill = page.locator("#table-localization .family", has_text="detector family")
            assert pill.get_attribute("title") == WIDE_FAMILY, "the whole family on hover"
            isolated = pill.evaluate("e => e.tagName === 'BDI' || getComputedStyle(e).unicodeBidi.includes('isolate')")
            assert isolated, "a bidi control in the family reorders nothing after the pill"
            box = pill.bounding_box()
            assert box["width"] < 200, "the pill is shortened, with an ellipsis"

            scroll = page.locator("#per-class .scroll")
            assert scroll.evaluate("e => e.scrollWidth <= e.clientWidth"), "every per-class column in view"
            limit = scroll.bounding_box()
            for header in page.locator("#table-per-class th").all():
                right = header.bounding_box()
                assert right["x"] + right["width"] <= limit["x"] + limit["width"] + 0.5
            name = page.locator("#table-per-class tbody .clip", has_text="VeryLongCategoryName").first
            assert name.get_attribute("title") == WIDE_CLASS, "the whole class name on hover"

            notes = page.locator("table.entries td", has_text="these notes")
            assert notes.evaluate(
                "e => [e, ...e.querySelectorAll('*')].some(n => n.tagName === 'BDI' || "
                "getComputedStyle(n).unicodeBidi.includes('isolate'))"
            )
            shot = tmp_path / "wide.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
        finally:
            browser.close()
