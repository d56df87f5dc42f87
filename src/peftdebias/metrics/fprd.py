"""False positive rate difference, FPRD (Dixon et al. 2018, "Measuring and Mitigating
Unintended Bias in Text Classification", AIES 2018, Sec. 5: "false positive equality
difference").

Binary task, label 1 = positive (toxic / hate), 0 = negative. Over gold negatives only:

    FPR   = FP / (FP + TN)                        (all examples)
    FPR_t = FP_t / (FP_t + TN_t)                  (examples containing identity term t)
    FPRD  = sum_t | FPR_t - FPR |

A text contains t when t occurs as a whole word, case-insensitively (see
:mod:`peftdebias.metrics.terms`); an example counts for every term it contains, as in Dixon
et al.'s code. Terms are normalised and de-duplicated first, so "african-american" and
"african american" are one term. Terms without any gold negative have no FPR_t: they are
skipped, listed in ``skipped`` and reported by a :class:`MetricWarning`; when no term can
be scored FPRD is ``None`` (JSON ``null``), not 0.

:func:`fprd_reference_code` reproduces what the PEFTDebias reference code
(sumit-agrwl/peft-debias, ``extrinsic_metric.py``, ``get_fprd``) computed, on its own
54-word list by default, for comparison with its published numbers only; see
docs/metrics.md for its defects.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .common import MetricWarning, binary, int_array, same_length
from .terms import axis_terms, normalize_terms, reference_code_terms, term_matrix


@dataclass(frozen=True)
class FprdResult:
    """FPRD, the overall FPR and a per-term table.

    ``per_term`` columns: term, n (examples containing it), negatives (gold 0 among them),
    false_positives, fpr (NaN when skipped), abs_diff = |fpr - overall_fpr|. ``fprd`` is
    ``None`` when no term has a gold negative (nothing could be scored).
    """

    fprd: float | None
    overall_fpr: float
    per_term: pd.DataFrame
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        table = self.per_term.astype(object).where(self.per_term.notna(), None)
        return {
            "fprd": self.fprd,
            "overall_fpr": self.overall_fpr,
            "terms_scored": len(self.per_term) - len(self.skipped),
            "skipped_terms": self.skipped,
            "per_term": table.to_dict(orient="records"),
        }


def fprd_from_matrix(
    gold: Sequence[int], pred: Sequence[int], membership: np.ndarray, terms: Sequence[str]
) -> FprdResult:
    """FPRD for a precomputed example x term membership matrix (see :func:`fprd`)."""
    gold_array = binary(int_array(gold, "gold"), "gold")
    pred_array = binary(int_array(pred, "pred"), "pred")
    negative = gold_array == 0
    if not negative.any():
        raise DataError("fprd: no gold negative (label 0) example, so no false positive rate")
    false_positive = negative & (pred_array == 1)
    overall = float(false_positive.sum() / negative.sum())
    n = membership.sum(axis=0)
    negatives = (membership & negative[:, None]).sum(axis=0)
    fps = (membership & false_positive[:, None]).sum(axis=0)
    fpr = np.where(negatives > 0, fps / np.maximum(negatives, 1), np.nan)
    per_term = pd.DataFrame(
        {
            "term": list(terms),
            "n": n.astype(int),
            "negatives": negatives.astype(int),
            "false_positives": fps.astype(int),
            "fpr": fpr,
            "abs_diff": np.abs(fpr - overall),
        }
    )
    skipped = per_term.loc[per_term["negatives"] == 0, "term"].tolist()
    scored = len(per_term) - len(skipped)
    if not scored:
        warnings.warn(
            f"fprd: none of the {len(per_term)} term(s) occurs in a gold negative example, so "
            "FPRD is undefined (null), not 0",
            MetricWarning,
            stacklevel=3,
        )
    elif skipped:
        shown = ", ".join(skipped[:10]) + (", ..." if len(skipped) > 10 else "")
        warnings.warn(
            f"fprd: {len(skipped)} of {len(per_term)} term(s) have no gold negative example "
            f"and are skipped (listed in skipped_terms): {shown}",
            MetricWarning,
            stacklevel=3,
        )
    return FprdResult(
        fprd=float(np.nansum(per_term["abs_diff"])) if scored else None,
        overall_fpr=overall,
        per_term=per_term,
        skipped=skipped,
    )


def fprd(
    texts: Sequence[str], gold: Sequence[int], pred: Sequence[int], terms: Sequence[str]
) -> FprdResult:
    """FPRD over ``terms``; an example counts for every term it contains.

    ``terms`` are normalised (:func:`~peftdebias.metrics.terms.normalize_terms`): spellings
    that differ only in case, punctuation or hyphenation are one term, counted once.
    """
    same_length(texts=texts, gold=gold, pred=pred)
    terms = normalize_terms(terms)
    return fprd_from_matrix(gold, pred, term_matrix(texts, terms), terms)


def iptts_fprd(
    texts: Sequence[str],
    gold: Sequence[int],
    pred: Sequence[int],
    terms: Sequence[str] | None = None,
    longest_only: bool = False,
) -> FprdResult:
    """FPRD on the Identity Phrase Templates Test Set (Dixon et al. 2018, out of domain).

    ``texts``/``gold`` are the IPTTS sentences and labels (BAD = 1), ``pred`` the
    classifier's predictions; ``terms`` default to the 50 IPTTS terms (axis ``iptts``).
    As in Dixon et al.'s code (``add_subgroup_columns_from_text``: one whole-word,
    case-insensitive search per term), a sentence counts for **every** term it contains,
    so "african american" sentences also count for "african" and "american". With
    ``longest_only`` each sentence counts only for its longest matching term (the one the
    ``iptts`` data set gives as ``attribute``). Sentences without a term (the occupation
    templates) count for the overall FPR only.
    """
    same_length(texts=texts, gold=gold, pred=pred)
    terms = normalize_terms(axis_terms("iptts") if terms is None else terms)
    matrix = term_matrix(texts, terms, longest_only=longest_only)
    return fprd_from_matrix(gold, pred, matrix, terms)


@dataclass(frozen=True)
class ReferenceFprdResult:
    """The reference code's FPRD variant (``fprd_reference_code``) and its per-term rates.

    ``fprd`` is ``None`` when no term occurs in any text; ``terms`` says which list was used.
    """

    fprd: float | None
    overall_rate: float
    per_term: dict[str, float]
    terms: str = "reference code group_bias_words (54 terms)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fprd": self.fprd,
            "overall_rate": self.overall_rate,
            "terms": self.terms,
            "per_term": self.per_term,
        }


def fprd_reference_code(
    texts: Sequence[str],
    gold: Sequence[int],
    pred: Sequence[int],
    terms: Sequence[str] | None = None,
) -> ReferenceFprdResult:
    """FPRD as computed by the PEFTDebias reference code, NOT the metric of Dixon et al.:

        r_t = mean over ALL examples whose text contains t as a case-sensitive substring
              of 1[gold = 0 and pred = 1]
        r   = mean over all examples of 1[gold = 0 and pred = 1]
        FPRD_ref = sum over terms that occur of |r_t - r|

    The denominators count positives too, and "he" is found inside "the". ``terms``
    default to the reference code's own 54-word ``group_bias_words``
    (:func:`~peftdebias.metrics.terms.reference_code_terms`), which its published numbers
    used; other lists are taken verbatim (no normalisation: substring matching).
    """
    same_length(texts=texts, gold=gold, pred=pred)
    source = "reference code group_bias_words (54 terms)"
    if terms is None:
        terms = reference_code_terms()
    else:
        terms, source = list(terms), f"{len(terms)} given terms"
    gold_array, pred_array = int_array(gold, "gold"), int_array(pred, "pred")
    indicator = (gold_array == 0) & (pred_array == 1)
    if indicator.size == 0:
        raise ValueError("fprd_reference_code needs at least one example")
    overall = float(indicator.mean())
    per_term = {}
    for term in terms:
        hits = np.fromiter((term in text for text in texts), dtype=bool, count=len(texts))
        if hits.any():
            per_term[term] = float(indicator[hits].mean())
    value = float(sum(abs(rate - overall) for rate in per_term.values())) if per_term else None
    return ReferenceFprdResult(fprd=value, overall_rate=overall, per_term=per_term, terms=source)
