"""Number formatting, the same everywhere on the page: a value that was not measured is a dash, never a 0."""

from __future__ import annotations

import math
from typing import Any

DASH = "—"


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def score(value: Any) -> str:
    """IoU, AP, AR: 0..1 with three decimals."""
    return DASH if is_missing(value) else f"{float(value):.3f}"


def percent(value: Any) -> str:
    """A share (0..1) as a whole percentage."""
    return DASH if is_missing(value) else f"{100 * float(value):.0f}%"


def significant(value: Any, digits: int = 3) -> str:
    """Three significant digits below 1000 (0.124, 41.0, 358), whole numbers with separators above (3,585)."""
    if is_missing(value):
        return DASH
    value = float(value)
    if abs(value) < 10 ** (digits - 1):
        value = float(f"{value:.{digits}g}")  # round first: 99.96 is "100", not "100.0"
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def ms(value: Any) -> str:
    return significant(value)


def one_decimal(value: Any) -> str:
    return DASH if is_missing(value) else f"{float(value):,.1f}"


def whole(value: Any) -> str:
    return DASH if is_missing(value) else f"{float(value):,.0f}"


def size(value: Any) -> str:
    """Bytes in words: 6.2 MiB."""
    if is_missing(value):
        return DASH
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if float(value) >= scale:
            return f"{float(value) / scale:.1f} {unit}"
    return f"{float(value):.0f} B"


def plain(value: Any) -> str:
    """Any recorded value as short text: lists joined, mappings as ``key: value``, None as a dash."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) if value else DASH
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items()) if value else DASH
    return str(value)


def tick(value: float) -> str:
    """An axis tick: as short as it can be (0.1, 1, 10, 2.5, 1,000)."""
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.6g}"


def points(value: Any) -> str:
    """A difference of two 0..1 scores in AP points, signed: +1.2, −3.4."""
    if is_missing(value):
        return DASH
    text = f"{100 * float(value):+.1f}"
    return text.replace("-", "−")


FORMATS = {
    "score": score,
    "percent": percent,
    "points": points,
    "ms": ms,
    "sig": significant,
    "one": one_decimal,
    "whole": whole,
}
