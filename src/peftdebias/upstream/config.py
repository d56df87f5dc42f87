"""Options of the upstream phase: :class:`UpstreamConfig`, checked once before anything is
loaded (:func:`validate_upstream`) and resolved against its preset (:func:`resolve_plan`)."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cda import CounterfactualAugmenter, MultiAxisAugmenter, WordList, axis_augmenter, load_axes
from ..errors import ConfigError
from ..methods import DebiasMethod, get_method
from ..models import clamp_max_length
from ..presets import batch_size_for, upstream_preset
from ..training.objectives import OBJECTIVES
from ..training.trainer import check_precision
from ..typed import convert
from ..validation import (
    COUNT,
    UPSTREAM_BOUNDS,
    check_checkpoints,
    check_data_dir,
    check_model,
    check_output_dir,
    check_settings,
    check_text_file,
    cli_option,
)
from .options import UpstreamConfig


@dataclass
class UpstreamResult:
    """The artefact folder of an upstream run and its ``debias.json`` metadata."""

    output: Path
    metadata: dict[str, Any]


# --- checks -----------------------------------------------------------------------------------

# ranges of float method options (every integer option, r, alpha, block size, ..., is >= 1)
METHOD_FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {  # low, high, high included
    "dropout": (0.0, 1.0, False),
    "density": (0.0, 1.0, True),
}


def _method_option_problem(key: str, value: Any, hint: Any) -> str | None:
    """Why ``value`` (already of type ``hint``) is out of range for option ``key``."""
    if hint is int:
        return COUNT.problem(value)
    if hint is not float:
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    low, high, closed = METHOD_FLOAT_RANGES.get(key, (-math.inf, math.inf, True))
    if value < low or value > high or (value == high and not closed):
        return f"must lie in [{low:g}, {high:g}{']' if closed else ')'}, got {value!r}"
    return None


def check_method_options(
    method: str, options: Mapping[str, Any], where: str, label: Callable[[str], str]
) -> None:
    """Options of ``method`` must be its fields, of the field's type and range; errors name
    the options as ``where`` (all of them) or ``label(key)`` (one)."""
    try:
        chosen = get_method(method, **options)  # unknown method or option names
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    hints = typing.get_type_hints(chosen.config_class)
    for key, value in options.items():
        if hints[key] not in (int, float, bool, str):
            continue  # lists (target_modules): the method and peft check them
        convert(value, hints[key], label(key))
        problem = _method_option_problem(key, value, hints[key])
        if problem:
            raise ConfigError(f"{label(key)} {problem}")


def _check_input_path(value: str | None, option: str) -> None:
    """An option that may name a file (corpus, word list) must then be UTF-8."""
    if value and Path(value).is_file():
        check_text_file(value, option)


def check_values(config: UpstreamConfig, label: Callable[[str], str] = cli_option) -> None:
    """The numbers, precision and objective of ``config``; a :class:`ConfigError` names the
    option as ``label(field)``."""
    check_settings(dataclasses.asdict(config), UPSTREAM_BOUNDS, label)
    check_precision(config.bf16, config.fp16)
    if config.objective not in OBJECTIVES:
        raise ConfigError(
            f"unknown {label('objective')} {config.objective!r}; valid: {', '.join(OBJECTIVES)}"
        )


def validate_upstream(config: UpstreamConfig) -> UpstreamConfig:
    """Check an :class:`UpstreamConfig` before anything is loaded; returns it, with
    ``max_length`` clamped to the model's positions where needed."""
    check_values(config)
    options = config.method_options
    check_method_options(config.method, options, "--method-option", "--method-option {}".format)
    check_data_dir(config.data_dir)
    _check_input_path(config.corpus, "--corpus")
    _check_input_path(config.axis, "--axis")
    check_model(config.model)
    check_output_dir(config.output, config.overwrite, resume=config.resume, marker="debias.json")
    if config.resume:
        check_checkpoints(Path(config.output) / "checkpoints")
    wanted = config.max_length or upstream_preset(config.preset).max_length
    virtual = get_method(config.method, **config.method_options).virtual_tokens
    length = clamp_max_length(wanted, config.model, virtual)
    return config if length == wanted else dataclasses.replace(config, max_length=length)


# --- the resolved plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamPlan:
    """What one upstream run uses: the method, the word lists of its axes, and every number
    (the config's value, else the preset's)."""

    method: DebiasMethod
    word_lists: list[WordList]
    augmenter: CounterfactualAugmenter | MultiAxisAugmenter  # of the word lists, jointly
    max_steps: int
    eval_steps: int
    batch_size: int
    learning_rate: float
    max_length: int
    head_warmup_steps: int
    head_learning_rate: float
    calibration_steps: int
    eval_fraction: float
    max_eval_texts: int
    mlm_weight: float
    consistency_weight: float

    @property
    def objective(self) -> tuple[float, float]:
        """``(masked-LM weight, consistency weight)`` of the module's training."""
        return self.mlm_weight, self.consistency_weight


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def resolve_plan(
    config: UpstreamConfig,
    method: DebiasMethod | None = None,
    word_lists: list[WordList] | None = None,
) -> UpstreamPlan:
    """The :class:`UpstreamPlan` of a validated ``config`` (loads its word lists); ``method``
    and ``word_lists``, when given, replace those ``config`` names (the Python API's
    objects)."""
    preset = upstream_preset(config.preset)
    method = method or get_method(config.method, **config.method_options)
    if word_lists is None:
        word_lists = load_axes(config.axis, data_dir=config.data_dir)  # "gender,race": joint
    max_steps = _pick(config.max_steps, preset.max_steps)
    batch_size = max(batch_size_for(config.preset, word_list.axis) for word_list in word_lists)
    return UpstreamPlan(
        method=method,
        word_lists=word_lists,
        augmenter=axis_augmenter(word_lists),
        max_steps=max_steps,
        eval_steps=min(_pick(config.eval_steps, preset.eval_steps), max_steps),
        batch_size=_pick(config.batch_size, batch_size),
        learning_rate=_pick(config.learning_rate, preset.learning_rate),
        max_length=_pick(config.max_length, preset.max_length),
        head_warmup_steps=_pick(config.head_warmup_steps, preset.head_warmup_steps),
        head_learning_rate=preset.head_learning_rate,
        # gradient-only calibrations (gps, spt) ask for a few batches, not the preset's run
        calibration_steps=_pick(
            config.calibration_steps, method.calibration_steps or preset.calibration_steps
        ),
        eval_fraction=preset.eval_fraction,
        max_eval_texts=preset.max_eval_texts,
        mlm_weight=0.0 if config.objective == "consistency" else 1.0,
        consistency_weight=(
            config.consistency_weight if "consistency" in config.objective else 0.0
        ),
    )
