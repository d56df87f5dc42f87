"""The intrinsic benchmarks and the Table 1 columns they fill, declared once.

A :class:`Benchmark` names a benchmark (``--benchmarks`` value, display name), the bias types
it covers (with the aliases of its data), the runner that scores a loaded model and the
record of its results (a field of :class:`~peftdebias.intrinsic.results.IntrinsicResult`).
:func:`~peftdebias.intrinsic.evaluate_intrinsic` runs them, the CLI and the experiment config
take their names from :data:`BENCHMARKS`.

A :class:`TableColumn` is one Table 1 column of the report (``<bias type> <name>``): the
benchmark it reads, its value and its within-run 95 % interval (computed from the cell's
per-item score files where needed, see :class:`ScoredCell`); :func:`table1_columns` gives them
in table order.

Adding a benchmark: its runner module, a record (and an ``IntrinsicResult`` field) in
:mod:`peftdebias.intrinsic.results`, and here its :class:`Benchmark` in :data:`REGISTRY` and
its columns (:func:`register_column`).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metrics.intervals import Interval, crows_interval, stereoset_intervals, t_interval
from .results import IntrinsicResult

if TYPE_CHECKING:
    from .evaluate import IntrinsicConfig

STEREOSET_DOMAIN = {"race-color": "race"}  # a CrowS-Pairs bias type -> its StereoSet domain


@dataclass(frozen=True)
class BenchmarkRun:
    """What a runner returns: the summary stored in ``intrinsic.json``, the per-item records
    (written to ``<benchmark>_scores.jsonl``; None: none) and the model's forward calls."""

    summary: Any
    details: list[dict[str, Any]] | None
    forward_calls: int


# runner(model, tokenizer, config, bias type in the benchmark's naming or None, data_dir)
Runner = Callable[[Any, Any, "IntrinsicConfig", "str | None", Any], BenchmarkRun]


@dataclass(frozen=True)
class Benchmark:
    """One intrinsic benchmark (see the module docstring). ``bias_types``: the names its data
    uses (None: any); ``aliases``: other names accepted for them."""

    name: str
    display_name: str
    run: Runner
    bias_types: Callable[[], tuple[str, ...]]
    aliases: Mapping[str, str] = field(default_factory=dict)
    uses_mlm_head: bool = True  # its scores mean nothing with an untrained head


def _run_crows(model, tokenizer, config: IntrinsicConfig, bias: str | None, data_dir):
    from ..data.registry import load
    from .crows import CrowSPairsRunner

    runner = CrowSPairsRunner(model, tokenizer, config.crows_scoring, config.batch_size)
    output = runner(load("crows-pairs", "test", data_dir), bias)
    pairs = output.pop("pairs")
    return BenchmarkRun(output, pairs, runner.scorer.forward_calls)


def _run_stereoset(model, tokenizer, config: IntrinsicConfig, bias: str | None, data_dir):
    from ..data.registry import load
    from .stereoset import StereoSetRunner

    runner = StereoSetRunner(model, tokenizer, config.batch_size)
    output = runner(load("stereoset", config.stereoset_split, data_dir), bias)
    output["split"] = config.stereoset_split
    items = output.pop("items")
    return BenchmarkRun(output, items, runner.scorer.forward_calls)


def _run_seat(model, tokenizer, config: IntrinsicConfig, bias: str | None, data_dir):
    from ..data.registry import load
    from .seat import SEATRunner, default_tests

    tests = config.seat_tests or default_tests(bias)
    runner = SEATRunner(
        model,
        tokenizer,
        pooling=config.seat_pooling,
        batch_size=config.batch_size or 1,
        n_samples=config.seat_samples,
        seed=config.seed,
    )
    output = {"tests": runner({name: load("seat", name, data_dir) for name in tests})}
    return BenchmarkRun(output, None, runner.encoder.forward_calls)


def _crows_types() -> tuple[str, ...]:
    from ..data.sources.intrinsic import CROWS_BIAS_TYPES

    return CROWS_BIAS_TYPES


def _stereoset_domains() -> tuple[str, ...]:
    from ..data.sources.intrinsic import STEREOSET_DOMAINS

    return STEREOSET_DOMAINS


def _seat_types() -> tuple[str, ...]:
    from .seat import SEAT_TESTS_BY_BIAS

    return tuple(SEAT_TESTS_BY_BIAS)


REGISTRY: tuple[Benchmark, ...] = (
    Benchmark("crows", "CrowS-Pairs", _run_crows, _crows_types, {"race": "race-color"}),
    Benchmark("stereoset", "StereoSet", _run_stereoset, _stereoset_domains, STEREOSET_DOMAIN),
    Benchmark("seat", "SEAT", _run_seat, _seat_types, STEREOSET_DOMAIN, uses_mlm_head=False),
)
BENCHMARKS: tuple[str, ...] = tuple(b.name for b in REGISTRY)


def benchmark(name: str) -> Benchmark:
    """The registered benchmark ``name`` (KeyError when there is none)."""
    return {b.name: b for b in REGISTRY}[name]


# --- Table 1 of the report -----------------------------------------------------------------


@dataclass
class ScoredCell:
    """One bias type of a finished intrinsic cell: its result and its folder, which holds
    the per-item score files (``<benchmark>-<bias type>_scores.jsonl``)."""

    folder: Path
    bias_type: str
    result: IntrinsicResult

    def items(self, benchmark_name: str) -> list[dict[str, Any]] | None:
        """The per-item records of ``benchmark_name`` (None: no score file)."""
        path = self.folder / f"{benchmark_name}-{self.bias_type}_scores.jsonl"
        if not path.is_file():
            return None
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    @cached_property
    def stereoset_intervals(self) -> dict[str, Interval]:
        """SS and LMS bootstrapped over the items of the bias type's domain (empty when the
        items or the domain are missing)."""
        domain = STEREOSET_DOMAIN.get(self.bias_type, self.bias_type)
        items = self.items("stereoset")
        stereoset = self.result.stereoset
        if items is None or stereoset is None:
            return {}
        try:
            return stereoset_intervals(items, domain if domain in stereoset.by_domain else None)
        except (KeyError, ValueError, TypeError):
            return {}


@dataclass(frozen=True)
class TableColumn:
    """One Table 1 column: ``value`` of a cell's result for a bias type, and its within-run
    95 % interval (None: none); ``ideal``: the unbiased value of a bias score (None: not a
    bias score, e.g. the language-model score)."""

    name: str
    benchmark: str
    value: Callable[[IntrinsicResult, str], float | None]
    interval: Callable[[ScoredCell, float], Interval | None]
    ideal: float | None = None


def _stereoset_scores(result: IntrinsicResult, bias_type: str):
    stereoset = result.stereoset
    domain = stereoset.by_domain.get(STEREOSET_DOMAIN.get(bias_type, bias_type))
    return domain or stereoset.overall


def _stereoset_interval(key: str) -> Callable[[ScoredCell, float], Interval | None]:
    def interval(cell: ScoredCell, value: float) -> Interval | None:
        found = cell.stereoset_intervals.get(key)
        estimate = found.estimate if found is not None else None
        return found if estimate is not None and math.isclose(estimate, value) else None

    return interval


def _crows_interval(cell: ScoredCell, value: float) -> Interval | None:
    crows = cell.result.crows
    if crows.stereo_preferred is None or crows.antistereo_preferred is None:
        return None
    return crows_interval(crows.to_json())


def _seat_value(result: IntrinsicResult, bias_type: str) -> float | None:
    sizes = result.seat.absolute_effect_sizes()
    return statistics.fmean(sizes) if sizes else None


def _seat_interval(cell: ScoredCell, value: float) -> Interval | None:
    over_tests = t_interval(cell.result.seat.absolute_effect_sizes())
    return Interval(**{**over_tests.to_dict(), "method": "t over SEAT tests"})


_COLUMNS: list[TableColumn] = []


def register_column(column: TableColumn) -> TableColumn:
    """Add a Table 1 column after the registered ones."""
    _COLUMNS.append(column)
    return column


def table1_columns() -> tuple[TableColumn, ...]:
    """The registered Table 1 columns, in table order."""
    return tuple(_COLUMNS)


register_column(
    TableColumn(
        "SS LM", "stereoset", lambda r, b: _stereoset_scores(r, b).lms, _stereoset_interval("lms")
    )
)
register_column(
    TableColumn(
        "SS",
        "stereoset",
        lambda r, b: _stereoset_scores(r, b).ss,
        _stereoset_interval("ss"),
        ideal=50.0,
    )
)
register_column(
    TableColumn("CrowS", "crows", lambda r, b: r.crows.metric, _crows_interval, ideal=50.0)
)
register_column(TableColumn("SEAT ES", "seat", _seat_value, _seat_interval, ideal=0.0))
