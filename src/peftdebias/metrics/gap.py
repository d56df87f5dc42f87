"""GAP coreference scores (Webster et al. 2018, "Mind the GAP", TACL; official scorer
``gap_scorer.py`` of google-research-datasets/gap-coreference).

Each example has a pronoun and two candidate names A and B; the classifier picks one label
out of ``labels`` (default A, B, neither). As in the official scorer every example gives
two binary decisions, "pronoun refers to A" and "pronoun refers to B", counted as
TP / FP / FN / TN overall and per pronoun gender (she/her/hers feminine, he/his/him
masculine). Per group:

    P = TP / (TP + FP),  R = TP / (TP + FN),  F1 = 2 P R / (P + R)   (0 when undefined)
    bias = F1(feminine) / F1(masculine)      (None when either F1 is 0)

Scores are fractions in [0, 1]; the official scorer prints them times 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .common import int_array, same_length
from .names import GAP_LABELS

PRONOUN_GENDER: dict[str, str] = {
    "she": "feminine",
    "her": "feminine",
    "hers": "feminine",
    "he": "masculine",
    "his": "masculine",
    "him": "masculine",
}
# Gender names accepted instead of a pronoun (the ``gap`` data set's ``attribute`` column).
GENDER_NAMES: dict[str, str] = {
    "masculine": "masculine",
    "male": "masculine",
    "feminine": "feminine",
    "female": "feminine",
}
GAP_GROUPS: tuple[str, str, str] = ("overall", "masculine", "feminine")


def pronoun_gender(value: str) -> str:
    """Return "masculine" or "feminine" for a GAP pronoun or a gender name (male, ...)."""
    text = str(value).strip().lower()
    if text in GENDER_NAMES:
        return GENDER_NAMES[text]
    if text not in PRONOUN_GENDER:
        raise ValueError(f"unknown GAP pronoun {value!r}; expected one of {sorted(PRONOUN_GENDER)}")
    return PRONOUN_GENDER[text]


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


@dataclass(frozen=True)
class GapResult:
    """Table with one row per group (overall, masculine, feminine) and the F/M bias."""

    table: pd.DataFrame
    bias: float | None

    def f1(self, group: str) -> float:
        return float(self.table.loc[self.table["group"] == group, "f1"].iloc[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "f1": self.f1("overall"),
            "f1_masculine": self.f1("masculine"),
            "f1_feminine": self.f1("feminine"),
            "bias": self.bias,
            "groups": self.table.to_dict(orient="records"),
        }


def gap_scores(
    gold: Sequence[int],
    pred: Sequence[int],
    pronouns: Sequence[str],
    labels: Sequence[str] = GAP_LABELS,
) -> GapResult:
    """Score A/B/neither predictions the way ``gap_scorer.py`` scores A-coref/B-coref.

    ``gold``/``pred`` index ``labels``, which must name "A" and "B" (any other label means
    neither name); ``pronouns`` are the examples' pronouns or gender names
    (see :func:`pronoun_gender`).
    """
    same_length(gold=gold, pred=pred, pronouns=pronouns)
    names = [str(label) for label in labels]
    if "A" not in names or "B" not in names:
        raise ValueError(f"GAP labels must include 'A' and 'B', got {names}")
    index_a, index_b = names.index("A"), names.index("B")
    counts = {group: dict.fromkeys(("tp", "fp", "fn", "tn"), 0) for group in GAP_GROUPS}
    gold_array, pred_array = int_array(gold, "gold"), int_array(pred, "pred")
    for name, array in (("gold", gold_array), ("pred", pred_array)):
        if array.size and (array.min() < 0 or array.max() >= len(names)):
            raise ValueError(f"{name} holds indices outside the {len(names)} labels {names}")
    for g, p, pronoun in zip(gold_array, pred_array, pronouns, strict=True):
        for group in ("overall", pronoun_gender(pronoun)):
            for index in (index_a, index_b):
                truth, system = g == index, p == index
                key = ("tp" if truth else "fp") if system else ("fn" if truth else "tn")
                counts[group][key] += 1
    rows = []
    for group in GAP_GROUPS:
        c = counts[group]
        precision, recall = _ratio(c["tp"], c["tp"] + c["fp"]), _ratio(c["tp"], c["tp"] + c["fn"])
        f1 = _ratio(2 * precision * recall, precision + recall)
        rows.append({"group": group, **c, "precision": precision, "recall": recall, "f1": f1})
    table = pd.DataFrame(rows)
    f1_m, f1_f = rows[1]["f1"], rows[2]["f1"]
    return GapResult(table=table, bias=f1_f / f1_m if f1_m and f1_f else None)
