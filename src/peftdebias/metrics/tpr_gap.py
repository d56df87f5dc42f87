"""TPR-GAP (De-Arteaga et al. 2019, "Bias in Bios", FAT* 2019, Sec. 4 and Table 2).

For every gold class c and the two groups g1, g2 of the protected attribute (default
male, female):

    TPR_{g,c} = #{i : gold_i = c, pred_i = c, a_i = g} / #{i : gold_i = c, a_i = g}
    GAP_c     = TPR_{g1,c} - TPR_{g2,c}
    GAP^RMS   = sqrt( (1/|C|) * sum_c GAP_c^2 )

GAP^RMS is the number in the paper's Table 2 and the "TPR-GAP" of PEFTDebias. A class
without any example of one group has no TPR for that group: it is skipped (listed in
``skipped`` and reported by a :class:`MetricWarning`) instead of failing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .common import MetricWarning, int_array, same_length

# Spellings of the two gender values, mapped to the canonical group names. Integers follow
# the LabHC/bias_in_bios convention (0 = male, 1 = female); INLP pickles use "m"/"f".
GENDER_ALIASES: dict[str, str] = {
    "m": "male",
    "male": "male",
    "man": "male",
    "masculine": "male",
    "0": "male",
    "f": "female",
    "female": "female",
    "woman": "female",
    "feminine": "female",
    "1": "female",
}


def canonical_attribute(value: Any) -> str:
    """Lower-cased string form of ``value``, with gender aliases mapped to male/female."""
    text = str(value).strip().lower()
    return GENDER_ALIASES.get(text, text)


@dataclass(frozen=True)
class TprGapResult:
    """Per-class table (class, n_<g1>, n_<g2>, tpr_<g1>, tpr_<g2>, gap) and GAP^RMS."""

    rms: float
    per_class: pd.DataFrame
    groups: tuple[str, str]
    skipped: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tpr_gap_rms": None if math.isnan(self.rms) else self.rms,
            "groups": list(self.groups),
            "per_class": self.per_class.to_dict(orient="records"),
            "skipped_classes": self.skipped,
        }


def tpr_gap(
    gold: Sequence[int],
    pred: Sequence[int],
    attribute: Sequence[Any],
    groups: tuple[str, str] = ("male", "female"),
) -> TprGapResult:
    """TPR gap per gold class between ``groups[0]`` and ``groups[1]``, and its RMS.

    ``attribute`` values are compared after :func:`canonical_attribute`; examples whose
    attribute is in neither group are left out (with a warning).
    """
    same_length(gold=gold, pred=pred, attribute=attribute)
    gold_array, pred_array = int_array(gold, "gold"), int_array(pred, "pred")
    first, second = (canonical_attribute(group) for group in groups)
    attributes = np.asarray([canonical_attribute(value) for value in attribute])
    outside = ~np.isin(attributes, [first, second])
    if outside.any():
        others = sorted(set(attributes[outside].tolist()))
        warnings.warn(
            f"tpr-gap: {int(outside.sum())} example(s) with attribute {others} belong to neither "
            f"group {first!r} nor {second!r} and are left out",
            MetricWarning,
            stacklevel=2,
        )
    rows, skipped = [], []
    for cls in sorted(set(gold_array.tolist())):
        in_class = gold_array == cls
        correct = pred_array == cls
        counts = [int((in_class & (attributes == g)).sum()) for g in (first, second)]
        if 0 in counts:
            skipped.append(cls)
            continue
        tprs = [
            float((in_class & correct & (attributes == g)).sum()) / n
            for g, n in zip((first, second), counts, strict=True)
        ]
        rows.append((cls, *counts, *tprs, tprs[0] - tprs[1]))
    if skipped:
        warnings.warn(
            f"tpr-gap: class(es) {skipped} have no example of {first!r} or {second!r} and are "
            "skipped",
            MetricWarning,
            stacklevel=2,
        )
    columns = ["class", f"n_{first}", f"n_{second}", f"tpr_{first}", f"tpr_{second}", "gap"]
    per_class = pd.DataFrame(rows, columns=columns)
    rms = math.sqrt(float(np.mean(per_class["gap"] ** 2))) if rows else math.nan
    return TprGapResult(rms=rms, per_class=per_class, groups=(first, second), skipped=skipped)
