"""Compute every applicable metric from a predictions file (``peftdebias metrics``).

Metrics and the fields they need (besides ``gold``/``pred``/``probs``):

- ``classification``: accuracy, macro-F1, per-class F1 — always;
- ``tpr-gap``: ``attribute`` with both groups present;
- ``fprd``: ``text`` and a binary classifier (two probabilities, gold 0/1; also reports
  ``fprd_reference_code``, the reference code's variant on its own 54-word list);
- ``iptts-fprd``: ``text`` and binary labels; chosen automatically for rows with a
  ``template`` field (IPTTS rows);
- ``gap``: ``pronoun``;
- ``bias-nli``: ``probs`` only; chosen automatically for rows with ``gender_word``
  (Bias-NLI template pairs).

Without an explicit selection every metric whose fields are present is computed; an
explicitly requested metric whose field is missing is an error naming field and line.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DataError
from .bias_nli import bias_nli_scores
from .classification import classification_scores
from .fprd import fprd, fprd_reference_code, iptts_fprd
from .gap import gap_scores
from .names import GAP_LABELS, METRICS
from .predictions import Predictions
from .tpr_gap import canonical_attribute, tpr_gap

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricOptions:
    """Settings of the metrics: FPRD terms, TPR-GAP groups, GAP and NLI label orders."""

    terms: Sequence[str] = ()
    terms_source: str = ""
    groups: tuple[str, str] = ("male", "female")
    gap_labels: Sequence[str] = GAP_LABELS
    neutral_index: int = 1
    thresholds: Sequence[float] = (0.5, 0.7)


# Fields a metric reads besides gold/pred/probs, checked before anything is computed.
_NEEDS: dict[str, tuple[str, ...]] = {
    "classification": (),
    "tpr-gap": ("attribute",),
    "fprd": ("text",),
    "iptts-fprd": ("text",),
    "gap": ("pronoun",),
    "bias-nli": (),
}
# Fields that mark rows of a specific evaluation set, for the automatic selection.
_MARKERS: dict[str, str] = {"iptts-fprd": "template", "bias-nli": "gender_word"}


def _applicable(name: str, predictions: Predictions, options: MetricOptions) -> bool:
    """Whether the fields of ``predictions`` allow (and call for) metric ``name``."""
    fields = (*_NEEDS[name], *([_MARKERS[name]] if name in _MARKERS else []))
    if not all(predictions.has(f) for f in fields):
        return False
    if name == "tpr-gap":
        values = {canonical_attribute(row["attribute"]) for row in predictions.rows}
        return {canonical_attribute(group) for group in options.groups} <= values
    if name in ("fprd", "iptts-fprd"):  # binary classifiers only (not 3-way NLI on 0/1 rows)
        return all(len(row["probs"]) == 2 and row["gold"] in (0, 1) for row in predictions.rows)
    return True


def _classification(p: Predictions, o: MetricOptions) -> dict[str, Any]:
    return classification_scores(p.gold, p.pred).to_dict()


def _tpr_gap(p: Predictions, o: MetricOptions) -> dict[str, Any]:
    return tpr_gap(p.gold, p.pred, p.column("attribute", "tpr-gap"), o.groups).to_dict()


def _fprd(p: Predictions, o: MetricOptions) -> dict[str, Any]:
    texts = p.column("text", "fprd")
    result = fprd(texts, p.gold, p.pred, o.terms).to_dict()
    result["terms_source"] = o.terms_source
    # the reference code's variant on the reference code's own word list (not o.terms), so
    # that it is on the scale of the published numbers
    result["fprd_reference_code"] = fprd_reference_code(texts, p.gold, p.pred).to_dict()
    return result


def _iptts_fprd(p: Predictions, o: MetricOptions) -> dict[str, Any]:
    return iptts_fprd(p.column("text", "iptts-fprd"), p.gold, p.pred).to_dict()


def _gap(p: Predictions, o: MetricOptions) -> dict[str, Any]:
    return gap_scores(p.gold, p.pred, p.column("pronoun", "gap"), o.gap_labels).to_dict()


def _bias_nli(p: Predictions, o: MetricOptions) -> dict[str, Any]:
    return bias_nli_scores(p.probs, o.neutral_index, o.thresholds).to_dict()


_COMPUTE: dict[str, Callable[[Predictions, MetricOptions], dict[str, Any]]] = {
    "classification": _classification,
    "tpr-gap": _tpr_gap,
    "fprd": _fprd,
    "iptts-fprd": _iptts_fprd,
    "gap": _gap,
    "bias-nli": _bias_nli,
}


def compute_metrics(
    predictions: Predictions,
    metrics: Sequence[str] | None = None,
    options: MetricOptions | None = None,
) -> dict[str, Any]:
    """Results of ``metrics`` (default: all applicable) as a JSON-ready dict.

    Each metric's entry holds its numbers, tables as lists of records, and the
    ``warnings`` it raised (skipped classes or terms).
    """
    options = options or MetricOptions()
    unknown = [name for name in metrics or () if name not in _COMPUTE]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; valid: {', '.join(METRICS)}")
    selected = (
        list(metrics)
        if metrics
        else [name for name in METRICS if _applicable(name, predictions, options)]
    )
    for name in selected:
        for needed in _NEEDS[name]:
            predictions.column(needed, name)
    results: dict[str, Any] = {}
    for name in selected:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = _COMPUTE[name](predictions, options)
            except ValueError as exc:
                raise DataError(f"{predictions.path}: metric {name}: {exc}") from exc
        messages = [str(warning.message) for warning in caught]
        for message in messages:
            logger.warning(message)
        results[name] = {**result, "warnings": messages}
    return {"predictions": str(predictions.path), "n": len(predictions), "metrics": results}


def summary_line(name: str, values: dict[str, Any]) -> str:
    """One line of the top-level numbers of metric ``name`` (``-`` for an undefined one,
    e.g. FPRD when no term could be scored), as ``peftdebias metrics --output`` prints."""

    def shown(value: Any) -> str:
        return "-" if value is None else f"{value:.4g}"

    scalars = {
        key: value
        for key, value in values.items()
        if value is None or (isinstance(value, float | int) and not isinstance(value, bool))
    }
    return f"{name}: " + " ".join(f"{key}={shown(value)}" for key, value in scalars.items())
