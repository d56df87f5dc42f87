"""The user's own data: any csv/tsv/jsonl table, and raw text corpora for masked-LM.

Label encoding of :func:`load_user_table` (deterministic, documented in docs/data.md): if
every label is a non-negative integer the integers are the ids (names ``"0"``..``"K-1"``,
K = max + 1); otherwise the distinct label strings are sorted and numbered from 0. The
mapping is kept as the ``ClassLabel`` feature of the ``label`` column
(``dataset.features["label"].names``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from datasets import Dataset

from ..errors import ConfigError, DataError
from .registry import get_source, load
from .tables import read_jsonl, read_table, require_columns, to_dataset

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


def encode_labels(values: list[str]) -> tuple[list[int], tuple[str, ...]]:
    """Label strings -> (ids, names); integer labels keep their value (see module docstring)."""
    if all(value.strip().isdigit() for value in values):
        ids = [int(value) for value in values]
        names = tuple(str(index) for index in range(max(ids, default=-1) + 1))
        return ids, names
    names = tuple(sorted(set(values)))
    index = {name: number for number, name in enumerate(names)}
    return [index[value] for value in values], names


def load_user_table(
    path: str | os.PathLike,
    text_column: str,
    label_column: str | None = None,
    attribute_column: str | None = None,
    text_pair_column: str | None = None,
    id_column: str | None = None,
    split: str = "train",
) -> Dataset:
    """Load a csv/tsv/jsonl file as a Dataset with the normalised column names.

    Columns: ``id`` (``id_column`` or the row number), ``text``, and when given
    ``text_pair``, ``label`` (ClassLabel, see :func:`encode_labels`), ``attribute``.
    Raises :class:`DataError` naming the file and the missing column or empty cell.
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
        columns["label"], label_names = encode_labels(columns["label"])
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
