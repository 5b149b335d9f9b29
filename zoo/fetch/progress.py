"""Progress of one file at a time: what the downloaders report, and what the command line draws."""

from __future__ import annotations


class Progress:
    """Told when a file's transfer begins (its name, size if known, bytes already there), as it advances, and when
    it ends. This base class shows nothing; the CLI draws a bar per file."""

    def begin(self, name: str, total: int | None, done: int = 0) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


class Counting(Progress):
    """Remembers what it was told: for tests, and for the bytes a fetch moved."""

    def __init__(self) -> None:
        self.files: list[tuple[str, int | None, int]] = []  # (name, total, bytes already there)
        self.transferred = 0

    def begin(self, name: str, total: int | None, done: int = 0) -> None:
        self.files.append((name, total, done))

    def advance(self, count: int) -> None:
        self.transferred += count
