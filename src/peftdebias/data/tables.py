"""Reading delimited and JSON-lines files with errors that name the file, line and column."""

from __future__ import annotations

import csv
import json
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetInfo, Features, NamedSplit
from datasets.table import InMemoryTable

from ..errors import DataError


class DataWarning(UserWarning):
    """Data that loads but looks wrong (a rare label that may be a typo, a one-class split,
    csv rows that look merged by a quote)."""


def read_table(path: Path, sep: str | None = None, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a csv/tsv file (separator from the suffix unless given) as strings.

    Fields may be quoted csv-style (``"a ""quoted"" word"``, as in the GHC files). A tsv
    record is one line, so a field that runs over a line break is an unterminated quote
    that merged rows: a :class:`DataError` naming the line where the quote opens. In a csv
    file quoted line breaks are legal; a multi-line field whose lines look like rows of the
    file is reported with a :class:`DataWarning`. Raises :class:`DataError` naming the file
    for a parse error or a missing column.
    """
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    if sep is None:
        sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    kind = "tsv" if sep == "\t" else "csv"
    try:
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: empty file, expected a {kind} header line") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse as {kind}: {exc}") from exc
    _check_line_breaks(path, frame, sep)
    require_columns(frame.columns, required, path)
    return frame


def _check_line_breaks(path: Path, frame: pd.DataFrame, sep: str) -> None:
    """Refuse (tsv) or warn about (csv) fields that run over line breaks; see read_table."""
    if frame.empty:
        return
    spans = pd.Series(False, index=frame.index)
    for column in frame.columns:
        spans |= frame[column].str.contains("[\r\n]", regex=True)
    if not spans.any():
        return
    first, last, text = _multi_line_record(path, sep)
    if sep == "\t":
        raise DataError(
            f"{path}, line {first}: a quoted field starting here runs over lines {first}-{last} "
            "(unterminated quote?); a tsv row must be one line: close the quote or remove it"
        )
    width = len(frame.columns)
    inner = [line for line in text.splitlines() if line.strip()]
    if any(len(line.split(sep)) >= width for line in inner[1:]):
        warnings.warn(
            f"{path}, line {first}: a quoted field runs over lines {first}-{last} and its lines "
            f"look like rows of the file; if a quote is unterminated, rows were merged",
            DataWarning,
            stacklevel=3,
        )


def _multi_line_record(path: Path, sep: str) -> tuple[int, int, str]:
    """(first line, last line, field text) of the first record with a field over lines."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=sep)
        start = 1
        for row in reader:
            for field in row:
                if "\n" in field or "\r" in field:
                    return start, reader.line_num, field
            start = reader.line_num + 1
    return 1, 1, ""  # pandas and csv disagree: no better position than the file


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file; a malformed line
    or a line that is not a JSON object is a :class:`DataError` naming file and line."""
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}, line {number}: not UTF-8 text ({exc.reason})") from exc
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


def check_classes(labels: Sequence[int], names: Sequence[str], where: str) -> None:
    """Warn (:class:`DataWarning`) when the ``labels`` of a split hold a single class: a
    classifier trained on it learns nothing. ``names`` are the class names."""
    counts = Counter(labels)
    if len(counts) == 1 and len(labels) > 0:
        (label,) = counts
        name = names[label] if 0 <= label < len(names) else label
        warnings.warn(
            f"{where}: all {len(labels)} example(s) have label {name!r} (one class); the "
            "classifier cannot learn the others. Use more data or a balanced split",
            DataWarning,
            stacklevel=2,
        )
