"""Typed plain data -> dataclasses: values parsed from YAML or JSON checked against the
dataclass fields' type hints, with errors that name the key path (``upstream.options.r``)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

from .errors import ConfigError


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _describe(hint: Any) -> str:
    """A type hint in words, for error messages."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is list:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    if origin is dict:
        return "a mapping"
    if hint is type(None):
        return "null"
    if _is_dataclass_type(hint):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
        hint, str(hint)
    )


def convert(value: Any, hint: Any, path: str) -> Any:
    """``value`` checked against the type ``hint``; dataclasses are built recursively."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _convert_union(value, hint, path)
    if _is_dataclass_type(hint):
        return build(hint, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected {_describe(hint)}, got {value!r}")
        (item,) = typing.get_args(hint)
        return [convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        key_type, value_type = typing.get_args(hint)
        return {
            convert(k, key_type, path): convert(v, value_type, f"{path}.{k}")
            for k, v in value.items()
        }
    return _convert_scalar(value, hint, path)


def _convert_union(value: Any, hint: Any, path: str) -> Any:
    args = typing.get_args(hint)
    if value is None and type(None) in args:
        return None
    options = [arg for arg in args if arg is not type(None)]
    if len(options) == 1:  # Optional[X]: X's own, more precise error
        return convert(value, options[0], path)
    for arg in options:
        try:
            return convert(value, arg, path)
        except ConfigError:
            continue
    raise ConfigError(f"{path}: expected {_describe(hint)}, got {value!r}")


def _convert_scalar(value: Any, hint: Any, path: str) -> Any:
    """int, float (an int is accepted), str, bool; a bool is never a number."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if hint is float and number:
        return float(value)
    if hint is int and number and isinstance(value, int):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise ConfigError(f"{path}: expected {_describe(hint)}, got {value!r}")


def build(cls: type, data: Any, path: str = "") -> Any:
    """Instance of dataclass ``cls`` from mapping ``data``; unknown or missing keys and values
    of the wrong type raise :class:`ConfigError` naming the key path."""
    where = path or "the config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"unknown key {_join(path, str(key))!r}; valid keys: {', '.join(fields)}"
            )
    kwargs = {}
    for name, spec in fields.items():
        if name in data:
            kwargs[name] = convert(data[name], hints[name], _join(path, name))
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {_join(path, name)!r}")
    return cls(**kwargs)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
