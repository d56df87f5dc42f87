"""Helpers shared by the metric modules: input checks and the warning category."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MetricWarning(UserWarning):
    """A metric skipped part of its input (a class or term it cannot score)."""


def int_array(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a 1-d int array (whole floats accepted); ``ValueError`` otherwise."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0 or np.issubdtype(array.dtype, np.integer):
        return array.astype(int)
    if np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array)):
        return array.astype(int)
    raise ValueError(f"{name} must hold integer class indices, got {array[:3].tolist()} ...")


def same_length(**arrays: Sequence) -> int:
    """The common length of the named sequences; ``ValueError`` listing them otherwise."""
    lengths = {name: len(values) for name, values in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"inputs differ in length: {listed}")
    return next(iter(lengths.values()), 0)


def binary(values: np.ndarray, name: str) -> np.ndarray:
    """Check that ``values`` only holds 0 and 1 (negative / positive class)."""
    bad = set(np.unique(values).tolist()) - {0, 1}
    if bad:
        raise ValueError(f"{name} must be binary (0 = negative, 1 = positive), found {sorted(bad)}")
    return values
