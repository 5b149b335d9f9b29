"""The one exception type the command line turns into a one-line message instead of a traceback."""

from __future__ import annotations


class ZooError(Exception):
    """A problem the user can fix: the message says what went wrong, where, and how to fix it."""
