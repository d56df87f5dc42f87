"""CDA over files: read texts (txt or jsonl), write the augmented corpus as jsonl."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..data.tables import read_jsonl
from ..errors import ConfigError, DataError
from ..io import check_output_file, write_jsonl
from .augment import CounterfactualAugmenter


@dataclass(frozen=True)
class CdaSummary:
    """Counts of one :func:`augment_file` run."""

    inputs: int  # texts read
    matched: int  # texts with at least one attribute term
    originals: int  # originals written
    counterfactuals: int  # counterfactuals written

    @property
    def written(self) -> int:
        return self.originals + self.counterfactuals


def read_texts(path: str | os.PathLike) -> list[str]:
    """Texts of ``path``: the ``text`` field of each line of a ``.jsonl`` file, else one text
    per non-blank line (trailing newline removed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"input file {path} does not exist")
    if path.suffix.lower() == ".jsonl":
        texts = []
        for number, row in enumerate(read_jsonl(path, required=("text",)), start=1):
            if not isinstance(row["text"], str):
                raise DataError(f"{path}, record {number}: field text must be a string")
            texts.append(row["text"])
    else:
        try:
            with path.open(encoding="utf-8") as handle:
                texts = [line.rstrip("\r\n") for line in handle if line.strip()]
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not texts:
        raise DataError(f"input file {path} holds no text")
    return texts


def augment_file(
    augmenter: CounterfactualAugmenter,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    keep_original: bool = True,
    drop_unmatched: bool = False,
    overwrite: bool = False,
) -> CdaSummary:
    """Augment the texts of ``input_path`` into ``output_path`` (jsonl, one
    :class:`~peftdebias.cda.augment.AugmentedText` per line, written atomically)."""
    output = check_output_file(output_path, overwrite)
    if output.resolve() == Path(input_path).resolve():
        raise ConfigError(f"--output {output} is the input file; choose another path")
    texts = read_texts(input_path)
    records = augmenter.augment(texts, keep_original=keep_original, drop_unmatched=drop_unmatched)
    write_jsonl(output, (record.to_dict() for record in records))
    counterfactuals = sum(record.is_counterfactual for record in records)
    return CdaSummary(
        inputs=len(texts),
        matched=len({record.source for record in records if record.matched}),
        originals=len(records) - counterfactuals,
        counterfactuals=counterfactuals,
    )
