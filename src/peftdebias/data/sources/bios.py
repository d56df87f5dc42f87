"""Bias in Bios (De-Arteaga et al. 2019): occupation from a biography, gender protected.

Not redistributable here; the user supplies one file per split in ``bias_in_bios/``
(``{split}.jsonl``, ``.parquet`` or ``.csv``; splits train/dev/test), in either schema:

- ``LabHC/bias_in_bios`` (Hugging Face hub): ``hard_text``, ``profession`` (int, order of
  :data:`PROFESSIONS`), ``gender`` (int, 0 = male, 1 = female);
- INLP (Ravfogel et al. 2020): ``text`` (or ``hard_text``), ``p`` (profession name, e.g.
  ``"software_engineer"``), ``g`` (``"m"``/``"f"``). ``hard_text`` (the biography without its
  first sentence, which names the occupation) is used when present, as in LabHC.

Output: ``id, text, label`` (profession id), ``attribute`` (``"male"``/``"female"``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from datasets import Dataset

from ...errors import DataError
from ..registry import DataSource, register
from ..tables import read_jsonl, read_table, require_columns, to_dataset

# The 28 occupations, in the label order of LabHC/bias_in_bios (alphabetical).
PROFESSIONS = (
    "accountant", "architect", "attorney", "chiropractor", "comedian", "composer",
    "dentist", "dietitian", "dj", "filmmaker", "interior_designer", "journalist", "model",
    "nurse", "painter", "paralegal", "pastor", "personal_trainer", "photographer",
    "physician", "poet", "professor", "psychologist", "rapper", "software_engineer",
    "surgeon", "teacher", "yoga_teacher",
)  # fmt: skip
GENDERS = ("male", "female")  # LabHC gender ids 0, 1
_INLP_GENDER = {"m": 0, "f": 1}
_PROFESSION_ID = {name: index for index, name in enumerate(PROFESSIONS)}


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return pd.DataFrame(read_jsonl(path))
    if suffix == ".parquet":
        return pd.read_parquet(path)
    return read_table(path)


def _int_codes(values: pd.Series, size: int, path: Path, column: str) -> list[int]:
    """Integer ids in ``0..size-1`` (ints or digit strings), else a DataError naming the row."""
    codes = pd.to_numeric(values.astype(str), errors="coerce")
    bad = codes.isna() | (codes < 0) | (codes >= size) | (codes % 1 != 0)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        value = values.iloc[row]
        got = "nothing" if pd.isna(value) else repr(value)
        raise DataError(
            f"{path}, record {row + 1}: column {column} must be an integer in 0..{size - 1}, "
            f"got {got}"
        )
    return codes.astype(int).tolist()


def _names_to_ids(values: pd.Series, mapping: dict[str, int], path: Path, column: str) -> list[int]:
    keys = values.astype(str).str.strip().str.lower().str.replace(r"[ -]", "_", regex=True)
    ids = keys.map(mapping)
    if ids.isna().any():
        row = int(ids.isna().to_numpy().argmax())
        raise DataError(
            f"{path}, record {row + 1}: unknown {column} value {values.iloc[row]!r}; "
            f"expected one of {', '.join(mapping)}"
        )
    return ids.astype(int).tolist()


def load_bios(path: Path, split: str) -> Dataset:
    """Either schema -> ``id, text, label, attribute``."""
    frame = _read_frame(path)
    if {"profession", "gender"} <= set(frame.columns):
        require_columns(frame.columns, ("hard_text",), path)
        texts = frame["hard_text"]
        labels = _int_codes(frame["profession"], len(PROFESSIONS), path, "profession")
        genders = _int_codes(frame["gender"], len(GENDERS), path, "gender")
    elif {"p", "g"} <= set(frame.columns):
        text_column = "hard_text" if "hard_text" in frame.columns else "text"
        require_columns(frame.columns, (text_column,), path)
        texts = frame[text_column]
        labels = _names_to_ids(frame["p"], _PROFESSION_ID, path, "p")
        genders = _names_to_ids(frame["g"], _INLP_GENDER, path, "g")
    else:
        raise DataError(
            f"{path}: not a Bias-in-Bios file; expected columns hard_text, profession, gender "
            f"(LabHC) or text, p, g (INLP); found: {', '.join(map(str, frame.columns))}"
        )
    if texts.isna().any():
        row = int(texts.isna().to_numpy().argmax())
        raise DataError(f"{path}, record {row + 1}: empty biography text")
    columns = {
        "id": [str(index) for index in range(len(frame))],
        "text": texts.astype(str).tolist(),
        "label": labels,
        "attribute": [GENDERS[code] for code in genders],
    }
    return to_dataset(columns, split, PROFESSIONS)


register(
    DataSource(
        name="bias-in-bios",
        description="Bias in Bios (De-Arteaga et al. 2019): 28 occupations, gender protected",
        kind="classification",
        files={
            split: tuple(f"bias_in_bios/{split}.{ext}" for ext in ("jsonl", "parquet", "csv"))
            for split in ("train", "dev", "test")
        },
        loader=load_bios,
        columns=("id", "text", "label", "attribute"),
        source=(
            "the Hugging Face hub dataset LabHC/bias_in_bios (save each split as "
            "bias_in_bios/{train,dev,test}.parquet or .jsonl) or the INLP biasbios data "
            "(github.com/shauli-ravfogel/nullspace_projection) converted to jsonl with text, p, g"
        ),
        num_labels=len(PROFESSIONS),
        label_names=PROFESSIONS,
        attribute="gender",
    )
)
