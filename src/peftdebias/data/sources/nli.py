"""MNLI and SNLI: the 1000-example samples of the TextFooler repository (Jin et al. 2020).

Files are ``label<TAB>premise<TAB>hypothesis``, no header, tokenized text. The label is a
name (``entailment``/``neutral``/``contradiction``) except in ``mnli.tsv`` (split ``mixed``),
which uses ids 0/1/2 — the same 1000 pairs as ``mnli_mismatched.tsv`` with 0 = entailment,
1 = neutral, 2 = contradiction (checked row by row). That is also our encoding, the one of
the GLUE/SNLI hub datasets. (TextFooler's ``attack_nli.py`` re-maps names to
contradiction=0, entailment=1, neutral=2 for its BERT target only; we do not.)

Output: ``id, text`` (premise), ``text_pair`` (hypothesis), ``label``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from datasets import Dataset

from ...errors import DataError
from ..download import parse_sha256sums, pinned
from ..registry import DataSource, register
from ..tables import to_dataset

NLI_LABELS = ("entailment", "neutral", "contradiction")
_LABEL_ID = {name: index for index, name in enumerate(NLI_LABELS)}
_LABEL_ID.update({str(index): index for index in range(len(NLI_LABELS))})

_REPO, _COMMIT = "jind11/TextFooler", "6a56cb1"
_SOURCE = f"{_REPO} (GitHub) @{_COMMIT}, data/"


def load_nli_tsv(path: Path, split: str) -> Dataset:
    """``label, premise, hypothesis`` tsv (no header) -> ``id, text, text_pair, label``."""
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    columns: dict[str, list] = {"id": [], "text": [], "text_pair": [], "label": []}
    with path.open(encoding="utf-8", newline="") as handle:
        for number, fields in enumerate(
            csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1
        ):
            if not fields:
                continue
            if len(fields) != 3:
                raise DataError(
                    f"{path}, line {number}: expected 3 tab-separated fields "
                    f"(label, premise, hypothesis), got {len(fields)}"
                )
            label = _LABEL_ID.get(fields[0].strip().lower())
            if label is None:
                raise DataError(
                    f"{path}, line {number}: unknown label {fields[0]!r}; "
                    f"expected one of {', '.join(NLI_LABELS)} or 0/1/2"
                )
            columns["id"].append(str(number))
            columns["text"].append(fields[1])
            columns["text_pair"].append(fields[2])
            columns["label"].append(label)
    return to_dataset(columns, split, NLI_LABELS)


_SHA256 = parse_sha256sums(
    """
772524d991fda03ba4e07c79ecf9ec937cf80062f1a1404f75683664b6463df3  nli/mnli.tsv
248f2bf5ce2c431785aad9946032e350b0dd07a9b67efc161c3a5041b6ce5360  nli/mnli_matched.tsv
f418302efa473eb78a7794c0838a042358c545dc97a3c15d54339ccaae61fdae  nli/mnli_mismatched.tsv
83cd1793c0900b9aa87f31b95757b6b874184e4c30d4a78e9b3e5a5c1013c1ed  nli/snli.tsv
"""
)
_SETS = {
    "mnli": (
        "MultiNLI dev samples (Williams et al. 2018), 1000 pairs per split",
        {"matched": "mnli_matched", "mismatched": "mnli_mismatched", "mixed": "mnli"},
    ),
    "snli": ("SNLI test sample (Bowman et al. 2015), 1000 pairs", {"test": "snli"}),
}

for _name, (_description, _stems) in _SETS.items():
    _files = {split: f"nli/{stem}.tsv" for split, stem in _stems.items()}
    register(
        DataSource(
            name=_name,
            description=_description,
            kind="pairs",
            files=_files,
            loader=load_nli_tsv,
            columns=("id", "text", "text_pair", "label"),
            source=_SOURCE,
            # the repository's files have no suffix: data/mnli_matched, data/snli, ...
            urls=pinned(
                _REPO, _COMMIT, {_files[split]: f"data/{stem}" for split, stem in _stems.items()}
            ),
            sha256={relative: _SHA256[relative] for relative in _files.values()},
            num_labels=len(NLI_LABELS),
            label_names=NLI_LABELS,
        )
    )
