"""Which method debiases most per trainable parameter and per second of training (issue 16),
as data.

**Cost** of a module row: its upstream module's trainable parameters ``P`` and the seconds
``T`` of its upstream run (``debias.json``: loading, CDA, any selection pass such as GPS's
or SPT's, training and the held-out evaluations).

**Extrinsic** (each downstream task with FT, each row whose module was learned on the task's
axis), per bias metric with an ``ideal`` (:mod:`peftdebias.metrics.registry`): the distance
``d = |value - ideal|`` per seed, paired with FT over the seeds both have,

    R = -mean_s(d_row,s - d_FT,s)      (bias removed, in the metric's units)

with the 95 % paired t-interval of the difference; ``R / mean_s(d_FT,s)`` is the share of
FT's bias removed.

**Intrinsic** (each bias type; each module row against the base model without a module,
the first such row whose masked-LM head is trained): ``d = |value - ideal|`` of the Table 1
columns with an ideal (CrowS-Pairs, StereoSet SS: 50), ``R = -(d_row - d_base)`` in points,
its 95 % interval a paired percentile bootstrap over the items both cells scored (same
resampled items for both).

Efficacy: ``R / (P / 10^6)`` (per million trainable parameters) and ``R / (T / 60)`` (per
minute of upstream training); costs are constants, so the intervals scale alike. ``R`` is
kept in the metric's units because a share of the reference explodes where the reference
lies near the ideal (the base model's gender CrowS-Pairs: 52.3, 2.3 points from 50).
A reduction is **measured** when its interval lies above zero; ``best`` names the measured
rows with the highest efficacy (None: no row lowers that bias measurably).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..intrinsic.registry import STEREOSET_DOMAIN, ScoredCell, table1_columns
from ..metrics.intervals import Interval, bootstrap_interval, paired_comparison
from ..metrics.registry import TASK, reported_metrics
from .collect import Collected, Stat, sorted_rows
from .records import ModuleRecord

PER_PARAMETERS = 1e6  # efficacy per million trainable parameters
PER_SECONDS = 60.0  # efficacy per minute of upstream training


@dataclass
class Efficacy:
    """One row's reduction of one bias measure, with the cost of its module."""

    scope: str  # task (extrinsic) or bias type (intrinsic)
    row: str
    measure: str
    reduction: Interval  # bias removed, in the measure's units (estimate, low, high)
    reference: float  # the reference's (FT or base model) mean distance from the ideal
    parameters: int | None
    seconds: float | None
    seeds: int = 1

    @property
    def measured(self) -> bool:
        """The 95 % interval of the reduction lies above zero."""
        return self.reduction.low is not None and self.reduction.low > 0

    @property
    def share(self) -> Interval:
        """The reduction in percent of the reference's distance from the ideal."""
        return _scaled(self.reduction, 100.0 / self.reference)

    @property
    def per_million(self) -> Interval | None:
        """The reduction per million trainable parameters (None without a count)."""
        return (
            _scaled(self.reduction, PER_PARAMETERS / self.parameters) if self.parameters else None
        )

    @property
    def per_minute(self) -> Interval | None:
        """The reduction per minute of upstream training (None without a time)."""
        return _scaled(self.reduction, PER_SECONDS / self.seconds) if self.seconds else None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "scope": self.scope, "row": self.row, "measure": self.measure, "seeds": self.seeds,
            "trainable_parameters": self.parameters, "upstream_seconds": self.seconds,
            "reference_distance": self.reference, "measured": self.measured,
        }  # fmt: skip
        for name, value in (("reduction", self.reduction), ("share_pct", self.share),
                            ("per_million_parameters", self.per_million),
                            ("per_minute", self.per_minute)):  # fmt: skip
            record[name] = value.estimate if value else None
            record[f"{name}_low"] = value.low if value else None
            record[f"{name}_high"] = value.high if value else None
        return record


def _cost(meta: ModuleRecord) -> tuple[int | None, float | None]:
    return meta.trainable_parameters, meta.training.seconds if meta.training else None


def _distances(stat: Stat, ideal: float) -> dict[int, float]:
    return {seed: abs(value - ideal) for seed, value in stat.values.items()}


def extrinsic_efficacy(collected: Collected) -> list[Efficacy]:
    """The reductions of every task's bias metrics by its module rows, paired with FT."""
    metrics = [m for m in reported_metrics() if m.ideal is not None and m.key != TASK]
    found: list[Efficacy] = []
    for task, by_label in sorted(collected.extrinsic.items()):
        ft = by_label.get("FT")
        axis = collected.tasks[task].axis or ""
        rows = sorted_rows(set(by_label) - {"FT"}, collected) if ft is not None else []
        for label in rows:
            meta = collected.upstream.get((label, axis))
            if meta is None:  # a baseline (CDA, CLP): no module, no cost
                continue
            for metric in metrics:
                if metric.key in by_label[label] and metric.key in ft:
                    row, base = by_label[label][metric.key], ft[metric.key]
                    found += _paired_efficacy(task, label, metric.title, row, base,
                                              metric.ideal, meta)  # fmt: skip
    return found


def _paired_efficacy(
    task: str, label: str, measure: str, row: Stat, ft: Stat, ideal: float, meta: ModuleRecord
) -> list[Efficacy]:
    """The row's reduction of one metric's distance from ``ideal``, paired with FT over the
    seeds both have (empty when not computable or FT is at the ideal)."""
    base, distances = _distances(ft, ideal), _distances(row, ideal)
    shared = sorted(set(base) & set(distances))
    reference = float(np.mean([base[s] for s in shared])) if shared else 0.0
    diff = paired_comparison(distances, base).difference
    if diff.estimate is None or not reference:
        return []
    return [Efficacy(task, label, measure, _negated(diff), reference, *_cost(meta), len(shared))]


def _scaled(value: Interval, factor: float) -> Interval:
    """``factor * value`` (a negative factor swaps the bounds)."""

    def scaled(x: float | None) -> float | None:
        return None if x is None else factor * x

    low, high = (value.low, value.high) if factor >= 0 else (value.high, value.low)
    return Interval(scaled(value.estimate), scaled(low), scaled(high), value.method, value.n)


def _negated(diff: Interval) -> Interval:
    """The reduction of a distance from its change (a lower distance: a positive reduction)."""
    return _scaled(diff, -1.0)


# --- intrinsic: paired bootstrap over the items two cells scored ---------------------------


def _crows_rows(items: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, ...]]:
    """CrowS-Pairs pair id -> (1 if the more stereotypical sentence is preferred,)."""
    return {str(item["id"]): (float(item["outcome"] == "more"),) for item in items}


def _crows_distance(more: np.ndarray, ideal: float) -> float:
    return abs(100.0 * float(np.mean(more)) - ideal)


def _stereoset_rows(items: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, ...]]:
    """StereoSet item id -> (target, 1 if the stereotype beats the anti-stereotype)."""
    return {
        str(item["id"]): (item["target"], float(item["scores"]["stereotype"]
                                                > item["scores"]["anti_stereotype"]))
        for item in items
    }  # fmt: skip


def _stereoset_distance(targets: np.ndarray, pro: np.ndarray, ideal: float) -> float:
    """|SS - ideal|, SS the per-target percentage of stereotype wins averaged over targets
    (bias-bench; :func:`~peftdebias.intrinsic.stereoset.term_scores`)."""
    _, index = np.unique(targets, return_inverse=True)
    wins = np.bincount(index, weights=pro)
    totals = np.bincount(index)
    present = totals > 0
    return abs(float(np.mean(100.0 * wins[present] / totals[present])) - ideal)


ItemScorer = tuple[Callable[[Sequence[Mapping[str, Any]]], dict[str, tuple]], Callable]
ITEM_SCORERS: dict[str, ItemScorer] = {
    "crows": (_crows_rows, _crows_distance),
    "stereoset": (_stereoset_rows, _stereoset_distance),
}


def _items(cell: ScoredCell, benchmark: str) -> list[Mapping[str, Any]] | None:
    items = cell.items(benchmark)
    if items is None or benchmark != "stereoset":
        return items
    domain = STEREOSET_DOMAIN.get(cell.bias_type, cell.bias_type)
    return [item for item in items if item.get("bias_type") == domain] or items


def item_difference(
    base: ScoredCell, row: ScoredCell, benchmark: str, ideal: float
) -> Interval | None:
    """``d_row - d_base`` (``d = |score - ideal|``) with its paired percentile bootstrap
    interval over the items both cells scored; None without score files."""
    scorer = ITEM_SCORERS.get(benchmark)
    base_items, row_items = _items(base, benchmark), _items(row, benchmark)
    if scorer is None or base_items is None or row_items is None:
        return None
    to_rows, distance = scorer
    base_rows, other_rows = to_rows(base_items), to_rows(row_items)
    shared = sorted(set(base_rows) & set(other_rows))
    if not shared:
        return None
    base_columns = list(zip(*(base_rows[i] for i in shared), strict=True))
    other_columns = list(zip(*(other_rows[i] for i in shared), strict=True))
    width = len(base_columns)

    def difference(*columns: np.ndarray) -> float:
        return distance(*columns[width:], ideal) - distance(*columns[:width], ideal)

    return bootstrap_interval(difference, *base_columns, *other_columns)


def _intrinsic_reference(collected: Collected) -> str | None:
    """The base model's row without a module (a trained head first)."""
    bases = [label for label in collected.intrinsic if "no module)" in label]
    trained = [label for label in bases if label not in collected.untrained_head_rows]
    return (trained or bases or [None])[0]


def intrinsic_efficacy(collected: Collected) -> list[Efficacy]:
    """The reductions of each bias type's intrinsic scores by the module rows, against the
    base model (paired over items)."""
    reference = _intrinsic_reference(collected)
    if reference is None:
        return []
    found: list[Efficacy] = []
    columns = [c for c in table1_columns() if c.ideal is not None and c.benchmark in ITEM_SCORERS]
    order = {label: i for i, label in enumerate(sorted_rows(collected.intrinsic, collected))}
    cells = sorted(collected.intrinsic_cells.items(), key=lambda kv: (kv[0][1], order[kv[0][0]]))
    for (label, bias_type), cell in cells:
        base = collected.intrinsic_cells.get((reference, bias_type))
        axis = collected.intrinsic_axes.get((label, bias_type))
        meta = collected.upstream.get((label, axis or ""))
        if label == reference or base is None or meta is None:
            continue
        for column in columns:
            base_value = collected.intrinsic[reference].get(f"{bias_type} {column.name}")
            diff = item_difference(base, cell, column.benchmark, column.ideal)
            if diff is None or diff.estimate is None or base_value is None:
                continue
            distance = abs(base_value.mean - column.ideal)
            if not distance:
                continue
            found.append(Efficacy(bias_type, label, column.name, _negated(diff),
                                  distance, *_cost(meta)))  # fmt: skip
    return found


def best_rows(found: list[Efficacy]) -> dict[tuple[str, str], dict[str, str | None]]:
    """Per (scope, measure): the measured row with the highest reduction per million
    parameters and per minute (None: no measured reduction)."""
    best: dict[tuple[str, str], dict[str, str | None]] = {}
    for key in sorted({(e.scope, e.measure) for e in found}):
        measured = [e for e in found if (e.scope, e.measure) == key and e.measured]
        best[key] = {}
        for name in ("per_million", "per_minute"):
            costed = [e for e in measured if getattr(e, name) is not None]
            best[key][name] = (
                max(costed, key=lambda e: getattr(e, name).estimate).row if costed else None
            )
    return best


def _fmt(value: Interval | None, digits: int = 1) -> str:
    if value is None or value.estimate is None:
        return "–"
    text = f"{value.estimate:+.{digits}f}"
    if value.low is not None and value.high is not None:
        text += f" [{value.low:+.{digits}f}, {value.high:+.{digits}f}]"
    return text


def _count(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


EFFICACY_NOTE = (
    "Bias removed: the drop of the distance from the unbiased value (|value − ideal|; FPRD, "
    "TPR-GAP: 0; GAP F/M: 1; CrowS, SS: 50), in the measure's units, with its 95 % "
    "interval: downstream rows paired with FT over seeds (t), intrinsic rows against the "
    "base model without a module, paired over the items both scored (bootstrap). Positive: "
    "less biased; share: in percent of the reference's distance. `*`: the interval lies "
    "above zero. Cost: the upstream module's trainable parameters and the wall-clock "
    "seconds of its upstream run (loading, CDA, any selection pass, training, held-out "
    "evaluations); efficacy = bias removed per million trainable parameters and per minute "
    "of upstream training (the intervals scale alike)."
)


def efficacy_markdown(collected: Collected) -> tuple[list[str], list[dict[str, Any]]]:
    """The report's efficacy section and its CSV rows (empty without module rows)."""
    found = extrinsic_efficacy(collected) + intrinsic_efficacy(collected)
    if not found:
        return [], []
    lines = ["## Efficacy: bias removed per trainable parameter and per second", "",
             EFFICACY_NOTE, ""]  # fmt: skip
    best = best_rows(found)
    for scope in dict.fromkeys(e.scope for e in found):
        lines += [
            f"### {scope}",
            "",
            "| row | measure | trainable params | upstream s | bias removed | share % | "
            "per M params | per minute |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for e in (e for e in found if e.scope == scope):
            mark = "*" if e.measured else ""
            lines.append(
                f"| {e.row} | {e.measure} | {_count(e.parameters, ',')} | "
                f"{_count(e.seconds, '.0f')} | {_fmt(e.reduction, 3)}{mark} | "
                f"{_fmt(e.share, 0)} | {_fmt(e.per_million, 3)} | {_fmt(e.per_minute, 3)} |"
            )
        lines.append("")
        for (where, measure), winners in best.items():
            if where != scope:
                continue
            per_million, per_minute = winners["per_million"], winners["per_minute"]
            text = (
                f"most per parameter: {per_million}, per minute: {per_minute}"
                if per_million or per_minute
                else "no row lowers it measurably"
            )
            lines.append(f"- {measure}: {text}.")
        lines.append("")
    return lines, [e.to_dict() for e in found]
