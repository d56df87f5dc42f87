"""Reading delimited and JSON-lines files with errors that name the file, line and column."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetInfo, Features, NamedSplit
from datasets.table import InMemoryTable

from ..errors import DataError


def read_table(path: Path, sep: str | None = None, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a csv/tsv file (separator from the suffix unless given) as strings.

    Raises :class:`DataError` naming the file for a parse error or a missing column.
    """
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    if sep is None:
        sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    try:
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: cannot parse as {'tsv' if sep == chr(9) else 'csv'}: {exc}"
        ) from exc
    require_columns(frame.columns, required, path)
    return frame


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file; a malformed line
    or a line that is not a JSON object is a :class:`DataError` naming file and line."""
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: malformed JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {number}: expected a JSON object")
            yield number, row


def read_jsonl(path: Path, required: Iterable[str] = ()) -> list[dict]:
    """Read a JSON-lines file; a malformed line or missing field is reported by line number."""
    required = tuple(required)
    rows = []
    for number, row in iter_jsonl(path):
        missing = [key for key in required if key not in row]
        if missing:
            raise DataError(f"{path}, line {number}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    return rows


def require_columns(columns: Iterable[str], required: Iterable[str], path: Path) -> None:
    """Raise :class:`DataError` listing the ``required`` columns absent from ``columns``."""
    columns = list(columns)
    missing = [name for name in required if name not in columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; found: {', '.join(map(str, columns))}"
        )


def to_dataset(
    columns: dict[str, list], split: str, label_names: Sequence[str] | None = None
) -> Dataset:
    """Columns -> ``datasets.Dataset``; ``label`` becomes a ``ClassLabel`` over ``label_names``.

    Built straight from an Arrow table (no per-row encoding, no progress bar). Raises
    ``ValueError`` for a label outside ``range(len(label_names))`` (loaders check first).
    """
    table = InMemoryTable.from_pydict(columns)
    features = Features.from_arrow_schema(table.schema)
    if label_names is not None and "label" in columns:
        labels = columns["label"]
        if labels and not 0 <= min(labels) <= max(labels) < len(label_names):
            raise ValueError(f"labels must lie in 0..{len(label_names) - 1}")
        features["label"] = ClassLabel(names=list(label_names))
    return Dataset(table, info=DatasetInfo(features=features), split=NamedSplit(split))
