"""WEAT statistics on sentence encodings (Caliskan et al. 2017; SEAT, May et al. 2019).

For targets X, Y and attributes A, B (rows of unit vectors)::

    s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)
    effect size = (mean_{x in X} s(x) - mean_{y in Y} s(y)) / std_{w in X u Y} s(w)   (ddof=1)

p-value: one-sided permutation test over equal-size partitions (X_i, Y_i) of X u Y,
``P[sum_{x in X_i} s(x) >= sum_{x in X} s(x)]`` (ties count, the conservative test of
bias-bench / sent-bias). Exact over all C(2n, n) partitions when that is at most
``n_samples``; otherwise ``n_samples - 1`` random partitions plus the observed one.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def association(targets: np.ndarray, attr_a: np.ndarray, attr_b: np.ndarray) -> np.ndarray:
    """``s(w, A, B)`` for every row ``w`` of ``targets`` (float64 cosine similarities)."""

    def cosine(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        left, right = left.astype(np.float64), right.astype(np.float64)
        norms = np.outer(np.linalg.norm(left, axis=1), np.linalg.norm(right, axis=1))
        return left @ right.T / norms

    return cosine(targets, attr_a).mean(axis=1) - cosine(targets, attr_b).mean(axis=1)


def effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """Cohen's-d-like effect size from the associations of X and Y (pooled std, ddof=1)."""
    return float((s_x.mean() - s_y.mean()) / np.std(np.concatenate([s_x, s_y]), ddof=1))


def _partition_sums(s_xy: np.ndarray, members: np.ndarray) -> np.ndarray:
    return s_xy[members].sum(axis=1)


def p_value(s_x: np.ndarray, s_y: np.ndarray, n_samples: int = 100_000, seed: int = 0) -> dict:
    """One-sided permutation p-value; returns ``p_value``, ``exact`` and ``partitions``."""
    size = len(s_x)
    if len(s_y) != size:
        raise ValueError(f"target sets differ in size ({size} vs {len(s_y)})")
    s_xy = np.concatenate([s_x, s_y])
    observed = _partition_sums(s_xy, np.arange(size)[None])[0]
    partitions = math.comb(2 * size, size)
    if partitions <= n_samples:
        members = np.array(list(itertools.combinations(range(2 * size), size)), dtype=np.int64)
        hits = int((_partition_sums(s_xy, members) >= observed).sum())
        return {"p_value": hits / partitions, "exact": True, "partitions": partitions}
    rng = np.random.default_rng(seed)
    hits, chunk = 1, 10_000  # the observed partition counts once
    for start in range(0, n_samples - 1, chunk):
        rows = min(chunk, n_samples - 1 - start)
        shuffled = rng.permuted(np.tile(np.arange(2 * size), (rows, 1)), axis=1)
        hits += int((_partition_sums(s_xy, shuffled[:, :size]) >= observed).sum())
    return {"p_value": hits / n_samples, "exact": False, "partitions": n_samples}
