"""The terminal zoo prints to, and `safe`: text from a plugin, a dataset or a server made into one harmless line.
A leaf: anything may print through it."""

from __future__ import annotations

import re

from rich.console import Console

console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# C0 and C1 controls, DEL, and the bidirectional controls that reorder what follows them (Trojan Source)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"\s*(?:\r\n|[\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029])\s*")
_NAMED = {"\t": "\\t", "\r": "\\r"}


def safe(text: object) -> str:
    """Text a plugin, a dataset or a server supplied, as one line the terminal shows and never obeys: line breaks
    collapsed to a space, every other control character (an escape sequence's ESC, a carriage return, a bidi
    override) shown escaped, as ``\\x1b``, ``\\r`` or ``\\u202e``."""
    return _CONTROLS.sub(_escaped, _LINE_BREAKS.sub(" ", str(text)).strip(" "))


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
