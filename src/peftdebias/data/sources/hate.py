"""Hate-speech classification sets (binary) and the IPTTS template test set."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from ...errors import DataError
from ..registry import DataSource, register
from ..tables import read_table

_CONTEXTUALIZING = (
    "casszhao/contextualizing-hate-speech-models-with-explanations (GitHub), data/"
)


def _binary_hate(path: Path, split: str) -> Dataset:
    """``doc_id, text, is_hate`` tsv -> ``id, text, label``."""
    frame = read_table(path, required=("text", "is_hate"))
    id_column = "doc_id" if "doc_id" in frame.columns else frame.columns[0]
    bad = ~frame["is_hate"].isin(["0", "1"])
    if bad.any():
        line = int(bad.idxmax()) + 2  # header is line 1
        value = frame["is_hate"][bad].iloc[0]
        raise DataError(f"{path}, line {line}: column is_hate must be 0 or 1, got {value!r}")
    return Dataset.from_dict(
        {
            "id": frame[id_column].astype(str).tolist(),
            "text": frame["text"].tolist(),
            "label": frame["is_hate"].astype(int).tolist(),
        }
    )


for _name, _folder, _description in (
    ("ghc", "ghc", "Gab Hate Corpus (Kennedy et al. 2022), binary hate"),
    ("stormfront", "stormfront", "white-supremacy forum posts (de Gibert et al. 2018)"),
    ("founta", "founta", "Founta et al. 2018 tweets, binary, spam removed"),
):
    register(
        DataSource(
            name=_name,
            description=_description,
            kind="classification",
            files={split: f"{_folder}/{split}.tsv" for split in ("train", "dev", "test")},
            loader=_binary_hate,
            columns=("id", "text", "label"),
            source=_CONTEXTUALIZING,
            num_labels=2,
            label_names=("not_hate", "hate"),
        )
    )
