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
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from datasets import Dataset

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


def _values(frame: pd.DataFrame, column: str, path: Path) -> list[str]:
    """Column as strings; a missing (null) or blank value is an error naming its row."""
    series = frame[column]
    blank = series.isna() | (series.astype(str).str.strip() == "")
    if blank.any():
        index = int(blank.to_numpy().argmax())
        raise DataError(f"{path}, {_line(path, index)}: column {column} is empty")
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
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    optional = {
        "text_pair": text_pair_column,
        "label": label_column,
        "attribute": attribute_column,
        "id": id_column,
    }
    required = (text_column, *(name for name in optional.values() if name))
    frame = _read_any(path, required)
    if frame.empty:
        raise DataError(f"{path}: no rows")
    columns: dict[str, list] = {
        "id": _values(frame, id_column, path) if id_column else [str(i) for i in range(len(frame))],
        "text": _values(frame, text_column, path),
    }
    label_names = None
    for key in ("text_pair", "label", "attribute"):
        if optional[key]:
            columns[key] = _values(frame, optional[key], path)
    if label_column:
        where = f"{path}, column {label_column}"

        def line(index: int) -> str:
            return _line(path, index)

        columns["label"], label_names = encode_labels(columns["label"], where, line)
        check_label_counts(columns["label"], label_names, where, line, min_classes)
    return to_dataset(columns, split, label_names)


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
