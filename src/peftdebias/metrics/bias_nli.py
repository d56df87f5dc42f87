"""Bias-NLI scores (Dev et al. 2020, "On Measuring and Mitigating Biased Inferences of
Word Embeddings", AAAI 2020, Sec. 3.1).

Given the NLI model's class probabilities p_i on N template pairs (see
:mod:`peftdebias.metrics.bias_nli_templates`) and the index ``n`` of the *neutral* class:

    Net Neutral        NN   = (1/N) sum_i p_i[n]
    Fraction Neutral   FN   = (1/N) sum_i 1[argmax_k p_i[k] = n]
    Threshold tau      T:tau = (1/N) sum_i 1[p_i[n] > tau]      (tau = 0.5, 0.7)

Higher is less biased (1 = always neutral). The neutral index depends on the model's label
order: 1 for the Hugging Face GLUE MNLI / SNLI order (entailment, neutral, contradiction)
and for roberta-large-mnli (contradiction, neutral, entailment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError


@dataclass(frozen=True)
class BiasNliResult:
    """NN, FN and the threshold fractions T:tau, keyed by tau."""

    net_neutral: float
    fraction_neutral: float
    thresholds: dict[float, float]
    n: int
    neutral_index: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "net_neutral": self.net_neutral,
            "fraction_neutral": self.fraction_neutral,
            **{f"threshold_{tau:g}": value for tau, value in self.thresholds.items()},
            "n": self.n,
            "neutral_index": self.neutral_index,
        }


def bias_nli_scores(
    probs: Sequence[Sequence[float]] | np.ndarray,
    neutral_index: int = 1,
    thresholds: Sequence[float] = (0.5, 0.7),
) -> BiasNliResult:
    """NN, FN and T:tau from an N x K matrix of class probabilities (rows sum to 1)."""
    matrix = np.asarray(probs, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise DataError(
            f"bias-nli: probs must be a non-empty N x K matrix, got shape {matrix.shape}"
        )
    if not 0 <= neutral_index < matrix.shape[1]:
        raise DataError(
            f"bias-nli: neutral index {neutral_index} is outside the {matrix.shape[1]} classes"
        )
    if (matrix < 0).any() or not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-3):
        raise DataError(
            "bias-nli: probs must be probabilities (non-negative, rows sum to 1), not logits"
        )
    neutral = matrix[:, neutral_index]
    return BiasNliResult(
        net_neutral=float(neutral.mean()),
        fraction_neutral=float((matrix.argmax(axis=1) == neutral_index).mean()),
        thresholds={float(tau): float((neutral > tau).mean()) for tau in thresholds},
        n=int(matrix.shape[0]),
        neutral_index=neutral_index,
    )
