"""The downstream metrics file (``metrics.json`` of ``peftdebias downstream``) as typed records.

Per evaluated split (``dev``, ``test``, ``iptts``, ``bias-nli``): what
:func:`~peftdebias.metrics.compute_metrics` computed (one record per metric, with its
per-class or per-term table), the 95 % intervals of the headline numbers keyed by their
path (``"fprd.fprd_reference_code.fprd"``) and the inference speed. Each metric's headline
numbers are required when the metric is present; tables and details are optional.

>>> metrics = MetricsFile.load("runs/x/downstream/ghc/ft/s42/metrics.json")  # doctest: +SKIP
>>> metrics.splits["test"].metrics.fprd.fprd                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import Record, key
from .intervals import Interval


@dataclass
class ClassScore(Record):
    """One row of the per-class table of the classification scores."""

    class_: int | str = field(metadata=key("class"))
    support: int
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass
class ClassificationRecord(Record):
    """Accuracy, macro-F1 and the per-class table."""

    accuracy: float
    macro_f1: float
    n: int | None = None
    per_class: list[ClassScore] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class TprGapRow(Record):
    """One class of TPR-GAP; its per-group columns (``n_male``, ``tpr_female``, ...) are in
    ``extra``."""

    class_: int | str = field(metadata=key("class"))
    gap: float | None


@dataclass
class TprGapRecord(Record):
    """TPR-GAP: its RMS over classes and the per-class gaps between the two groups."""

    tpr_gap_rms: float | None
    groups: list[str] = field(default_factory=list)
    per_class: list[TprGapRow] = field(default_factory=list)
    skipped_classes: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class TermRow(Record):
    """One identity term of FPRD: examples with it, gold negatives, false positives, FPR."""

    term: str
    n: int
    negatives: int
    false_positives: int
    fpr: float | None
    abs_diff: float | None


@dataclass
class ReferenceFprdRecord(Record):
    """The PEFTDebias reference code's FPRD variant and its per-term rates."""

    fprd: float | None
    overall_rate: float | None = None
    terms: str | None = None
    per_term: dict[str, float] = field(default_factory=dict)


@dataclass
class FprdRecord(Record):
    """FPRD (test split) or IPTTS FPRD: the sum, the overall FPR and the per-term table."""

    fprd: float | None
    overall_fpr: float | None = None
    terms_scored: int | None = None
    skipped_terms: list[str] = field(default_factory=list)
    per_term: list[TermRow] = field(default_factory=list)
    terms_source: str | None = None
    fprd_reference_code: ReferenceFprdRecord | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class GapRecord(Record):
    """GAP coreference F1 (overall, per pronoun gender) and the F/M bias."""

    f1: float | None
    bias: float | None
    f1_masculine: float | None = None
    f1_feminine: float | None = None
    groups: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class BiasNliRecord(Record):
    """Bias-NLI net neutral and fraction neutral; the ``threshold_<tau>`` fractions are in
    ``extra`` (see :attr:`thresholds`)."""

    net_neutral: float | None
    fraction_neutral: float | None
    n: int | None = None
    neutral_index: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def thresholds(self) -> dict[float, float]:
        """T:tau by tau."""
        prefix = "threshold_"
        return {float(k[len(prefix) :]): v for k, v in self.extra.items() if k.startswith(prefix)}


@dataclass
class SplitMetrics(Record):
    """The metrics computed on one split; a metric its fields did not allow is None."""

    classification: ClassificationRecord | None = None
    tpr_gap: TprGapRecord | None = field(default=None, metadata=key("tpr-gap"))
    fprd: FprdRecord | None = None
    iptts_fprd: FprdRecord | None = field(default=None, metadata=key("iptts-fprd"))
    gap: GapRecord | None = None
    bias_nli: BiasNliRecord | None = field(default=None, metadata=key("bias-nli"))


@dataclass
class SplitResult(Record):
    """One evaluated split (also the output of ``peftdebias metrics``): the predictions
    file, its size, the metrics and the intervals of their headline numbers."""

    metrics: SplitMetrics
    predictions: str | None = None
    n: int | None = None
    intervals: dict[str, Interval] = field(default_factory=dict)
    inference: dict[str, Any] | None = None

    def interval(self, path: tuple[str, ...]) -> Interval | None:
        """The stored interval of the value at ``path`` in :attr:`metrics`."""
        return self.intervals.get(".".join(path))


@dataclass
class MetricsFile(Record):
    """``metrics.json`` of a downstream run: the splits' results and the run's settings."""

    splits: dict[str, SplitResult]
    task: str | None = None
    start: str | None = None
    baseline: str | None = None
    config: dict[str, Any] | None = None
    selection_metric: str | None = None
    modules: list[Any] | None = None  # the composed modules, in order
    module_frozen_checksum: Any = None
    seconds: float | None = None

    @property
    def task_metric(self) -> str:
        """The classification score the run selected on (``macro_f1`` unless recorded)."""
        return self.selection_metric or "macro_f1"
