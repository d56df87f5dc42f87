"""Task quality: accuracy, macro-F1 and per-class precision / recall / F1 (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from .common import int_array, same_length


@dataclass(frozen=True)
class ClassificationResult:
    """Accuracy, macro-F1 and a per-class table (class, support, precision, recall, f1)."""

    accuracy: float
    macro_f1: float
    per_class: pd.DataFrame
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "n": self.n,
            "per_class": self.per_class.to_dict(orient="records"),
        }


def classification_scores(
    gold: Sequence[int], pred: Sequence[int], labels: Sequence[int] | None = None
) -> ClassificationResult:
    """Accuracy = mean(1[pred = gold]); per-class F1_c = 2 P_c R_c / (P_c + R_c) with
    P_c = TP_c / (TP_c + FP_c), R_c = TP_c / (TP_c + FN_c) (0 when undefined);
    macro-F1 = mean over classes of F1_c.

    ``labels`` fixes the classes averaged over (default: those seen in gold or pred, as
    scikit-learn does). For a binary task the F1 of class 1 is the usual "binary F1"
    (e.g. the hate-speech F1 reported by PEFTDebias).
    """
    same_length(gold=gold, pred=pred)
    gold_array, pred_array = int_array(gold, "gold"), int_array(pred, "pred")
    if gold_array.size == 0:
        raise ValueError("classification_scores needs at least one example")
    classes = np.asarray(
        sorted(set(gold_array.tolist()) | set(pred_array.tolist())) if labels is None else labels
    )
    precision, recall, f1, support = precision_recall_fscore_support(
        gold_array, pred_array, labels=classes, average=None, zero_division=0
    )
    per_class = pd.DataFrame(
        {
            "class": classes.astype(int),
            "support": support.astype(int),
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    )
    return ClassificationResult(
        accuracy=float(accuracy_score(gold_array, pred_array)),
        macro_f1=float(np.mean(f1)),
        per_class=per_class,
        n=int(gold_array.size),
    )
