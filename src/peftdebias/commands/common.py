"""Command-line options from config dataclasses (:func:`add_options`, :func:`config_from_args`)
and the options shared by several sub-commands, so they are spelt the same everywhere.

The options of ``upstream``, ``downstream``, ``predict``, ``intrinsic`` and ``restore-mlm``
are generated from the fields of their config dataclasses (declared with
:func:`peftdebias.fields.option`): the flag is the field name with dashes (or the field's
``flags``), the type comes from the type hint (``int | None`` -> ``type=int``; ``bool`` -> a
switch, ``--no-NAME`` when it defaults to true; ``tuple[str, ...]`` -> a comma-separated
list), the default from the field. A new config field with ``option(help=...)`` is a new
option: nothing to copy here. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any, Union

from ..fields import (
    comma_list,
    data_dir_option,
    flags_of,
    is_option,
    model_option,
    output_option,
    overwrite_option,
    seed_option,
)

_SCALARS = (int, float, str)


def _base_types(hint: Any) -> tuple[Any, ...]:
    """The types of a hint without ``None``: ``int | None`` -> ``(int,)``."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        return tuple(arg for arg in typing.get_args(hint) if arg is not type(None))
    return (hint,)


def _argument(field: dataclasses.Field, hint: Any, default: Any) -> dict[str, Any]:
    """The ``add_argument`` keywords of ``field`` (type hint ``hint``)."""
    meta = field.metadata
    kwargs: dict[str, Any] = {"dest": field.name, "help": meta["help"]}
    kwargs.update({key: meta[key] for key in ("choices", "metavar") if meta.get(key)})
    base = _base_types(hint)
    if base == (bool,):
        kwargs["action"] = "store_false" if default else "store_true"
        return kwargs
    kwargs["default"] = default
    if meta.get("repeat"):
        kwargs.update(action="append", default=None)
    elif len(base) == 1 and base[0] in _SCALARS and not meta.get("parse"):
        kwargs["type"] = base[0]
    if default is dataclasses.MISSING:
        kwargs.update(required=True, default=None)
    return kwargs


def _default(field: dataclasses.Field, defaults: dict[str, Any]) -> Any:
    if field.name in defaults:
        return defaults[field.name]
    if field.default_factory is not dataclasses.MISSING:
        return None  # mutable defaults (dicts, lists): the dataclass makes them
    return field.default


def _add_parts(container: Any, field: dataclasses.Field) -> None:
    """A dict field given as one option per key (``columns`` -> ``--text-column``, ...)."""
    pattern = flags_of(field)[0]
    for key, text in field.metadata["parts"].items():
        container.add_argument(
            pattern.format(key.replace("_", "-")),
            dest=f"{field.name}.{key}",
            metavar=field.metadata.get("metavar"),
            help=text,
        )


def add_options(
    parser: argparse.ArgumentParser,
    config_class: type,
    *,
    exclusive: Sequence[str] = (),
    required: bool = False,
    defaults: dict[str, Any] | None = None,
) -> None:
    """Add an option for each :func:`~peftdebias.fields.option` field of the dataclass
    ``config_class`` (fields without a default are required options). The fields named in
    ``exclusive`` form a mutually exclusive group (one of them ``required``); ``defaults``
    replaces field defaults on the command line only. A field whose option ``parser``
    already has is skipped (shared options defined by an earlier class)."""
    hints = typing.get_type_hints(config_class)
    group = parser.add_mutually_exclusive_group(required=required) if exclusive else None
    known = {flag for action in parser._actions for flag in action.option_strings}
    for field in dataclasses.fields(config_class):
        flags = flags_of(field)
        if not is_option(field) or known.intersection(flags):
            continue
        container = group if field.name in exclusive else parser
        if field.metadata.get("parts"):
            _add_parts(container, field)
            continue
        kwargs = _argument(field, hints[field.name], _default(field, defaults or {}))
        if kwargs.get("action") == "store_false":
            flags = ("--no-" + flags[0].removeprefix("--"),)
        container.add_argument(*flags, **kwargs)


def _value(field: dataclasses.Field, hint: Any, args: argparse.Namespace) -> Any:
    """The value of ``field`` from the parsed options (``MISSING``: keep the default)."""
    meta = field.metadata
    if meta.get("parts"):
        return {key: getattr(args, f"{field.name}.{key}", None) for key in meta["parts"]}
    raw = getattr(args, field.name, None)
    if raw is None:
        return dataclasses.MISSING
    if meta.get("parse"):
        return meta["parse"](raw)
    if typing.get_origin(_base_types(hint)[0]) is tuple:
        return comma_list(raw)
    if meta.get("repeat") and str in _base_types(hint):
        return single_or_list(raw)
    return raw


def config_from_args(config_class: type, args: argparse.Namespace, **explicit: Any) -> Any:
    """An instance of the dataclass ``config_class`` from the options :func:`add_options`
    made of its fields (parsed: comma lists, JSON, ``KEY=VALUE``); ``explicit`` values take
    precedence."""
    hints = typing.get_type_hints(config_class)
    values = {}
    for field in dataclasses.fields(config_class):
        if is_option(field) and field.name not in explicit:
            value = _value(field, hints[field.name], args)
            if value is not dataclasses.MISSING:
                values[field.name] = value
    return config_class(**values, **explicit)


def single_or_list(values: list[str] | None) -> str | list[str] | None:
    """A repeatable option's values: one value as itself (as before the option could repeat),
    several as a list, none as ``None``."""
    if not values:
        return None
    return values[0] if len(values) == 1 else values


# --- options of the commands without a config dataclass ---------------------------------------


def _add_field(parser: argparse.ArgumentParser, name: str, hint: Any, field: Any) -> None:
    """Add the shared option ``field`` (a :mod:`peftdebias.fields` factory's) as ``name``."""
    field.name = name  # a bare dataclasses.Field: name it as a dataclass would
    parser.add_argument(*flags_of(field), **_argument(field, hint, field.default))


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    _add_field(parser, "data_dir", str | None, data_dir_option())


def add_model(parser: argparse.ArgumentParser) -> None:
    _add_field(parser, "model", str, model_option())


def add_output(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    output = output_option()
    output.default = dataclasses.MISSING if required else None
    _add_field(parser, "output", str, output)
    _add_field(parser, "overwrite", bool, overwrite_option())


def add_seed(parser: argparse.ArgumentParser) -> None:
    _add_field(parser, "seed", int, seed_option())
