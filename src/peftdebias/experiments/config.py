"""Experiment configuration: a strict YAML schema, validated before anything is trained.

An experiment is a grid: upstream modules (``methods`` x ``modules`` (axis, corpus) x
``upstream.seeds``), downstream tasks (each names the bias axis whose modules it receives; a
task equal to a module's corpus is *in-domain*, any other is *transfer*) x ``seeds``, the FT
baseline and Full-Debias (method ``full``), and optional intrinsic benchmarks. Every key is
checked: an unknown key, method, task, axis, benchmark or preset raises :class:`ConfigError`
naming its path (``upstream.methods[2]``) and the valid values.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError
from ..typed import build, convert
from ..validation import (
    DOWNSTREAM_BOUNDS,
    UPSTREAM_BOUNDS,
    check_class_weights,
    check_data_dir,
    check_model,
    check_name,
    check_settings,
)

# Options of UpstreamConfig / DownstreamConfig / IntrinsicConfig that the runner sets itself
# (per cell) and a config may therefore not override.
UPSTREAM_MANAGED = [
    "axis", "corpus", "corpus_split", "method", "output", "model", "preset", "data_dir",
    "seed", "method_options", "overwrite", "resume",
]  # fmt: skip
DOWNSTREAM_MANAGED = [
    "task", "output", "model", "debias", "full_debias", "baseline", "preset", "data_dir",
    "seed", "overwrite", "resume",
]  # fmt: skip
INTRINSIC_MANAGED = ("benchmarks", "bias_type", "seed")
# downstream baselines (peftdebias.downstream.BASELINES): plain fine-tuning, downstream CDA
# (the task's training set augmented along the task's axis), counterfactual logit pairing
BASELINES = ("ft", "cda", "clp")
ORDERS = ("seed", "module")
# Bias type of the intrinsic benchmarks for each CDA axis ("group" mixes race, religion and
# sexuality; its benchmark columns are the race ones, as in the paper's Table 1).
DEFAULT_BIAS_TYPES = {"gender": "gender", "race": "race", "religion": "religion", "group": "race"}


@dataclass
class ModuleSpec:
    """One upstream setting: a CDA axis and the corpus the module learns from."""

    axis: str
    corpus: str
    corpus_split: str = "train"
    name: str | None = None  # short name used in cell ids; default "<axis>-<corpus>"
    methods: list[str] | None = None  # default: every method of upstream.methods
    options: dict[str, Any] = field(default_factory=dict)  # UpstreamConfig fields (variants)

    @property
    def label(self) -> str:
        return self.name or f"{slug(self.axis)}-{slug(self.corpus)}"


@dataclass
class UpstreamSpec:
    methods: list[str]
    modules: list[ModuleSpec]
    preset: str = "quick"
    seeds: list[int] | None = None  # default: the first experiment seed
    options: dict[str, Any] = field(default_factory=dict)  # UpstreamConfig fields
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per method
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # per method


@dataclass
class TaskSpec:
    task: str
    axis: str  # modules of this axis are evaluated on the task
    fprd_axis: str | None = None  # identity terms for FPRD; default: the axis
    options: dict[str, Any] = field(default_factory=dict)  # DownstreamConfig fields
    seeds: list[int] | None = None  # default: the experiment's seeds


@dataclass
class DownstreamSpec:
    tasks: list[TaskSpec]
    baselines: list[str] = field(default_factory=lambda: ["ft"])
    preset: str = "quick"
    options: dict[str, Any] = field(default_factory=dict)  # DownstreamConfig fields


@dataclass
class IntrinsicSpec:
    benchmarks: list[str] = field(default_factory=lambda: ["crows", "stereoset", "seat"])
    bias_types: dict[str, str] = field(default_factory=dict)  # axis -> bias type
    base_model: bool = True  # also evaluate the model without any module (Table 1 "BERT" row)
    options: dict[str, Any] = field(default_factory=dict)  # IntrinsicConfig fields

    def bias_type(self, axis: str) -> str:
        return self.bias_types.get(axis) or DEFAULT_BIAS_TYPES.get(axis, axis)


@dataclass
class KeepSpec:
    checkpoints: bool = False  # Trainer checkpoints of finished cells
    models: bool = True  # downstream model/ folders (a full classifier each)


@dataclass
class ExperimentConfig:
    """A whole experiment grid; see the module docstring and ``docs/experiments.md``."""

    name: str
    model: str = "minilm"
    data_dir: str | None = None
    seeds: list[int] = field(default_factory=lambda: [42])
    upstream: UpstreamSpec | None = None
    downstream: DownstreamSpec | None = None
    intrinsic: IntrinsicSpec | None = None
    keep: KeepSpec = field(default_factory=KeepSpec)
    # folder of committed small results (relative paths: to the config file's folder);
    # peftdebias run copies each finished cell there and skips cells found there
    results: str | None = None
    # run order: "seed" (every row one seed at a time) or "module" (FT, then each module with
    # all its cells, then the other baselines: module weights are needed in one stretch)
    order: str = "seed"

    @property
    def upstream_seeds(self) -> list[int]:
        if self.upstream and self.upstream.seeds:
            return list(self.upstream.seeds)
        return [self.seeds[0]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def slug(text: str) -> str:
    """File-name-safe short form of a name or path (a path contributes its stem)."""
    if os.sep in text or "/" in text or Path(text).suffix:
        text = Path(text).stem
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.").lower() or "x"


# --- strict conversion of plain YAML data into the dataclasses above -------------------------


def check_options(options: dict[str, Any], target: type, managed: list[str], path: str) -> None:
    """Keys of ``options`` must be fields of dataclass ``target`` that the runner does not set,
    with values of the field's type."""
    hints = typing.get_type_hints(target)
    allowed = [f.name for f in dataclasses.fields(target) if f.name not in managed]
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(f"unknown key '{path}.{key}'; valid keys: {', '.join(allowed)}")
        hint = hints[key]
        if typing.get_origin(hint) is tuple:  # IntrinsicConfig's tuples come as YAML lists
            hint = list[typing.get_args(hint)[0]]
        elif typing.get_origin(hint) in (Union, types.UnionType):
            args = [
                list[typing.get_args(a)[0]] if typing.get_origin(a) is tuple else a
                for a in typing.get_args(hint)
            ]
            hint = Union[tuple(args)]  # noqa: UP007 (a runtime-built union)
        convert(value, hint, f"{path}.{key}")


# --- semantic validation ---------------------------------------------------------------------


def _one_of(value: str, valid: typing.Iterable[str], path: str, what: str) -> None:
    valid = list(valid)
    if value not in valid:
        raise ConfigError(f"{path}: unknown {what} {value!r}; valid: {', '.join(valid)}")


def _check_axis(axis: str, path: str) -> None:
    from ..cda import AXES

    if axis not in AXES and not Path(axis).is_file():
        raise ConfigError(
            f"{path}: unknown axis {axis!r}; valid: {', '.join(AXES)}, or a word-list file"
        )


def _check_corpus(corpus: str, split: str, path: str) -> None:
    from ..data import get_source, list_sources

    if Path(corpus).is_file():
        return
    try:
        source = get_source(corpus)
    except ConfigError:
        names = ", ".join(s.name for s in list_sources())
        raise ConfigError(
            f"{path}.corpus: unknown corpus {corpus!r}; valid: {names}, or a text file"
        ) from None
    _one_of(split, source.splits, f"{path}.corpus_split", f"split of {source.name}")


def _check_values(options: dict[str, Any], bounds: dict, path: str) -> None:
    """Numeric options in range (``batch_size: 0`` and ``learning_rate: .nan`` are errors)."""
    check_settings(options, bounds, lambda key: f"{path}.{key}")
    if bounds is DOWNSTREAM_BOUNDS:  # clp_weight, precision, inference and interval options
        from ..downstream import check_option_values

        check_option_values(options, lambda key: f"{path}.{key}")
    if "class_weights" in options:
        check_class_weights(options["class_weights"], f"{path}.class_weights")


def validate(config: ExperimentConfig) -> ExperimentConfig:
    """Check every name in ``config`` against the registries; raise ConfigError on the first
    problem (its key path and the valid values). Nothing is loaded or trained."""
    if not config.seeds:
        raise ConfigError("seeds: give at least one seed")
    _one_of(config.order, ORDERS, "order", "run order")
    check_data_dir(config.data_dir, "data_dir")
    check_model(config.model, "model")
    if not (config.upstream or config.downstream or config.intrinsic):
        raise ConfigError("the config has none of upstream, downstream, intrinsic: nothing to run")
    axes = _validate_upstream(config.upstream) if config.upstream is not None else set()
    if config.downstream is not None:
        _validate_downstream(config.downstream)
    if config.intrinsic is not None:
        _validate_intrinsic(config.intrinsic, axes)
    return config


def _validate_upstream(up: UpstreamSpec) -> set[str]:
    """Check the upstream section; returns the axes of its modules."""
    from ..methods import METHODS
    from ..presets import UPSTREAM_PRESETS
    from ..upstream.config import check_method_options

    if not up.methods or not up.modules:
        raise ConfigError("upstream: give at least one method and one module")
    for i, method in enumerate(up.methods):
        _one_of(method, METHODS, f"upstream.methods[{i}]", "method")
    for i, module in enumerate(up.modules):
        _validate_module(module, f"upstream.modules[{i}]")
    labels = [m.label for m in up.modules]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(
            f"upstream.modules: two modules are both called {duplicates[0]!r}; "
            "give them distinct 'name' keys"
        )
    _one_of(up.preset, UPSTREAM_PRESETS, "upstream.preset", "preset")
    _check_upstream_options(up.options, "upstream.options")
    for method, options in up.method_options.items():
        _one_of(method, up.methods, "upstream.method_options", "method (not in upstream.methods)")
        where = f"upstream.method_options.{method}"
        check_method_options(method, options, where, (where + ".{}").format)
    for method, options in up.method_overrides.items():
        _one_of(method, up.methods, "upstream.method_overrides", "method (not in upstream.methods)")
        _check_upstream_options(options, f"upstream.method_overrides.{method}")
    return {module.axis for module in up.modules}


def _check_upstream_options(options: dict[str, Any], where: str) -> None:
    from ..upstream import UpstreamConfig

    check_options(options, UpstreamConfig, UPSTREAM_MANAGED, where)
    _check_values(options, UPSTREAM_BOUNDS, where)


def _validate_module(module: ModuleSpec, path: str) -> None:
    from ..methods import METHODS

    check_name(module.label, f"{path}.name")
    _check_axis(module.axis, f"{path}.axis")
    _check_corpus(module.corpus, module.corpus_split, path)
    for j, method in enumerate(module.methods or []):
        _one_of(method, METHODS, f"{path}.methods[{j}]", "method")
    if module.methods == []:
        raise ConfigError(f"{path}.methods: give at least one method")
    _check_upstream_options(module.options, f"{path}.options")


def _validate_downstream(down: DownstreamSpec) -> None:
    from ..downstream import DownstreamConfig
    from ..presets import DOWNSTREAM_PRESETS

    if not down.tasks:
        raise ConfigError("downstream.tasks: give at least one task")
    _one_of(down.preset, DOWNSTREAM_PRESETS, "downstream.preset", "preset")
    check_options(down.options, DownstreamConfig, DOWNSTREAM_MANAGED, "downstream.options")
    _check_values(down.options, DOWNSTREAM_BOUNDS, "downstream.options")
    for i, baseline in enumerate(down.baselines):
        _one_of(baseline, BASELINES, f"downstream.baselines[{i}]", "baseline")
    for i, task in enumerate(down.tasks):
        _validate_task(task, f"downstream.tasks[{i}]")


def _validate_task(task: TaskSpec, path: str) -> None:
    from ..downstream import DownstreamConfig
    from ..metrics import AXES as TERM_AXES
    from ..tasks import TASKS

    if task.task not in TASKS and not Path(task.task).is_file():
        raise ConfigError(
            f"{path}.task: unknown task {task.task!r}; valid: {', '.join(TASKS)}, "
            "or a .csv/.tsv/.jsonl file"
        )
    _check_axis(task.axis, f"{path}.axis")
    fprd_axis = task.fprd_axis or task.axis
    if fprd_axis not in TERM_AXES and not Path(fprd_axis).is_file():
        raise ConfigError(
            f"{path}.fprd_axis: unknown term list {fprd_axis!r}; "
            f"valid: {', '.join(TERM_AXES)}, or a term file"
        )
    if task.seeds == []:
        raise ConfigError(f"{path}.seeds: give at least one seed (or leave it out)")
    check_options(task.options, DownstreamConfig, DOWNSTREAM_MANAGED, f"{path}.options")
    _check_values(task.options, DOWNSTREAM_BOUNDS, f"{path}.options")


def _validate_intrinsic(intr: IntrinsicSpec, axes: set[str]) -> None:
    from ..intrinsic import BENCHMARKS, IntrinsicConfig
    from ..intrinsic.evaluate import benchmark_bias_type

    for i, benchmark in enumerate(intr.benchmarks):
        _one_of(benchmark, BENCHMARKS, f"intrinsic.benchmarks[{i}]", "benchmark")
    if not intr.benchmarks:
        raise ConfigError(f"intrinsic.benchmarks: give at least one of {', '.join(BENCHMARKS)}")
    check_options(intr.options, IntrinsicConfig, list(INTRINSIC_MANAGED), "intrinsic.options")
    for axis in intr.bias_types:
        _check_axis(axis, f"intrinsic.bias_types.{axis}")
    for axis in sorted(axes | set(intr.bias_types)):
        for benchmark in intr.benchmarks:
            try:
                benchmark_bias_type(benchmark, intr.bias_type(axis))
            except ConfigError as exc:
                raise ConfigError(f"intrinsic.bias_types.{axis}: {exc}") from None
    if not axes and not intr.base_model:
        raise ConfigError("intrinsic: no upstream modules and base_model is false")


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None):
    """Read, build and validate the YAML experiment config at ``path``.

    ``overrides`` (e.g. ``{"data_dir": ...}``) replace top-level keys before validation.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        state = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"config file {path} {state}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return from_dict(data or {}, overrides, source=str(path))


def from_dict(
    data: dict[str, Any], overrides: dict[str, Any] | None = None, source: str = "config"
) -> ExperimentConfig:
    """Build and validate an :class:`ExperimentConfig` from plain data (parsed YAML)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping (name: ..., upstream: ...), "
            f"not a {type(data).__name__}"
        )
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        config = validate(build(ExperimentConfig, data))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if config.results and not (overrides or {}).get("results") and source != "config":
        # a results folder named in the file is relative to the file
        config.results = str(Path(source).parent / config.results)
    return config
