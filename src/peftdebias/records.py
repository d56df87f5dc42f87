"""Typed JSON records: the pipeline's result files as dataclasses.

A :class:`Record` subclass declares the keys it reads as dataclass fields; their type hints
drive the parsing (nested records, lists and maps of records, an
:class:`~peftdebias.metrics.intervals.Interval`, plain JSON values). A field without a default
is required; ``field(metadata=key("tpr-gap"))`` stores a field under another JSON key.

- :meth:`Record.from_json` raises :class:`ResultsFormatError` naming the file and the key path
  of a missing key (with the key it found instead when one looks like a rename) or of a value
  of the wrong type;
- keys a class does not declare are kept in ``extra``, and the order of the keys read is
  kept, so :meth:`Record.to_json` gives back the JSON it was read from: a file read and
  written again (``json.dump(..., indent=2)``) is byte-identical;
- :meth:`Record.lookup` follows a path of JSON keys (what a metric registry declares) and
  :meth:`Record.has_path` checks such a path against the declared fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

from .errors import DataError

JSON_KEY = "json_key"
R = TypeVar("R", bound="Record")


class ResultsFormatError(DataError):
    """A result file lacks a key the pipeline reads, or holds a value of the wrong type."""


def key(name: str) -> dict[str, str]:
    """Field metadata: the field is stored under the JSON key ``name``."""
    return {JSON_KEY: name}


@dataclasses.dataclass(frozen=True)
class _Where:
    """Where a value was read: the file and the key path inside it, for error messages."""

    source: str
    path: str = ""

    def child(self, name: str | int) -> _Where:
        if isinstance(name, int):
            return _Where(self.source, f"{self.path}[{name}]")
        return _Where(self.source, f"{self.path}.{name}" if self.path else name)

    def error(self, problem: str) -> ResultsFormatError:
        place = f"key {self.path!r}: " if self.path else ""
        return ResultsFormatError(f"{self.source}: {place}{problem}")


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str  # attribute
    key: str  # JSON key
    hint: Any
    required: bool
    default: Any


_SCALARS: dict[Any, str] = {
    float: "a number", int: "an integer", str: "a string", bool: "true/false"
}  # fmt: skip


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is list:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "an object"
    if hint is type(None):
        return "null"
    return _SCALARS.get(hint, str(hint))


def _scalar_ok(value: Any, hint: Any) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return hint in (str, bool) and isinstance(value, hint)


def _shape_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the JSON shape of ``hint`` (without parsing it)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is list:
        return isinstance(value, list)
    if origin is dict or dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return _scalar_ok(value, hint)


def _parse(value: Any, hint: Any, where: _Where) -> Any:
    """``value`` read as ``hint``: records built, everything else checked and kept as is."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None and len(options) < len(typing.get_args(hint)):
            return None
        chosen = next((arg for arg in options if _shape_ok(value, arg)), None)
        if chosen is None:
            raise where.error(f"expected {_describe(hint)}, got {value!r}")
        return _parse(value, chosen, where)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint._parse(value, where)
    if dataclasses.is_dataclass(hint):
        return _parse_plain_dataclass(value, hint, where)
    if not _shape_ok(value, hint):
        raise where.error(f"expected {_describe(hint)}, got {value!r}")
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_parse(v, item, where.child(i)) for i, v in enumerate(value)]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _parse(v, item, where.child(k)) for k, v in value.items()}
    return value


def _parse_plain_dataclass(value: Any, hint: type, where: _Where) -> Any:
    """A dataclass with ``from_dict`` (an Interval): its fields without default required."""
    if not isinstance(value, dict):
        raise where.error(f"expected an object, got {value!r}")
    for spec in dataclasses.fields(hint):
        needed = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        if needed and spec.name not in value:
            raise where.child(spec.name).error(f"missing (read by {hint.__name__})")
    return hint.from_dict(value)


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if dataclasses.is_dataclass(value) and hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


_FIELDS: dict[type, tuple[_Field, ...]] = {}


@dataclasses.dataclass
class Record:
    """Base of the typed records (see the module docstring)."""

    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, kw_only=True)
    _keys: ClassVar[tuple[str, ...]] = ()  # the keys read, in their order (set per instance)

    @classmethod
    def fields(cls) -> tuple[_Field, ...]:
        """The declared fields with their JSON keys and type hints."""
        if cls not in _FIELDS:
            hints = typing.get_type_hints(cls)
            found = []
            for spec in dataclasses.fields(cls):
                if spec.name == "extra":
                    continue
                factory = spec.default_factory
                required = spec.default is dataclasses.MISSING and factory is dataclasses.MISSING
                default = factory() if factory is not dataclasses.MISSING else spec.default
                name = spec.metadata.get(JSON_KEY, spec.name)
                found.append(_Field(spec.name, name, hints[spec.name], required, default))
            _FIELDS[cls] = tuple(found)
        return _FIELDS[cls]

    @classmethod
    def from_json(cls: type[R], data: Any, source: str | os.PathLike = "") -> R:
        """The record of the parsed JSON ``data``; ``source`` (the file) names it in errors."""
        return cls._parse(data, _Where(str(source) or cls.__name__))

    @classmethod
    def load(cls: type[R], path: str | os.PathLike) -> R:
        """The record of the JSON file ``path``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ResultsFormatError(f"cannot read {path}: {exc}") from exc
        return cls.from_json(data, path)

    @classmethod
    def _parse(cls: type[R], data: Any, where: _Where) -> R:
        if not isinstance(data, dict):
            raise where.error(f"expected an object ({cls.__name__}), got {data!r}")
        declared = {f.key: f for f in cls.fields()}
        values = {}
        for spec in declared.values():
            if spec.key in data:
                values[spec.name] = _parse(data[spec.key], spec.hint, where.child(spec.key))
            elif spec.required:
                raise cls._missing(spec, data, where)
        record = cls(**values, extra={k: v for k, v in data.items() if k not in declared})
        record._keys = tuple(data)
        return record

    @classmethod
    def _missing(cls, spec: _Field, data: dict, where: _Where) -> ResultsFormatError:
        declared = {f.key for f in cls.fields()}
        unknown = [k for k in data if k not in declared]
        close = difflib.get_close_matches(spec.key, unknown, n=1, cutoff=0.6)
        hint = f"; found {close[0]!r} instead: was it renamed?" if close else ""
        found = ", ".join(repr(k) for k in data) or "no keys"
        return where.child(spec.key).error(
            f"missing (read by {cls.__name__}.{spec.name}; the object has {found}){hint}"
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object: the keys read, in their order, then the other set fields."""
        declared = {f.key: f for f in self.fields()}
        out: dict[str, Any] = {}
        for name in self._keys:
            if name in declared:
                out[name] = _encode(getattr(self, declared[name].name))
            elif name in self.extra:
                out[name] = self.extra[name]
        for name, spec in declared.items():
            value = getattr(self, spec.name)
            if name not in out and (spec.required or not _same(value, spec.default)):
                out[name] = _encode(value)
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    def lookup(self, path: Sequence[str]) -> Any:
        """The value at the JSON key ``path`` (declared or extra); None where it stops."""
        value: Any = self
        for name in path:
            if isinstance(value, Record):
                spec = next((f for f in value.fields() if f.key == name), None)
                value = getattr(value, spec.name) if spec else value.extra.get(name)
            elif isinstance(value, dict):
                value = value.get(name)
            else:
                return None
        return value

    @classmethod
    def has_path(cls, path: Sequence[str]) -> bool:
        """Whether ``path`` follows declared fields (into records or string-keyed maps)."""
        hint: Any = cls
        for name in path:
            hint = _without_none(hint)
            if isinstance(hint, type) and issubclass(hint, Record):
                spec = next((f for f in hint.fields() if f.key == name), None)
                if spec is None:
                    return False
                hint = spec.hint
            elif typing.get_origin(hint) is dict:
                hint = typing.get_args(hint)[1]
            else:
                return False
        return True


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return options[0] if len(options) == 1 else hint
    return hint


def _same(value: Any, default: Any) -> bool:
    """``value == default`` (a NaN equals a NaN)."""
    if isinstance(value, float) and isinstance(default, float):
        return value == default or (math.isnan(value) and math.isnan(default))
    return value is default or value == default
