"""Every downstream metric a report shows, declared once.

A :class:`ReportedMetric` says where its value lies in a downstream ``metrics.json`` (split
and key path in :class:`~peftdebias.metrics.results.SplitMetrics`, checked against those
records when registered), how it reads (display name, whether lower or higher is better,
digits, scale for the paper's units) and where it appears (Table 2, the goal check, the
score-vs-bias plot, next to a column of the paper's Table 2). The report's columns, the
goal check's bias metrics and the plot's bias axis all come from :func:`reported_metrics`.

Adding a metric: compute it in :mod:`peftdebias.metrics.report` (``compute_metrics``), give
it a record in :mod:`peftdebias.metrics.results` and :func:`register` it here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .results import SplitMetrics

LOWER = "lower"
HIGHER = "higher"
CLOSER_TO_1 = "closer to 1"
TABLE2 = "table2"
TASK = "task"  # the key of the task score: the run's selection metric, see ReportedMetric.path_for
TASK_TITLES = {"accuracy": "Acc", "macro_f1": "F1"}


@dataclass(frozen=True)
class ReportedMetric:
    """One reported metric (see the module docstring).

    ``key`` names the column in the report and its CSVs; ``name`` is its display name
    (default: ``key``), ``short`` the one of the tables next to the paper (default:
    ``name``). ``direction``: which way is less biased (or better, for the task score).
    ``scale`` converts to the paper's units (100: a fraction shown in percent).
    ``paper``: the paper's Table 2 column it is comparable with. ``goal``: one of the goal
    check's bias metrics. ``plot``: a candidate bias axis of the score-vs-bias plot (the
    first present is drawn). ``ideal``: the unbiased value of a bias metric, from which
    the efficacy table measures the distance ``|value - ideal|`` (None: not compared
    there)."""

    key: str
    split: str
    path: tuple[str, ...]
    direction: str
    name: str | None = None
    short: str | None = None
    digits: int = 3
    scale: float = 1.0
    paper: str | None = None
    goal: bool = False
    plot: bool = False
    table: str = TABLE2
    ideal: float | None = None

    @property
    def title(self) -> str:
        return self.name or self.key

    @property
    def short_title(self) -> str:
        return self.short or self.title

    def path_for(self, task_metric: str) -> tuple[str, ...]:
        """The key path in a split's metrics; the task score's ends with ``task_metric``."""
        return (*self.path, task_metric) if self.key == TASK else self.path


def task_title(task_metric: str | None) -> str:
    """The column title of the task score (``Acc``, ``F1``; ``score`` when unknown)."""
    return TASK_TITLES.get(task_metric or "", "score")


_METRICS: list[ReportedMetric] = []


def register(metric: ReportedMetric) -> ReportedMetric:
    """Add ``metric`` after the registered ones (its path must follow the metric records)."""
    if any(m.key == metric.key for m in _METRICS):
        raise ConfigError(f"reported metric {metric.key!r} is registered already")
    full = metric.path_for("macro_f1")
    if not SplitMetrics.has_path(full):
        raise ConfigError(
            f"reported metric {metric.key!r}: {'.'.join(full)} is no field of the metric records"
        )
    _METRICS.append(metric)
    return metric


def reported_metrics(table: str | None = TABLE2) -> tuple[ReportedMetric, ...]:
    """The registered metrics of ``table`` (None: all), in report order."""
    return tuple(m for m in _METRICS if table is None or m.table == table)


def goal_metrics() -> tuple[str, ...]:
    """The keys of the goal check's bias metrics."""
    return tuple(m.key for m in _METRICS if m.goal)


TASK_SCORE = register(
    ReportedMetric(TASK, "test", ("classification",), HIGHER, scale=100.0, paper=TASK)
)
register(ReportedMetric("TPR-GAP", "test", ("tpr-gap", "tpr_gap_rms"), LOWER, plot=True, ideal=0.0))
register(ReportedMetric("FPRD", "test", ("fprd", "fprd"), LOWER, goal=True, plot=True, ideal=0.0))
register(
    ReportedMetric(
        "FPRD-IPTTS", "iptts", ("iptts-fprd", "fprd"), LOWER, goal=True, plot=True, ideal=0.0
    )
)
# the level FPRD is measured around: FPRD grows with it when every term's FPR moves together
register(
    ReportedMetric(
        "FPR-IPTTS", "iptts", ("iptts-fprd", "overall_fpr"), LOWER, scale=100.0,
        name="FPR-IPTTS (all terms)", short="FPR-IPTTS",
    )
)  # fmt: skip
# the reference code's variants, on the scale of the paper's published numbers
register(
    ReportedMetric(
        "FPRD (ref. code)", "test", ("fprd", "fprd_reference_code", "fprd"), LOWER,
        short="FPRD ref.", paper="FPRD",
    )
)  # fmt: skip
register(
    ReportedMetric(
        "FPRD-IPTTS (ref. code)", "iptts", ("fprd", "fprd_reference_code", "fprd"), LOWER,
        short="FPRD-IPTTS ref.", paper="FPRD-IPTTS",
    )
)  # fmt: skip
register(ReportedMetric("GAP F1", "test", ("gap", "f1"), HIGHER, scale=100.0))
register(
    ReportedMetric(
        "GAP F/M", "test", ("gap", "bias"), CLOSER_TO_1, short="F/M", plot=True, ideal=1.0
    )
)
register(
    ReportedMetric(
        "Bias-NLI FN", "bias-nli", ("bias-nli", "fraction_neutral"), HIGHER, short="FN",
        paper="Bias-NLI FN", plot=True, ideal=1.0,
    )
)  # fmt: skip
register(ReportedMetric("Bias-NLI NN", "bias-nli", ("bias-nli", "net_neutral"), HIGHER, short="NN"))
