"""Intrinsic benchmark results as typed records.

- :class:`IntrinsicResult`: what :func:`~peftdebias.intrinsic.evaluate_intrinsic` returns for
  one bias type (settings, MLM-head state, one record per benchmark run, runtimes);
- :class:`IntrinsicRun`: ``intrinsic.json`` of ``peftdebias intrinsic`` (the same, with the
  model and module it scored);
- :class:`IntrinsicCellFile`: ``intrinsic.json`` of an experiment cell (one
  :class:`IntrinsicResult` per bias type; none for a skipped head-only cell).

Each benchmark's headline numbers are required when the benchmark is present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import Record


@dataclass
class CrowsSummary(Record):
    """CrowS-Pairs metric (percent of pairs preferring the more stereotypical sentence) and
    the counts behind it."""

    metric: float | None
    n: int
    stereotype_score: float | None = None
    antistereotype_score: float | None = None
    neutral_percent: float | None = None
    neutral: int | None = None
    stereo_pairs: int | None = None
    stereo_preferred: int | None = None
    antistereo_pairs: int | None = None
    antistereo_preferred: int | None = None


@dataclass
class CrowsRecord(CrowsSummary):
    """CrowS-Pairs over the selected pairs, with the scoring and per-bias-type summaries."""

    scoring: str | None = None
    skipped: list[str] = field(default_factory=list)
    by_bias_type: dict[str, CrowsSummary] = field(default_factory=dict)


@dataclass
class StereoSetScores(Record):
    """StereoSet SS, LMS and ICAT of a set of items (averaged over targets)."""

    ss: float | None
    lms: float | None
    count: int | None = None
    terms: int | None = None
    icat: float | None = None
    icat_micro: float | None = None


@dataclass
class StereoSetRecord(Record):
    """StereoSet intrasentence: overall and per domain."""

    overall: StereoSetScores
    by_domain: dict[str, StereoSetScores] = field(default_factory=dict)
    split: str | None = None


@dataclass
class SeatTest(Record):
    """One SEAT test: effect size and permutation p-value."""

    test: str
    effect_size: float | None
    p_value: float | None = None
    categories: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    exact: bool | None = None
    partitions: int | None = None


@dataclass
class SeatRecord(Record):
    """The SEAT tests run."""

    tests: list[SeatTest]

    def absolute_effect_sizes(self) -> list[float]:
        """|effect size| of every test that has one."""
        return [abs(t.effect_size) for t in self.tests if t.effect_size is not None]


@dataclass
class MlmHead(Record):
    """Whether the scored model's masked-LM head was trained (else the scores are not
    meaningful)."""

    trained: bool
    missing_keys: list[str] = field(default_factory=list)
    warning: str | None = None


@dataclass
class IntrinsicResult(Record):
    """The benchmarks run on one model for one bias type; a benchmark not run is None."""

    config: dict[str, Any] | None = None
    mlm_head: MlmHead | None = None
    crows: CrowsRecord | None = None
    stereoset: StereoSetRecord | None = None
    seat: SeatRecord | None = None
    runtime: dict[str, dict[str, Any]] | None = None

    @property
    def head_trained(self) -> bool:
        """False when the model's masked-LM head was randomly initialised."""
        return self.mlm_head is None or self.mlm_head.trained


@dataclass
class IntrinsicRun(IntrinsicResult):
    """``intrinsic.json`` of ``peftdebias intrinsic``: the model and module(s) scored."""

    model: str | None = None
    debias: str | list[str] | None = None
    full_debias: str | None = None
    head_from: str | None = None


@dataclass
class IntrinsicCellFile(Record):
    """``intrinsic.json`` of an experiment cell: one result per bias type (None: the cell
    was skipped, e.g. a head-only row of a model with a trained head)."""

    model: str | None = None
    debias: str | list[str] | None = None
    full_debias: str | None = None
    head_from: str | None = None
    bias_types: dict[str, IntrinsicResult] | None = None
