"""The report's runtime view: per model, its torch row and its runtime rows side by side — latency, speed-up over
torch, AP, agreement — so what an export or int8 costs and gains is read at a glance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoo.report import fmt


@dataclass
class RuntimeRow:
    series: Any  # zoo.report.runs.Series
    runtime: str  # "torch", "onnxruntime", "openvino-int8", ...
    cells: list[str]
    notes: str = ""  # the reason of an unsupported row, the agreement's missing reason
    within: bool | None = None


@dataclass
class RuntimeGroup:
    model: str  # the torch row's id
    run: str
    rows: list[RuntimeRow] = field(default_factory=list)


def build(series: list[Any]) -> list[RuntimeGroup]:
    """A group per torch model that has runtime rows, in the order the rows come."""
    groups: dict[tuple[str, str], RuntimeGroup] = {}
    by_id = {(s.run.label, s.result.id): s for s in series}
    for s in series:
        record = s.result.runtime
        if not isinstance(record, dict) or not record.get("torch_row"):
            continue
        key = (s.run.label, record["torch_row"])
        if key not in groups:
            groups[key] = RuntimeGroup(record["torch_row"], s.run.label)
            torch = by_id.get(key)
            if torch is not None:
                groups[key].rows.append(_row(torch, None, None))
        groups[key].rows.append(_row(s, record, by_id.get(key)))
    return list(groups.values())


def _row(s: Any, record: dict[str, Any] | None, torch: Any) -> RuntimeRow:
    latency = s.row.get("latency_ms_p50")
    base = torch.row.get("latency_ms_p50") if torch is not None else None
    speedup = base / latency if not fmt.is_missing(base) and not fmt.is_missing(latency) and latency else None
    if record is None:
        runtime = "torch"
        cells = [runtime, s.status, fmt.ms(latency), "1×", fmt.score(s.row.get("map")), "", "", "", "",
                 str(s.result.framework or "")]  # fmt: skip
        return RuntimeRow(s, runtime, cells, s.reason if s.status != "ok" else "")
    runtime = record.get("runtime", "") + ("-int8" if record.get("precision") == "int8" else "")
    agreement = record.get("agreement") or {}
    file_mb = (record.get("accuracy") or {}).get("file_mb")
    cells = [
        runtime,
        s.status,
        fmt.ms(latency),
        fmt.DASH if speedup is None else f"{speedup:.2f}×",
        fmt.score(s.row.get("map")),
        fmt.points(agreement.get("map_diff")),
        _share(agreement.get("matched_share")),
        fmt.significant(agreement.get("max_box_deviation_px")),
        fmt.significant(file_mb),
        f"{record.get('provider') or ''} {record.get('version') or ''}".strip(),
    ]
    notes = s.reason if s.status != "ok" else (record.get("agreement_missing") or agreement.get("missing") or "")
    check = record.get("graph_check") or {}
    if s.status == "ok" and not agreement and check.get("matched_share") is not None:
        notes += f"; graph check: {_share(check['matched_share'])} of boxes matched, sorted scores within "
        notes += f"{fmt.significant(check.get('max_sorted_score_deviation'))}"
    return RuntimeRow(s, runtime, cells, notes, agreement.get("within_tolerance"))


def _share(value: Any) -> str:
    """A share with one decimal (99.5% is not 100%)."""
    return fmt.DASH if fmt.is_missing(value) else f"{100 * float(value):.1f}%"


def links(chart: Any, series: list[Any]) -> list[tuple[str, str]]:
    """For the accuracy–latency chart: per model with runtime rows, a line through its torch and runtime points
    (left to right), in the torch row's colour."""
    placed = {p.mark.key: (p.x, p.y) for p in chart.points}
    paths = []
    for group in build(series):
        points = sorted(placed[r.series.key] for r in group.rows if r.series.key in placed)
        if len(points) > 1:
            path = "".join(f"{'M' if n == 0 else 'L'}{x:.1f},{y:.1f}" for n, (x, y) in enumerate(points))
            paths.append((path, group.rows[0].series.color))
    return paths
