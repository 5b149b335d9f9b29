"""The few-shot report's data-efficiency section, one self-contained page: AP against K per model (the mean over
seeds, the bar their standard deviation), and the table; every model a from-scratch row says so."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

from zoo.files import atomic_write


def chart_svg(summary: list[dict[str, Any]]) -> str:
    """AP@[.5:.95] against shots per model, the seeds' spread as error bars, as inline SVG (matplotlib's)."""
    import matplotlib.pyplot as plt

    figure = chart(summary)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def chart(summary: list[dict[str, Any]]) -> Any:
    """The matplotlib figure of `chart_svg`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for model in sorted({row["model"] for row in summary}):
        points = sorted((r["shots"], r["map_mean"], r["map_std"] or 0.0) for r in summary
                        if r["model"] == model and r["map_mean"] is not None)  # fmt: skip
        if points:
            shots, means, spreads = zip(*points)
            axes.errorbar(shots, means, yerr=spreads, marker="o", capsize=3, label=model)
    axes.set_xscale("log")
    shots = sorted({row["shots"] for row in summary})
    axes.set_xticks(shots, [str(k) for k in shots])
    axes.minorticks_off()
    axes.set_xlabel("shots per class (K)")
    axes.set_ylabel("COCO AP@[.5:.95] on the test set")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)
    return figure


def write_page(path: Path, rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> None:
    scratch = sorted({r["model"] for r in rows if r.get("from_scratch")})
    note = (
        f"<p><strong>From scratch</strong> (untrained copies, no base weights on this machine): "
        f"{html.escape(', '.join(scratch))}.</p>"
        if scratch
        else ""
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("model", "K", "AP mean", "AP std", "AP50 mean",
                                                           "AP50 std", "mean IoU", "seeds"))  # fmt: skip
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_show(r.get(k)))}</td>" for k in (
            "model", "shots", "map_mean", "map_std", "map50_mean", "map50_std", "mean_iou_mean", "seeds")) + "</tr>"
        for r in summary
    )  # fmt: skip
    failed = "".join(
        f"<li>{html.escape(r['model'])} K={r['shots']} seed {r['seed']}: {html.escape(r['status'])} — "
        f"{html.escape(str(r.get('reason') or ''))}</li>"
        for r in rows
        if r["status"] != "ok"
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>zoo few-shot</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}"
        "td:first-child{text-align:left}</style>"
        "<h1>Data efficiency</h1><p>Each model fine-tuned on K annotated instances per class (TFA / FsDet sampling, "
        "one sample per seed), then scored on the whole test set; the bar is the standard deviation over seeds.</p>"
        f"{note}{chart_svg(summary)}<table><tr>{head}</tr>{body}</table>"
        + (f"<h2>Not trained or not scored</h2><ul>{failed}</ul>" if failed else "")
    )
    atomic_write(path, page)


def _show(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
