"""Config dataclass fields that are also command-line options: one source for both.

A field declared with :func:`option` carries its help text (and, where needed, other
spellings, choices, a parser of the command-line string) in ``field.metadata``, the same
``metadata={"help": ...}`` convention as ``transformers.HfArgumentParser``;
:func:`peftdebias.commands.common.add_options` turns the fields of a config dataclass into
``argparse`` options and :func:`~peftdebias.commands.common.config_from_args` builds the
dataclass back from the parsed options. The experiment YAML validates its ``options:`` keys
against the same fields (:mod:`peftdebias.experiments.config`).

Low level on purpose: stdlib and :mod:`peftdebias.errors` only, so that the option modules
(``upstream/options.py``, ``downstream/options.py``, ``intrinsic/options.py``) load in
milliseconds and ``peftdebias COMMAND --help`` needs neither torch nor transformers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ConfigError

# = peftdebias.models.DEFAULT_MODEL (the packaged all-MiniLM-L6-v2), spelt out: importing
# models (torch, transformers) would make every `peftdebias --help` take seconds
DEFAULT_MODEL = "minilm"


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    flags: Sequence[str] = (),
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
    parse: Callable[[Any], Any] | None = None,
    repeat: bool = False,
    parts: Mapping[str, str] | None = None,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field that is also a command-line option.

    ``flags``: the option's spellings (default ``--field-name``); ``choices``, ``metavar``
    as in argparse; ``parse``: turns the command-line string (the list of strings with
    ``repeat``) into the field's value, raising :class:`ConfigError`; ``repeat``: the option
    may be given several times; ``parts``: a dict field given as one option per key
    (``{"text": help}`` with ``flags=("--{}-column",)`` gives ``--text-column``). A bool
    field true by default becomes a ``--no-NAME`` switch: its ``help`` describes that one.
    """
    metadata = {
        "help": help, "flags": tuple(flags), "choices": choices, "metavar": metavar,
        "parse": parse, "repeat": repeat, "parts": parts,
    }  # fmt: skip
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def internal(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A dataclass field that is not a command-line option (set by code or the YAML only)."""
    return dataclasses.field(default=default, metadata={"cli": False}, **kwargs)


def is_option(field: dataclasses.Field) -> bool:
    """Whether ``field`` is a command-line option (declared with :func:`option`)."""
    return "help" in field.metadata


def flags_of(field: dataclasses.Field) -> tuple[str, ...]:
    """The command-line spellings of ``field``: ``max_steps`` -> ``("--max-steps",)``."""
    return field.metadata.get("flags") or ("--" + field.name.replace("_", "-"),)


# --- options shared by several commands (spelt and explained once) ----------------------------


def model_option() -> Any:
    return option(
        DEFAULT_MODEL,
        help="Hugging Face model id, local folder, or 'minilm' "
        "(packaged all-MiniLM-L6-v2; default)",
    )


def data_dir_option() -> Any:
    return option(
        None, help="data directory laid out like shared/data (default: $PEFTDEBIAS_DATA_DIR)"
    )


def output_option(help: str = "output file or directory") -> Any:
    return option(help=help)


def overwrite_option() -> Any:
    return option(False, help="replace an existing output instead of refusing")


def resume_option() -> Any:
    return option(False, help="continue from the last checkpoint")


def seed_option(default: int = 42) -> Any:
    return option(default, help=f"random seed (default: {default})")


# --- training options of both phases (GPU runs of the paper's sizes) --------------------------


def fp16_option() -> Any:
    return option(
        False,
        help="train under float16 mixed precision (CUDA GPUs only; an error on a CPU); "
        "see also --bf16",
    )


def gradient_accumulation_option() -> Any:
    return option(
        1,
        metavar="N",
        help="accumulate the gradients of N batches per optimizer step (effective batch "
        "N x --batch-size; default 1)",
    )


def warmup_ratio_option() -> Any:
    return option(
        0.0,
        metavar="RATIO",
        help="fraction of the optimizer steps spent warming the learning rate up linearly "
        "from 0 (default 0: no warm-up)",
    )


# --- parsers of command-line strings ----------------------------------------------------------


def comma_list(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"a, b"`` -> ``("a", "b")`` (a sequence is kept as a tuple; ``None`` stays)."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(part.strip() for part in parts if part.strip())


def key_values(items: Sequence[str], flag: str = "--method-option") -> dict[str, Any]:
    """``["r=16", "target_modules=[\\"query\\"]"]`` -> ``{"r": 16, ...}`` (JSON values, else
    the string)."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r} must be KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def class_weights(text: str | None) -> dict[int, float] | None:
    """``'{"0": 1, "1": 10}'`` -> ``{0: 1.0, 1: 10.0}``."""
    if not text:
        return None
    try:
        return {int(key): float(value) for key, value in json.loads(text).items()}
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"--class-weights must be a JSON object of label: weight ({exc})"
        ) from exc
