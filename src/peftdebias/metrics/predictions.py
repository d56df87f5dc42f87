"""The predictions file: one JSON object per line, written by the downstream phase and
read by ``peftdebias metrics``.

Fields of every line:

- ``id`` (str or int), ``gold`` (int class index), ``pred`` (int class index),
  ``probs`` (list of finite floats, the predicted class probabilities; ``pred`` and ``gold``
  index it, and every row has the same number of classes);
- optional ``text`` and ``text_pair`` (str): the input (needed by FPRD);
- optional ``attribute``: protected attribute, e.g. "male"/"female" or 0/1 (TPR-GAP);
- optional task-specific fields, e.g. ``pronoun`` (GAP), ``template`` (IPTTS),
  ``occupation``/``gender_word``/``gender`` (Bias-NLI).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from ..data.tables import iter_jsonl
from ..errors import DataError
from ..io import check_output_file, write_jsonl

REQUIRED_FIELDS: tuple[str, ...] = ("id", "gold", "pred", "probs")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_row(row: dict[str, Any]) -> str | None:
    """The problem with prediction ``row`` as a message, or ``None`` when it is valid."""
    missing = [name for name in REQUIRED_FIELDS if name not in row]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    for name in ("gold", "pred"):
        if not _is_int(row[name]):
            return f"field {name} must be an integer class index, got {row[name]!r}"
    probs = row["probs"]
    if (
        not isinstance(probs, list)
        or not probs
        or not all(isinstance(p, Real) and not isinstance(p, bool) for p in probs)
    ):
        return f"field probs must be a non-empty list of numbers, got {probs!r}"
    bad = next((p for p in probs if not math.isfinite(p)), None)
    if bad is not None:
        return f"field probs must hold finite numbers, got {bad!r} in {probs!r}"
    for name in ("pred", "gold"):
        if not 0 <= row[name] < len(probs):
            return (
                f"field {name}={row[name]} is not an index into probs ({len(probs)} classes, "
                f"0..{len(probs) - 1})"
            )
    for name in ("text", "text_pair"):
        if name in row and not isinstance(row[name], str):
            return f"field {name} must be a string, got {row[name]!r}"
    return None


def _other_width(row: dict[str, Any], first: list[dict[str, Any]], where: str) -> str | None:
    """The problem when ``row`` has another number of classes than the ``first`` row."""
    if first and len(row["probs"]) != len(first[0]["probs"]):
        return (
            f"field probs has {len(row['probs'])} values but {where} has "
            f"{len(first[0]['probs'])}; every row needs the same classes"
        )
    return None


@dataclass(frozen=True)
class Predictions:
    """Validated rows of a predictions file, with the line number of each row."""

    rows: list[dict[str, Any]]
    lines: list[int]
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def gold(self) -> list[int]:
        return [row["gold"] for row in self.rows]

    @property
    def pred(self) -> list[int]:
        return [row["pred"] for row in self.rows]

    @property
    def probs(self) -> list[list[float]]:
        return [row["probs"] for row in self.rows]

    def has(self, name: str) -> bool:
        """Whether every row has field ``name`` (and there is at least one row)."""
        return bool(self.rows) and all(row.get(name) is not None for row in self.rows)

    def column(self, name: str, needed_by: str) -> list[Any]:
        """Values of field ``name``; :class:`DataError` naming the first line without it."""
        for row, line in zip(self.rows, self.lines, strict=True):
            if row.get(name) is None:
                where = f"{self.path}, line {line}" if self.path else f"prediction row {line}"
                raise DataError(f"{where}: missing field {name!r} (needed by {needed_by})")
        return [row[name] for row in self.rows]


def read_predictions(path: str | os.PathLike) -> Predictions:
    """Read and validate a predictions file; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"predictions file {path} does not exist")
    rows, lines = [], []
    for number, row in iter_jsonl(path):
        problem = validate_row(row) or _other_width(
            row, rows[:1], f"line {lines[0]}" if lines else ""
        )
        if problem:
            raise DataError(f"{path}, line {number}: {problem}")
        rows.append(row)
        lines.append(number)
    if not rows:
        raise DataError(f"predictions file {path} holds no rows")
    return Predictions(rows=rows, lines=lines, path=path)


def write_predictions(
    path: str | os.PathLike, rows: Iterable[dict[str, Any]], overwrite: bool = False
) -> int:
    """Validate and atomically write prediction ``rows``; return how many were written."""
    target = check_output_file(path, overwrite)
    checked: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        problem = validate_row(row) or _other_width(row, checked[:1], "row 1")
        if problem:
            raise DataError(f"prediction row {number} for {target}: {problem}")
        checked.append(row)
    return write_jsonl(target, checked)
