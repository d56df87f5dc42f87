"""Options of the downstream phase: :class:`DownstreamConfig`, checked once before anything
is loaded (:func:`validate_downstream`, :func:`check_options`) and resolved against its
preset and task (:func:`resolve_plan`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cda import AXES, load_word_list
from ..errors import ConfigError, DataError
from ..methods.compose import as_folders, check_composition
from ..methods.registry import method_of
from ..metrics.results import MetricsFile
from ..metrics.terms import axis_terms, read_term_file
from ..models import clamp_max_length
from ..presets import DOWNSTREAM_PRESETS, downstream_preset
from ..tasks import TaskSpec, get_task
from ..training.trainer import check_precision
from ..validation import (
    DOWNSTREAM_BOUNDS,
    check_checkpoints,
    check_class_weights,
    check_data_dir,
    check_model,
    check_output_dir,
    check_settings,
    check_task_file,
    cli_option,
)
from .evaluations import TaskEvaluation, evaluation_of
from .options import BASELINES, PRECISIONS, DownstreamConfig

DEFAULT_CLP_WEIGHT = 1.0  # --baseline clp without --clp-weight


@dataclass
class DownstreamResult:
    """The output folder of a downstream run and its ``metrics.json`` content."""

    output: Path
    metrics: dict[str, Any]

    @property
    def record(self) -> MetricsFile:
        """:attr:`metrics` as typed records (``record.splits["test"].metrics.fprd.fprd``)."""
        return MetricsFile.from_json(self.metrics, str(self.output / "metrics.json"))


def start_of(config: DownstreamConfig) -> str:
    """Which start ``config`` fine-tunes from: ``debias``, ``full_debias`` or ``baseline``."""
    chosen = [
        name
        for name, value in (
            ("debias", config.debias),
            ("full_debias", config.full_debias),
            ("baseline", config.baseline),
        )
        if value
    ]
    if len(chosen) != 1:
        raise ConfigError(
            "give exactly one of --debias DIR, --full-debias DIR, --baseline " + "|".join(BASELINES)
        )
    if config.baseline and config.baseline not in BASELINES:
        raise ConfigError(f"unknown --baseline {config.baseline!r}; valid: {', '.join(BASELINES)}")
    return chosen[0]


def clp_weight(config: DownstreamConfig) -> float:
    """The counterfactual logit pairing weight of ``config`` (0: no CLP)."""
    if config.clp_weight is not None:
        return float(config.clp_weight)
    return DEFAULT_CLP_WEIGHT if config.baseline == "clp" else 0.0


def counterfactual_axis(config: DownstreamConfig) -> str:
    """The CDA axis (or word-list file) of the counterfactuals of ``config``."""
    if config.cda_axis:
        return config.cda_axis
    return config.fprd_axis if config.fprd_axis in AXES else "group"


# --- checks -----------------------------------------------------------------------------------


def check_option_values(values: dict[str, Any], label: Callable[[str], str] = cli_option) -> None:
    """Values of the options the downstream phase adds (CLP weight, inference, intervals); a
    :class:`ConfigError` naming the option (``label(field)``) for a bad one. Also used by the
    experiment config's validation."""
    weight = values.get("clp_weight")
    if weight is not None and not (
        isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0
    ):
        raise ConfigError(f"{label('clp_weight')} must be a number >= 0, got {weight!r}")
    if values.get("precision", "fp32") not in PRECISIONS:
        raise ConfigError(
            f"{label('precision')}: {values['precision']!r}; valid: {', '.join(PRECISIONS)}"
        )
    if values.get("inference_batch_size", 1) < 1:
        raise ConfigError(
            f"{label('inference_batch_size')} must be at least 1, "
            f"got {values['inference_batch_size']}"
        )
    if values.get("bootstrap_resamples", 0) < 0:
        raise ConfigError(
            f"{label('bootstrap_resamples')} must be >= 0 (0: no intervals), "
            f"got {values['bootstrap_resamples']}"
        )


def check_options(config: DownstreamConfig) -> None:
    """The options the downstream phase adds (baselines, CLP, inference, intervals), checked
    before anything is loaded; :class:`ConfigError` naming the option."""
    start_of(config)
    check_option_values(dataclasses.asdict(config))
    if config.baseline == "cda" or clp_weight(config) > 0:
        try:
            load_word_list(counterfactual_axis(config), config.data_dir)
        except (ConfigError, DataError) as exc:
            raise ConfigError(f"--cda-axis: {exc}") from None


def _module_virtual_tokens(value: str | list[str] | None, option: str) -> int:
    """Positions the module(s) in ``value`` (one folder or several) prepend (0 without one);
    reads their module.json, and checks that several modules compose."""
    folders = as_folders(value)
    if len(folders) > 1:
        check_composition(folders, option)
        return 0  # prompt-learning modules do not compose
    if not folders:
        return 0
    try:
        return method_of(folders[0]).virtual_tokens
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _check_terms(config: DownstreamConfig) -> None:
    """The FPRD identity terms: a readable term file, else a known axis."""
    if config.fprd_terms:
        read_term_file(config.fprd_terms, "--fprd-terms")
        return
    try:
        axis_terms(config.fprd_axis)
    except ConfigError as exc:
        raise ConfigError(f"--fprd-axis: {exc}; or give --fprd-terms FILE") from None


def validate_downstream(config: DownstreamConfig) -> DownstreamConfig:
    """Check a :class:`DownstreamConfig` before anything is loaded or trained; returns it,
    with ``max_length`` clamped to the model's positions where needed."""
    check_settings(dataclasses.asdict(config), DOWNSTREAM_BOUNDS, cli_option)
    check_precision(config.bf16, config.fp16)
    check_class_weights(config.class_weights, "--class-weights")
    check_data_dir(config.data_dir)
    if Path(config.task).is_file():
        check_task_file(config.task, carved=not (config.dev_file or config.test_file))
    for option, path in (("--dev-file", config.dev_file), ("--test-file", config.test_file)):
        if path:
            check_task_file(path, option, carved=False)
    _check_terms(config)
    check_model(config.model)
    virtual = _module_virtual_tokens(config.debias, "--debias")
    _module_virtual_tokens(config.full_debias, "--full-debias")
    check_output_dir(config.output, config.overwrite, resume=config.resume, marker="metrics.json")
    if config.resume:
        check_checkpoints(Path(config.output) / "checkpoints")
    preset = DOWNSTREAM_PRESETS.get(config.preset)
    wanted = config.max_length or (preset.max_length if preset else None)
    if wanted is None:
        return config  # resolve_plan names the unknown preset
    length = clamp_max_length(wanted, config.model, virtual)
    return config if length == wanted else dataclasses.replace(config, max_length=length)


# --- the resolved plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class DownstreamPlan:
    """What one downstream run uses: its start, task, task evaluation, and every number (the
    config's value, else the preset's or the task's)."""

    start: str
    task: TaskSpec
    evaluation: TaskEvaluation
    epochs: float
    batch_size: int
    learning_rate: float
    max_length: int
    max_train_examples: int | None
    max_eval_examples: int | None
    max_bias_nli_examples: int | None
    class_weights: dict[int, float] | None
    clp_weight: float


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def resolve_plan(config: DownstreamConfig) -> DownstreamPlan:
    """The :class:`DownstreamPlan` of a validated ``config``."""
    start = start_of(config)
    check_options(config)
    task = get_task(config.task, config.dev_file, config.test_file)
    preset = downstream_preset(config.preset)
    return DownstreamPlan(
        start=start,
        task=task,
        evaluation=evaluation_of(task),
        epochs=_pick(config.epochs, preset.epochs),
        batch_size=_pick(config.batch_size, preset.batch_size),
        learning_rate=_pick(config.learning_rate, preset.learning_rate),
        max_length=_pick(config.max_length, preset.max_length),
        max_train_examples=_pick(config.max_train_examples, preset.max_train_examples),
        max_eval_examples=_pick(config.max_eval_examples, preset.max_eval_examples),
        max_bias_nli_examples=_pick(config.max_bias_nli_examples, preset.max_bias_nli_examples),
        class_weights=_pick(config.class_weights, task.class_weights),
        clp_weight=clp_weight(config),
    )
