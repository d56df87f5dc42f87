"""The user's own data: any csv/tsv/jsonl table, and raw text corpora for masked-LM.

Label encoding of :func:`load_user_table` (deterministic, documented in docs/data.md): if
every label is a non-negative integer the integers are the ids (names ``"0"``..``"K-1"``),
and they must be exactly 0..K-1, each used; otherwise the distinct label strings (stripped)
are sorted and numbered from 0. The mapping is kept as the ``ClassLabel`` feature of the
``label`` column (``dataset.features["label"].names``). Labels that cannot be meant
(a single class, ids with gaps such as a stray 100000, names differing only in case) are
refused; classes with very few examples (likely typos) are warned about.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Dataset

from ..errors import ConfigError, DataError
from .registry import get_source, load
from .tables import DataWarning, read_jsonl, read_table, require_columns, to_dataset

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl")


def _read_any(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}; use {', '.join(TABLE_SUFFIXES)}"
        )
    if suffix == ".jsonl":
        frame = pd.DataFrame(read_jsonl(path, required=required))
        require_columns(frame.columns, required, path)  # an empty file has no columns
        return frame
    return read_table(path, required=required)


def _line(path: Path, index: int) -> str:
    """Human position of row ``index`` (0-based) in ``path``: a line for delimited files."""
    if path.suffix.lower() == ".jsonl":
        return f"record {index + 1}"
    return f"line {index + 2}"  # the header is line 1


def _values(frame: pd.DataFrame, column: str, table: _Table) -> list[str]:
    """Column as strings; a missing (null) or blank value is an error naming its row."""
    series = frame[column]
    blank = series.isna() | (series.astype(str).str.strip() == "")
    if blank.any():
        index = int(blank.to_numpy().argmax())
        raise DataError(f"{table.where}, {table.line(index)}: column {column} is empty")
    return series.astype(str).tolist()


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit()


def encode_labels(
    values: list[str],
    where: str = "labels",
    line: Callable[[int], str] = lambda index: f"row {index + 1}",
) -> tuple[list[int], tuple[str, ...]]:
    """Label strings -> (ids, names); integer labels keep their value (see module docstring).

    ``where`` (file and column) and ``line`` (0-based row -> its position in the file) name
    the place in errors: integer labels that are not exactly 0..K-1 (a gap, e.g. a stray
    100000), or names that differ only in case, are a :class:`DataError`.
    """
    values = [value.strip() for value in values]
    first = {}
    for index, value in enumerate(values):
        first.setdefault(value, index)
    if values and all(_is_id(value) for value in values):
        ids = [int(value) for value in values]
        used, top = set(ids), max(ids)
        if len(used) != top + 1:  # not exactly 0..top (top may be huge: never build range)
            gaps = [i for i in range(min(top, len(used) + 5)) if i not in used][:5]
            shown = ", ".join(map(str, gaps)) + (", ..." if top + 1 - len(used) > 5 else "")
            largest = next(v for v in first if int(v) == top)
            raise DataError(
                f"{where}: integer labels must be the class ids 0..K-1, each used, but "
                f"{top + 1 - len(used)} id(s) between 0 and {top} never occur ({shown}; largest "
                f"label {top} at {line(first[largest])}). Fix the labels or use class names"
            )
        return ids, tuple(str(index) for index in range(top + 1))
    names = tuple(sorted(first))
    spellings: dict[str, list[str]] = {}
    for name in names:
        spellings.setdefault(name.casefold(), []).append(name)
    clash = next((group for group in spellings.values() if len(group) > 1), None)
    if clash:
        listed = " and ".join(f"{name!r} ({line(first[name])})" for name in clash)
        raise DataError(f"{where}: labels {listed} differ only in case; write one class one way")
    index = {name: number for number, name in enumerate(names)}
    return [index[value] for value in values], names


def check_label_counts(
    ids: list[int],
    names: tuple[str, ...],
    where: str,
    line: Callable[[int], str],
    min_classes: int = 2,
) -> None:
    """Refuse fewer than ``min_classes`` classes; warn about rare classes (likely typos).

    A class is rare when it has fewer than min(10, 5 % of the rows) examples.
    """
    counts = Counter(ids)
    if len(counts) < min_classes:
        found = ", ".join(repr(names[i]) for i in sorted(counts))
        raise DataError(
            f"{where}: {len(counts)} class(es) ({found}) in {len(ids)} rows; a classifier "
            f"needs at least {min_classes}. Check the label column"
        )
    limit = min(10, 0.05 * len(ids))
    rare = sorted((i for i, n in counts.items() if n < limit), key=lambda i: (counts[i], i))
    if rare:
        listed = ", ".join(
            f"{names[i]!r} ({counts[i]}x, first at {line(ids.index(i))})" for i in rare[:10]
        )
        warnings.warn(
            f"{where}: {len(rare)} of {len(counts)} classes have very few examples: {listed}; "
            "a typo in the label column makes an extra class",
            DataWarning,
            stacklevel=3,
        )


# a user table: a csv/tsv/jsonl file, or a Dataset with the same columns
UserTable = str | os.PathLike | Dataset


@dataclass
class _Table:
    """The columns of one user table, where it comes from and how its rows are named."""

    where: str
    line: Callable[[int], str]  # 0-based row -> its position ("line 5", "record 3", "row 2")
    columns: dict[str, list] = field(default_factory=dict)


def _dataset_frame(dataset: Dataset, required: tuple[str, ...], where: str) -> pd.DataFrame:
    """The ``required`` columns of ``dataset`` as strings (a ClassLabel's by class name)."""
    require_columns(dataset.column_names, required, where)
    frame = {}
    for name in dict.fromkeys(required):
        feature, values = dataset.features[name], dataset[name][:]
        named = feature.int2str if isinstance(feature, ClassLabel) else str
        frame[name] = [None if value is None else named(value) for value in values]
    return pd.DataFrame(frame)


def _read_user_table(
    source: UserTable, role: str, columns: dict[str, str | None], required: tuple[str, ...]
) -> _Table:
    """One user table's normalised columns (``columns``: normalised name -> its column)."""
    if isinstance(source, Dataset):
        table = _Table(f"{role} Dataset", lambda index: f"row {index + 1}")
        frame = _dataset_frame(source, required, table.where)
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"file {path} does not exist")
        table = _Table(str(path), lambda index: _line(path, index))
        frame = _read_any(path, required)
    if frame.empty:
        raise DataError(f"{table.where}: no rows")
    id_column = columns["id"]
    ids = _values(frame, id_column, table) if id_column else [str(i) for i in range(len(frame))]
    table.columns = {"id": ids}
    for key, column in columns.items():
        if column and key != "id":
            table.columns[key] = _values(frame, column, table)
    return table


def _encode_labels(tables: dict[str, _Table], column: str, min_classes: int) -> tuple[str, ...]:
    """Encode the labels of every table with one class mapping (see :func:`encode_labels`;
    fewer than ``min_classes`` classes in all of them is an error); returns the names."""
    places = [(t, i) for t in tables.values() for i in range(len(t.columns["label"]))]
    values = [table.columns["label"][index] for table, index in places]
    if len(tables) == 1:
        (table,) = tables.values()
        where, line = f"{table.where}, column {column}", table.line
    else:
        where = f"column {column} of {', '.join(table.where for table in tables.values())}"

        def line(index: int) -> str:
            table, row = places[index]
            return f"{table.where}, {table.line(row)}"

    ids, names = encode_labels(values, where, line)
    check_label_counts(ids, names, where, line, min_classes)
    start = 0
    for table in tables.values():
        end = start + len(table.columns["label"])
        table.columns["label"], start = ids[start:end], end
    return names


def load_user_splits(
    sources: Mapping[str, UserTable],
    text_column: str,
    label_column: str | None = None,
    attribute_column: str | None = None,
    text_pair_column: str | None = None,
    id_column: str | None = None,
    min_classes: int = 2,
) -> dict[str, Dataset]:
    """Load user tables, e.g. ``{"train": path, "dev": path, "test": dataset}``, as Datasets
    with the normalised column names (see :func:`load_user_table`). Every table needs every
    column given; the labels of all of them are encoded together, so a class has one id in
    every split. Errors name the file (or the split's Dataset) and the column or row."""
    columns = {
        "text": text_column,
        "text_pair": text_pair_column,
        "label": label_column,
        "attribute": attribute_column,
        "id": id_column,
    }
    required = (text_column, *(name for key, name in columns.items() if name and key != "text"))
    tables = {role: _read_user_table(src, role, columns, required) for role, src in sources.items()}
    names = _encode_labels(tables, label_column, min_classes) if label_column else None
    return {role: to_dataset(table.columns, role, names) for role, table in tables.items()}


def load_user_table(
    path: str | os.PathLike,
    text_column: str,
    label_column: str | None = None,
    attribute_column: str | None = None,
    text_pair_column: str | None = None,
    id_column: str | None = None,
    split: str = "train",
    min_classes: int = 2,
) -> Dataset:
    """Load a csv/tsv/jsonl file as a Dataset with the normalised column names.

    Columns: ``id`` (``id_column`` or the row number), ``text``, and when given
    ``text_pair``, ``label`` (ClassLabel, see :func:`encode_labels`), ``attribute``.
    Raises :class:`DataError` naming the file and the missing column or empty cell, or
    labels that cannot be meant (see :func:`encode_labels`; fewer than ``min_classes``
    classes); warns (:class:`~peftdebias.data.tables.DataWarning`) about rare classes.
    """
    return load_user_splits(
        {split: path}, text_column, label_column, attribute_column, text_pair_column,
        id_column, min_classes,
    )[split]  # fmt: skip


def load_text_corpus(
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    text_column: str = "text",
) -> list[str]:
    """Raw, non-empty texts for masked-LM training.

    ``name_or_path`` is a registered data set (its ``text`` — and ``text_pair`` for NLI —
    of ``split``), a ``.txt`` file (one text per line), or a csv/tsv/jsonl file whose
    ``text_column`` holds the texts. Blank texts are dropped, the rest kept verbatim.
    """
    path = Path(name_or_path)
    if path.is_file():
        if path.suffix.lower() == ".txt":
            with path.open(encoding="utf-8") as handle:
                texts = [line.rstrip("\n\r") for line in handle]
        else:
            texts = _read_any(path, (text_column,))[text_column].dropna().astype(str).tolist()
    else:
        try:
            get_source(str(name_or_path))
        except ConfigError as exc:
            raise DataError(f"{name_or_path!r} is not an existing file, and {exc}") from exc
        dataset = load(str(name_or_path), split, data_dir)
        texts = dataset["text"][:]  # slicing returns a list (iterating a Column is slow)
        if "text_pair" in dataset.column_names:
            texts += dataset["text_pair"][:]
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise DataError(f"{name_or_path}: no non-empty texts")
    return texts
