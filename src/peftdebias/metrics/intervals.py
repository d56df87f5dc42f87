"""Uncertainty of the metrics: 95 % confidence intervals and paired comparisons.

Within one run (one trained model, one test set) the test examples are a sample: the
**percentile bootstrap** resamples them with replacement ``n_resamples`` times (default 1,000,
seeded) and takes the 2.5 and 97.5 percentiles of the metric. Two implementations:

- :func:`bootstrap_interval`: any metric ``f(*columns) -> float``, one call per resample;
- :func:`bootstrap_patterns`: vectorised, for a metric that depends only on how many examples
  fall into each of a few distinct *patterns* (e.g. (gold, pred) for accuracy and F1;
  (terms contained, negative, false positive) for FPRD). Resampling n examples is then one
  multinomial draw of n over the patterns, exactly the same distribution as resampling the
  examples, for all resamples at once. :func:`accuracy_interval`, :func:`macro_f1_interval`,
  :func:`fprd_interval`, :func:`reference_fprd_interval`, :func:`tpr_gap_interval`,
  :func:`gap_intervals` and :func:`stereoset_intervals` are built on it.

Across seeds (one value per seed), :func:`t_interval` gives mean +- t(0.975, n-1) s / sqrt(n),
and :func:`paired_comparison` compares a row with a baseline over the seeds both have
(per-seed differences: their mean, t-interval and the paired t-test p-value, which equals
``scipy.stats.ttest_rel``). CrowS-Pairs is a share of pairs: :func:`crows_interval` is the
Wilson score interval of that binomial proportion (262 pairs around 50 %: +- 6 points).
Undefined resamples (e.g. FPRD when no term has a gold negative in the resample) are left
out and counted in ``undefined``.

Caveat: FPRD is a sum of absolute differences |FPR_t - FPR|, which sampling noise inflates;
resampling adds more noise, so its bootstrap distribution sits above the estimate (``bias``
> 0) and, when most of the value is noise (e.g. a classifier whose false positives do not
depend on the terms at all), the percentile interval can lie entirely above the estimate
(``covers_estimate`` is False). Claims about modules should rest on the paired comparison
over seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 1000
CONFIDENCE = 0.95
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (``low``/``high`` None: not computable)."""

    estimate: float | None
    low: float | None
    high: float | None
    method: str
    n: int
    confidence: float = CONFIDENCE
    n_resamples: int | None = None
    undefined: int = 0  # resamples in which the metric was undefined (left out)
    bias: float | None = None  # bootstrap: mean of the resampled values - estimate

    @property
    def covers_estimate(self) -> bool:
        """Whether the estimate lies inside its interval. A percentile bootstrap interval
        can lie beside it for a statistic that resampling noise inflates, such as FPRD (a
        sum of absolute differences): a sign that the value is mostly sampling noise."""
        return not self.defined or self.estimate is None or self.low <= self.estimate <= self.high

    @property
    def defined(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def half_width(self) -> float | None:
        return (self.high - self.low) / 2 if self.defined else None

    def excludes(self, value: float = 0.0) -> bool:
        """Whether ``value`` lies outside the interval (False when it is not computable)."""
        return self.defined and (self.low > value or self.high < value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        names = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in names})

    def format(self, digits: int = 3, scale: float = 1.0) -> str:
        """``"0.645 [0.601, 0.690]"`` (the estimate alone when there is no interval)."""
        if self.estimate is None:
            return "–"
        text = f"{self.estimate * scale:.{digits}f}"
        if self.defined:
            text += f" [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"
        return text


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _percentile_interval(
    estimate: Any, values: np.ndarray, confidence: float, method: str, n: int, n_resamples: int
) -> Interval:
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    undefined = int(values.size - finite.size)
    low = high = bias = None
    estimate = _finite(estimate)
    if finite.size:
        tail = 100 * (1 - confidence) / 2
        low, high = (float(v) for v in np.percentile(finite, [tail, 100 - tail]))
        bias = None if estimate is None else float(finite.mean()) - estimate
    return Interval(estimate, low, high, method, n, confidence, n_resamples, undefined, bias)


def _check(n_resamples: int, confidence: float) -> None:
    if not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")


def bootstrap_interval(
    metric: Callable[..., float | None],
    *columns: Sequence[Any],
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """Percentile bootstrap interval of ``metric(*columns)`` over the examples (rows).

    ``columns`` are equally long sequences (gold, probabilities, texts, ...); each resample
    draws row indices with replacement and calls ``metric`` on the rows of every column
    (as numpy arrays). A metric returning None or NaN is undefined on that resample.
    """
    _check(n_resamples, confidence)
    arrays = [np.asarray(column) if not isinstance(column, np.ndarray) else column
              for column in columns]  # fmt: skip
    if not arrays:
        raise ValueError("bootstrap_interval needs at least one column")
    n = len(arrays[0])
    if any(len(array) != n for array in arrays) or n == 0:
        raise ValueError("bootstrap_interval: the columns must be non-empty and equally long")
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for r in range(n_resamples):
        index = rng.integers(0, n, size=n)
        value = _finite(metric(*(array[index] for array in arrays)))
        values[r] = np.nan if value is None else value
    return _percentile_interval(
        metric(*arrays), values, confidence, "percentile bootstrap", n, n_resamples
    )


def bootstrap_patterns(
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    patterns: np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """Vectorised percentile bootstrap of a metric that depends only on pattern counts.

    ``patterns`` has one row per example (shape ``[n]`` or ``[n, k]``); the distinct rows
    ``unique`` (``[K, k]``) are counted, and ``statistic(counts, unique)`` must map a
    ``[R, K]`` matrix of counts (R samples of n examples) to ``R`` values (NaN: undefined).
    Resampling n examples with replacement draws their pattern counts from a multinomial
    with the observed frequencies, which is what is drawn here.
    """
    _check(n_resamples, confidence)
    patterns = np.asarray(patterns)
    if patterns.ndim == 1:
        patterns = patterns[:, None]
    n = len(patterns)
    if n == 0:
        raise ValueError("bootstrap_patterns needs at least one example")
    unique, counts = np.unique(patterns, axis=0, return_counts=True)
    estimate = statistic(counts[None, :].astype(float), unique)[0]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, counts / n, size=n_resamples).astype(float)
    values = statistic(draws, unique)
    return _percentile_interval(
        estimate, values, confidence, "percentile bootstrap", n, n_resamples
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float = np.nan) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        empty)  # fmt: skip


# --- task metrics --------------------------------------------------------------------------


def accuracy_interval(gold: Sequence[int], pred: Sequence[int], **kwargs: Any) -> Interval:
    """Accuracy = mean 1[pred = gold], bootstrapped over examples."""
    correct = np.asarray(gold) == np.asarray(pred)

    def statistic(counts: np.ndarray, unique: np.ndarray) -> np.ndarray:
        return counts @ unique[:, 0].astype(float) / counts.sum(axis=1)

    return bootstrap_patterns(statistic, correct.astype(int), **kwargs)


def _f1_per_class(counts: np.ndarray, unique: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``[R, C]`` F1 of every class (NaN where the class is neither gold nor predicted)."""
    gold, pred = unique[:, 0], unique[:, 1]
    f1 = []
    for c in classes:
        tp = counts @ ((gold == c) & (pred == c)).astype(float)
        fp = counts @ ((gold != c) & (pred == c)).astype(float)
        fn = counts @ ((gold == c) & (pred != c)).astype(float)
        f1.append(_ratio(2 * tp, 2 * tp + fp + fn))
    return np.stack(f1, axis=1)


def macro_f1_interval(gold: Sequence[int], pred: Sequence[int], **kwargs: Any) -> Interval:
    """Macro-F1 over the classes seen in gold or pred of each resample (as
    :func:`~peftdebias.metrics.classification_scores`), bootstrapped over examples."""
    pairs = np.stack([np.asarray(gold, dtype=int), np.asarray(pred, dtype=int)], axis=1)
    classes = np.unique(pairs)

    def statistic(counts: np.ndarray, unique: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any class
            return np.nanmean(_f1_per_class(counts, unique, classes), axis=1)

    return bootstrap_patterns(statistic, pairs, **kwargs)


def tpr_gap_interval(
    gold: Sequence[int],
    pred: Sequence[int],
    attribute: Sequence[Any],
    groups: tuple[str, str] = ("male", "female"),
    **kwargs: Any,
) -> Interval:
    """TPR-GAP RMS (:func:`~peftdebias.metrics.tpr_gap`): per gold class with examples of
    both groups, TPR(group 1) - TPR(group 2); RMS over those classes."""
    from .tpr_gap import canonical_attribute

    first, second = (canonical_attribute(group) for group in groups)
    names = [canonical_attribute(value) for value in attribute]
    group = np.array([0 if a == first else 1 if a == second else 2 for a in names])
    gold_array = np.asarray(gold, dtype=int)
    correct = (gold_array == np.asarray(pred, dtype=int)).astype(int)
    classes = np.unique(gold_array)

    def statistic(counts: np.ndarray, unique: np.ndarray) -> np.ndarray:
        gaps = []
        for c in classes:
            rates = []
            for g in (0, 1):
                members = (unique[:, 0] == c) & (unique[:, 2] == g)
                n = counts @ members.astype(float)
                hits = counts @ (members & (unique[:, 1] == 1)).astype(float)
                rates.append(_ratio(hits, n))
            gaps.append(rates[0] - rates[1])  # NaN where a group is missing: skipped
        squared = np.stack(gaps, axis=1) ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.sqrt(np.nanmean(squared, axis=1))

    return bootstrap_patterns(statistic, np.stack([gold_array, correct, group], axis=1), **kwargs)


# --- FPRD ----------------------------------------------------------------------------------


def fprd_interval(
    gold: Sequence[int], pred: Sequence[int], membership: np.ndarray, **kwargs: Any
) -> Interval:
    """FPRD = sum_t |FPR_t - FPR| over gold negatives (:func:`~peftdebias.metrics.fprd`)
    for the ``[n, terms]`` boolean ``membership`` matrix the metric used; terms without a
    gold negative in a resample are skipped there, as the metric skips them."""
    gold_array = np.asarray(gold, dtype=int)
    negative = gold_array == 0
    false_positive = negative & (np.asarray(pred, dtype=int) == 1)
    membership = np.asarray(membership, dtype=bool)
    # positives only count towards n: one pattern for all of them
    rows = np.where(negative[:, None], membership, False)
    patterns = np.concatenate([rows, negative[:, None], false_positive[:, None]], axis=1).astype(
        np.int8
    )

    def statistic(counts: np.ndarray, unique: np.ndarray) -> np.ndarray:
        member, neg, fp = unique[:, :-2].astype(float), unique[:, -2], unique[:, -1]
        overall = _ratio(counts @ fp.astype(float), counts @ neg.astype(float))
        negatives_t = counts @ (member * neg[:, None])
        fps_t = counts @ (member * fp[:, None])
        diff = np.abs(_ratio(fps_t, negatives_t) - overall[:, None])
        scored = np.isfinite(diff).any(axis=1)
        return np.where(scored, np.nansum(diff, axis=1), np.nan)

    return bootstrap_patterns(statistic, patterns, **kwargs)


def reference_fprd_interval(
    gold: Sequence[int], pred: Sequence[int], hits: np.ndarray, **kwargs: Any
) -> Interval:
    """The reference code's FPRD variant (:func:`~peftdebias.metrics.fprd_reference_code`):
    rates of 1[gold = 0, pred = 1] over ALL examples (with a term: ``hits[:, t]``); sum of
    |r_t - r| over the terms that occur in the resample."""
    indicator = (np.asarray(gold, dtype=int) == 0) & (np.asarray(pred, dtype=int) == 1)
    patterns = np.concatenate([np.asarray(hits, dtype=bool), indicator[:, None]], axis=1)

    def statistic(counts: np.ndarray, unique: np.ndarray) -> np.ndarray:
        member, flag = unique[:, :-1].astype(float), unique[:, -1].astype(float)
        overall = counts @ flag / counts.sum(axis=1)
        rate = _ratio(counts @ (member * flag[:, None]), counts @ member)
        diff = np.abs(rate - overall[:, None])
        return np.where(np.isfinite(diff).any(axis=1), np.nansum(diff, axis=1), np.nan)

    return bootstrap_patterns(statistic, patterns.astype(np.int8), **kwargs)


# --- GAP, Bias-NLI -------------------------------------------------------------------------


def gap_intervals(
    gold: Sequence[int],
    pred: Sequence[int],
    pronouns: Sequence[str],
    labels: Sequence[str] = ("A", "B", "neither"),
    **kwargs: Any,
) -> dict[str, Interval]:
    """GAP F1 (overall) and bias = F1(feminine) / F1(masculine) (:func:`gap_scores`)."""
    from .gap import pronoun_gender

    names = [str(label) for label in labels]
    index_a, index_b = names.index("A"), names.index("B")
    feminine = np.array([pronoun_gender(p) == "feminine" for p in pronouns], dtype=int)
    patterns = np.stack([np.asarray(gold, dtype=int), np.asarray(pred, dtype=int), feminine], 1)

    def f1(counts: np.ndarray, unique: np.ndarray, members: np.ndarray) -> np.ndarray:
        tp = fp = fn = 0.0
        for index in (index_a, index_b):
            truth, system = unique[:, 0] == index, unique[:, 1] == index
            tp = tp + counts @ (members & truth & system).astype(float)
            fp = fp + counts @ (members & ~truth & system).astype(float)
            fn = fn + counts @ (members & truth & ~system).astype(float)
        precision, recall = _ratio(tp, tp + fp, 0.0), _ratio(tp, tp + fn, 0.0)
        return _ratio(2 * precision * recall, precision + recall, 0.0)

    def overall(counts: np.ndarray, unique: np.ndarray) -> np.ndarray:
        return f1(counts, unique, np.ones(len(unique), dtype=bool))

    def bias(counts: np.ndarray, unique: np.ndarray) -> np.ndarray:
        f1_f = f1(counts, unique, unique[:, 2] == 1)
        f1_m = f1(counts, unique, unique[:, 2] == 0)
        return np.where((f1_f > 0) & (f1_m > 0), _ratio(f1_f, f1_m), np.nan)

    return {
        "f1": bootstrap_patterns(overall, patterns, **kwargs),
        "bias": bootstrap_patterns(bias, patterns, **kwargs),
    }


def wilson_interval(
    successes: int, n: int, confidence: float = CONFIDENCE, scale: float = 1.0
) -> Interval:
    """Wilson score interval of the binomial proportion ``successes / n`` (times ``scale``)."""
    from scipy.stats import norm

    if n <= 0:
        return Interval(None, None, None, "Wilson score (binomial)", 0, confidence)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(
        p * scale, (centre - half) * scale, (centre + half) * scale, "Wilson score (binomial)",
        n, confidence,
    )  # fmt: skip


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Normal-approximation interval of a mean over many examples: mean +- z s / sqrt(n)
    (the bootstrap of a mean converges to it; used for the ~1M Bias-NLI pairs)."""
    from scipy.stats import norm

    array = np.asarray(values, dtype=float)
    n = int(array.size)
    if n < 2:
        return Interval(_finite(array.mean()) if n else None, None, None, "normal", n, confidence)
    half = float(norm.ppf(0.5 + confidence / 2)) * float(array.std(ddof=1)) / math.sqrt(n)
    mean = float(array.mean())
    return Interval(mean, mean - half, mean + half, "normal (mean of examples)", n, confidence)


# --- across seeds --------------------------------------------------------------------------


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Student-t interval of the mean of ``values`` (e.g. one per seed):
    mean +- t(1 - alpha/2, n - 1) * s / sqrt(n); no interval with fewer than 2 values."""
    from scipy.stats import t

    array = np.asarray([float(v) for v in values], dtype=float)
    n = int(array.size)
    if n == 0:
        return Interval(None, None, None, "t over seeds", 0, confidence)
    mean = float(array.mean())
    if n < 2:
        return Interval(mean, None, None, "t over seeds", n, confidence)
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * float(array.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, "t over seeds", n, confidence)


@dataclass(frozen=True)
class PairedComparison:
    """``row - baseline`` over the seeds both have: mean difference, its t-interval and the
    two-sided paired t-test p-value (None when not computable: < 2 pairs, or all differences
    equal)."""

    difference: Interval
    p_value: float | None
    seeds: tuple[int, ...]

    @property
    def significant(self) -> bool:
        """The interval of the difference excludes zero (and the test is defined)."""
        return self.p_value is not None and self.difference.excludes(0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "difference": self.difference.to_dict(),
            "p_value": self.p_value,
            "seeds": list(self.seeds),
            "significant": self.significant,
        }


def paired_comparison(
    row: Mapping[int, float], baseline: Mapping[int, float], confidence: float = CONFIDENCE
) -> PairedComparison:
    """Compare ``row`` with ``baseline`` (seed -> value) on the seeds both have."""
    from scipy.stats import t as student

    seeds = tuple(sorted(set(row) & set(baseline)))
    differences = [float(row[s]) - float(baseline[s]) for s in seeds]
    interval = t_interval(differences, confidence)
    interval = Interval(**{**interval.to_dict(), "method": "paired t over seeds"})
    p_value = None
    if len(seeds) >= 2 and len(set(differences)) > 1:
        array = np.asarray(differences)
        t_stat = array.mean() / (array.std(ddof=1) / math.sqrt(array.size))
        p_value = float(2 * student.sf(abs(t_stat), array.size - 1))
    return PairedComparison(interval, p_value, seeds)


# --- intrinsic benchmarks ------------------------------------------------------------------


def crows_interval(result: Mapping[str, Any], confidence: float = CONFIDENCE) -> Interval:
    """CrowS-Pairs metric (percent of pairs where the more stereotypical sentence is
    preferred; neutral pairs count in n) with its Wilson interval, from a
    :func:`~peftdebias.intrinsic.crows` summary (``stereo_preferred``,
    ``antistereo_preferred``, ``n``)."""
    preferred = int(result["stereo_preferred"]) + int(result["antistereo_preferred"])
    return wilson_interval(preferred, int(result["n"]), confidence, scale=100.0)


def stereoset_intervals(
    items: Sequence[Mapping[str, Any]], domain: str | None = None, **kwargs: Any
) -> dict[str, Interval]:
    """StereoSet SS and LMS (per-target percentages averaged over targets, as
    :func:`~peftdebias.intrinsic.stereoset.term_scores`) bootstrapped over items; ``items``
    are the per-item records (``target``, ``bias_type``, ``scores``)."""
    chosen = [item for item in items if domain is None or item["bias_type"] == domain]
    if not chosen:
        raise ValueError(f"no StereoSet items for domain {domain!r}")
    targets = {name: i for i, name in enumerate(sorted({item["target"] for item in chosen}))}
    rows = []
    for item in chosen:
        score = item["scores"]
        pro = int(score["stereotype"] > score["anti_stereotype"])
        related = int(score["stereotype"] > score["unrelated"]) + int(
            score["anti_stereotype"] > score["unrelated"]
        )
        rows.append((targets[item["target"]], pro, related))
    patterns = np.asarray(rows)

    def per_target(counts: np.ndarray, unique: np.ndarray, column: int, per_item: float):
        values = []
        for target in targets.values():
            members = unique[:, 0] == target
            total = counts @ members.astype(float)
            hits = counts @ (members * unique[:, column]).astype(float)
            values.append(_ratio(100.0 * hits, per_item * total))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.stack(values, axis=1), axis=1)  # targets drawn at least once

    return {
        "ss": bootstrap_patterns(lambda c, u: per_target(c, u, 1, 1.0), patterns, **kwargs),
        "lms": bootstrap_patterns(lambda c, u: per_target(c, u, 2, 2.0), patterns, **kwargs),
    }


# --- every interval of a predictions file --------------------------------------------------


def _matches(interval: Interval, value: Any) -> bool:
    if value is None or interval.estimate is None:
        return value is None and interval.estimate is None
    return math.isclose(interval.estimate, float(value), rel_tol=1e-6, abs_tol=1e-9)


def _fprd_membership(texts: Sequence[str], result: Mapping[str, Any], value: Any, gold, pred,
                     kwargs) -> Interval | None:  # fmt: skip
    """The FPRD interval with the membership matrix that reproduces the metric's value
    (every matching term, else the longest only); None when neither does."""
    from .terms import term_matrix

    terms = [row["term"] for row in result.get("per_term", [])]
    if not terms:
        return None
    for longest_only in (False, True):
        matrix = term_matrix(texts, terms, longest_only=longest_only)
        interval = fprd_interval(gold, pred, matrix, **kwargs)
        if _matches(interval, value):
            return interval
    return None


def prediction_intervals(
    predictions: Any,
    results: Mapping[str, Any],
    options: Any = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> dict[str, dict[str, Any]]:
    """Intervals of the headline numbers of ``results`` (the output of
    :func:`~peftdebias.metrics.compute_metrics` on ``predictions``), keyed by their path in
    ``results["metrics"]`` joined with dots (``"classification.macro_f1"``,
    ``"fprd.fprd"``, ``"fprd.fprd_reference_code.fprd"``, ``"iptts-fprd.fprd"``,
    ``"tpr-gap.tpr_gap_rms"``, ``"gap.f1"``, ``"gap.bias"``, ``"bias-nli.fraction_neutral"``,
    ``"bias-nli.net_neutral"``). Each bootstrap interval's estimate is checked against the
    reported value; an interval that does not reproduce it is left out (with a warning)."""
    metrics = results["metrics"]
    kwargs = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    gold, pred = np.asarray(predictions.gold), np.asarray(predictions.pred)
    out: dict[str, Interval | None] = {}
    if "classification" in metrics:
        out["classification.accuracy"] = accuracy_interval(gold, pred, **kwargs)
        out["classification.macro_f1"] = macro_f1_interval(gold, pred, **kwargs)
    if "tpr-gap" in metrics:
        groups = tuple(metrics["tpr-gap"].get("groups") or ("male", "female"))
        attribute = predictions.column("attribute", "tpr-gap")
        out["tpr-gap.tpr_gap_rms"] = tpr_gap_interval(gold, pred, attribute, groups, **kwargs)
    if predictions.has("text"):
        texts = predictions.column("text", "fprd")
        for name in ("fprd", "iptts-fprd"):
            if name in metrics:
                out.update(_fprd_intervals(name, metrics[name], texts, gold, pred, kwargs))
    if "gap" in metrics:
        labels = (options.gap_labels if options is not None else None) or ("A", "B", "neither")
        pronouns = predictions.column("pronoun", "gap")
        for key, interval in gap_intervals(gold, pred, pronouns, labels, **kwargs).items():
            out[f"gap.{key}"] = interval
    if "bias-nli" in metrics:
        neutral = options.neutral_index if options is not None else 1
        out.update(_bias_nli_intervals(np.asarray(predictions.probs, float), neutral, confidence))
    return _reproducing(out, metrics)


def _fprd_intervals(name, result, texts, gold, pred, kwargs) -> dict[str, Interval | None]:
    """FPRD (``name``: fprd or iptts-fprd) and its reference-code variant."""
    out = {f"{name}.fprd": _fprd_membership(texts, result, result.get("fprd"), gold, pred, kwargs)}
    reference = result.get("fprd_reference_code")
    if reference and reference.get("per_term"):
        terms = list(reference["per_term"])
        hits = np.array([[term in text for term in terms] for text in texts], dtype=bool)
        out[f"{name}.fprd_reference_code.fprd"] = reference_fprd_interval(
            gold, pred, hits, **kwargs
        )
    return out


def _bias_nli_intervals(probs: np.ndarray, neutral: int, confidence: float):
    fraction = int((probs.argmax(axis=1) == neutral).sum())
    return {
        "bias-nli.fraction_neutral": wilson_interval(fraction, len(probs), confidence),
        "bias-nli.net_neutral": mean_interval(probs[:, neutral], confidence),
    }


def _reproducing(
    intervals: dict[str, Interval | None], metrics: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The intervals whose estimate equals the reported value (others left out, warned)."""
    checked: dict[str, dict[str, Any]] = {}
    for key, interval in intervals.items():
        value: Any = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if interval is None or not _matches(interval, value):
            warnings.warn(f"interval of {key}: could not reproduce the value {value!r}; left out",
                          stacklevel=3)  # fmt: skip
            continue
        checked[key] = interval.to_dict()
    return checked
