"""Dataclasses that read and write JSON by field name: `Record` is the base of every part of zoo's results
(`zoo.results`). Field names are the JSON names; the type hints say how a value reads back (a part as its class, an
enum as its member); keys a class does not know are kept in ``extra``, so a newer zoo's fields survive a read and a
write; `schema_of` gives the JSON Schema the classes describe."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar


def part(kind: type) -> Any:
    """A part of the record that may be unmeasured: an empty instance by default, written ``{}`` then."""
    return field(default_factory=kind)


class Record:
    """Base of every part: ``to_dict`` / ``from_dict`` by field name, keys it does not know kept in ``extra`` (a
    newer zoo's fields survive a read and a write). ``omit_none``: fields that are None are not written (the top
    level, where an unmeasured value was always absent); else they are written as null."""

    omit_none: ClassVar[bool] = False
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            if item.name == "extra":
                continue
            value = getattr(self, item.name)
            if value is None and self.omit_none:
                continue
            data[item.name] = {} if isinstance(value, Record) and value.empty() else _plain(value)  # unmeasured: {}
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Any:
        data = dict(data or {})
        hints = _hints(cls)
        known = {item.name for item in dataclasses.fields(cls) if item.name != "extra"}  # type: ignore[arg-type]
        values = {name: _typed(hints[name], data.pop(name)) for name in known if name in data}
        record = cls(**values, extra=data)  # type: ignore[call-arg]
        record._read = frozenset(values)
        return record

    def recorded(self, name: str) -> bool:
        """Whether the field was in what this record was read from (an older zoo may not have written it); True for
        a record built here."""
        read = getattr(self, "_read", None)
        return read is None or name in read

    def empty(self) -> bool:
        """Nothing measured: every field None or an empty container (a 0 is a measurement)."""
        return all(value is None or value == {} or value == [] for value in self.to_dict().values())


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _typed(hint: Any, value: Any) -> Any:
    """``value`` read from JSON, as ``hint`` says: parts as their classes, statuses as `Status`."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not type(None)]
        return _typed(inner[0], value) if len(inner) == 1 else value
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value) if isinstance(value, dict) else value
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if origin is list and args and isinstance(value, list):
        return [_typed(args[0], item) for item in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {key: _typed(args[1], item) for key, item in value.items()}
    return value


def record(cls: type) -> type:
    """A part: a dataclass with an ``extra`` field last, for the keys it does not know."""
    cls.__annotations__["extra"] = "dict[str, Any]"
    cls.extra = field(default_factory=dict, repr=False, compare=False)  # type: ignore[attr-defined]
    return dataclass(cls)


def schema_of(hint: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a value of type ``hint``; each `Record` class once, in ``definitions``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [schema_of(arg, definitions) for arg in args if arg is not type(None)]
        return {"anyOf": [*inner, {"type": "null"}]}
    if isinstance(hint, type) and issubclass(hint, Record):
        name = hint.__name__
        if name not in definitions:
            definitions[name] = {}
            hints = _hints(hint)
            fields = [item.name for item in dataclasses.fields(hint) if item.name != "extra"]  # type: ignore[arg-type]
            definitions[name] = {
                "type": "object",
                "description": " ".join((hint.__doc__ or name).split()),
                "properties": {key: schema_of(hints[key], definitions) for key in fields},
            }
        return {"$ref": f"#/$defs/{name}"}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"enum": [member.value for member in hint]}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], definitions) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1], definitions) if args else {}}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": simple[hint]} if hint in simple else {}
