"""Hate-speech classification sets (binary) and the IPTTS template test set.

- ``ghc``, ``stormfront``, ``founta``: ``doc_id, text, is_hate`` tsv files as preprocessed by
  Kennedy et al. (2020, "Contextualizing hate speech classifiers with post-hoc explanation");
  label 1 = hate. Rows are kept as published, including founta's 50 empty tweets (texts that
  were only URLs/mentions), so split sizes match the reference.
- ``ghc-full``: GHC dev/test with every annotation column (Kennedy et al. 2022). The binary
  label follows the GHC paper: hate = ``hd`` (assault on human dignity) or ``cv`` (call for
  violence); the target-group columns (``rae``, ``gen``, ``rel``, ...) are kept as 0/1 ints.
- ``iptts``: Identity Phrase Templates Test Set (Dixon et al. 2018), label BAD=1/NOT_BAD=0,
  ``template`` kept, ``attribute`` = the identity term of the sentence ('' for the
  ``you_occupation`` template, which has none).
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from ...errors import DataError
from ..download import parse_sha256sums, pinned
from ..registry import DataSource, register
from ..tables import read_jsonl, read_table, to_dataset

_HATE_REPO = "casszhao/contextualizing-hate-speech-models-with-explanations"
_HATE_COMMIT = "fb373d3"
HATE_LABELS = ("not_hate", "hate")

# GHC annotation columns (Kennedy et al. 2022): hate-based rhetoric, framing, and targets.
GHC_RHETORIC = ("hd", "cv", "vo")
GHC_FRAMING = ("im", "ex")
GHC_TARGETS = ("rae", "nat", "gen", "rel", "sxo", "idl", "pol", "mph")

# Identity terms of the IPTTS generator (bias_madlibs_data/adjectives_people.txt, first 50
# lines: the ones bias_madlibs_77k.csv was generated from). Longest match wins, so
# "african american" beats "american".
IPTTS_TERMS = (
    "lesbian", "gay", "bisexual", "transgender", "trans", "queer", "lgbt", "lgbtq",
    "homosexual", "straight", "heterosexual", "male", "female", "nonbinary", "african",
    "african american", "black", "white", "european", "hispanic", "latino", "latina",
    "latinx", "mexican", "canadian", "american", "asian", "indian", "middle eastern",
    "chinese", "japanese", "christian", "muslim", "jewish", "buddhist", "catholic",
    "protestant", "sikh", "taoist", "old", "older", "young", "younger", "teenage",
    "millenial", "middle aged", "elderly", "blind", "deaf", "paralyzed",
)  # fmt: skip
_IPTTS_PATTERN = re.compile(
    r"\b(" + "|".join(re.escape(t) for t in sorted(IPTTS_TERMS, key=len, reverse=True)) + r")\b"
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
    columns = {
        "id": frame[id_column].astype(str).tolist(),
        "text": frame["text"].tolist(),
        "label": frame["is_hate"].astype(int).tolist(),
    }
    return to_dataset(columns, split, HATE_LABELS)


def _ghc_full(path: Path, split: str) -> Dataset:
    """GHC jsonl with all annotations -> ``id, text, label`` (hd or cv) plus 0/1 columns."""
    annotations = GHC_RHETORIC + GHC_FRAMING + GHC_TARGETS
    rows = read_jsonl(path, required=("text_id", "Text", *annotations))
    columns: dict[str, list] = {"id": [], "text": [], "label": []}
    columns.update({name: [] for name in annotations})
    for number, row in enumerate(rows, start=1):
        values = {}
        for name in annotations:
            if row[name] not in (0, 1):  # 0.0/1.0 compare equal too
                raise DataError(
                    f"{path}, record {number}: {name} must be 0 or 1, got {row[name]!r}"
                )
            values[name] = int(row[name])
        columns["id"].append(str(row["text_id"]))
        columns["text"].append(str(row["Text"]))
        columns["label"].append(int(values["hd"] or values["cv"]))
        for name, value in values.items():
            columns[name].append(value)
    return to_dataset(columns, split, HATE_LABELS)


def iptts_term(text: str) -> str:
    """The IPTTS identity term in ``text`` (longest match), or '' when there is none."""
    match = _IPTTS_PATTERN.search(text.lower())
    return match.group(1) if match else ""


def _iptts(path: Path, split: str) -> Dataset:
    """``Text, Label, Template`` csv -> ``id, text, label`` (BAD=1), ``template``, ``attribute``."""
    frame = read_table(path, required=("Text", "Label", "Template"))
    mapping = {"NOT_BAD": 0, "BAD": 1}
    bad = ~frame["Label"].isin(list(mapping))
    if bad.any():
        line = int(bad.idxmax()) + 2
        value = frame["Label"][bad].iloc[0]
        raise DataError(f"{path}, line {line}: column Label must be BAD or NOT_BAD, got {value!r}")
    texts = frame["Text"].tolist()
    columns = {
        "id": [str(index) for index in range(len(frame))],
        "text": texts,
        "label": frame["Label"].map(mapping).tolist(),
        "template": frame["Template"].tolist(),
        "attribute": [iptts_term(text) for text in texts],
    }
    return to_dataset(columns, split, ("not_bad", "bad"))


_BINARY_SETS = {
    "ghc": ("ghc", "Gab", "Gab Hate Corpus (Kennedy et al. 2022), binary hate"),
    "stormfront": (
        "stormfront",
        "white_supremacy",
        "white-supremacy forum posts (de Gibert et al. 2018), binary hate",
    ),
    "founta": ("founta", "tweet42k", "Founta et al. 2018 tweets, binary, spam removed"),
}
_SHA256 = parse_sha256sums(
    """
3936a7c3fce12155ac82343e0b04e8a098e56b2729b8304459d3ffba8b588a6b  ghc/dev.tsv
04c87d67d85a5b782f5bdd876df77a0a7cb6ea5dac334d7f39d0a01d2154cfb9  ghc/test.tsv
800ef25927d643d9620540a4217080b1af4f36d8996f472e47f7c1535850629a  ghc/train.tsv
7a59462f3c1a27819fc57c91739bf1e0d9cc491dc134a30dcc2fb46f8119cbbf  ghc/full_labels_dev.jsonl
2503d0d56f3a77a1df70cd557247bf0daebbb3fee517047d79f5043864fc84a1  ghc/full_labels_test.jsonl
5b9dc20f665c8b98b077c31dba880c0d1bade182f56ac6a60e516d78dcb9e827  stormfront/dev.tsv
ce927e38428d1f05f6528c4423cb5b0a10eb3daa654b3a6d0ed88f6c1e575da5  stormfront/test.tsv
2946ac6e97c63b8d1471a92f151c6762050ec2746a43b4355f5ab234560d0a8f  stormfront/train.tsv
ae5a933a77a79cc5927727908e67fcbab7726b3cee1f8bd009c69f1c8df5e13c  founta/dev.tsv
f74e89c591c3eba848d6d2e84e6f07e0b823093fe909eaf8a5c890e18222549d  founta/test.tsv
c6331373cf2eab2262a94a8e6d4f90a8f436a3580ede124d2c42d28f0f5d1645  founta/train.tsv
aac542254cf158415ec74623d54fa76176f26a7e7d8ef20788e1748a05ba5b4c  iptts/bias_madlibs_77k.csv
"""
)


def _subset(files: dict[str, str]) -> dict[str, str]:
    return {relative: _SHA256[relative] for relative in files.values()}


for _name, (_folder, _remote, _description) in _BINARY_SETS.items():
    _files = {split: f"{_folder}/{split}.tsv" for split in ("train", "dev", "test")}
    register(
        DataSource(
            name=_name,
            description=_description,
            kind="classification",
            files=_files,
            loader=_binary_hate,
            columns=("id", "text", "label"),
            source=f"{_HATE_REPO} (GitHub) @{_HATE_COMMIT}, data/{_remote}/",
            urls=pinned(
                _HATE_REPO,
                _HATE_COMMIT,
                {rel: f"data/{_remote}/{split}.tsv" for split, rel in _files.items()},
            ),
            sha256=_subset(_files),
            num_labels=2,
            label_names=HATE_LABELS,
        )
    )

_GHC_FULL = "data/majority_gab_dataset_25k"
_files = {split: f"ghc/full_labels_{split}.jsonl" for split in ("dev", "test")}
register(
    DataSource(
        name="ghc-full",
        description="Gab Hate Corpus with all annotations (dev/test); label = hd or cv",
        kind="classification",
        files=_files,
        loader=_ghc_full,
        columns=("id", "text", "label", *GHC_RHETORIC, *GHC_FRAMING, *GHC_TARGETS),
        source=f"{_HATE_REPO} (GitHub) @{_HATE_COMMIT}, {_GHC_FULL}/",
        urls=pinned(
            _HATE_REPO,
            _HATE_COMMIT,
            {rel: f"{_GHC_FULL}/{split}.jsonl" for split, rel in _files.items()},
        ),
        sha256=_subset(_files),
        num_labels=2,
        label_names=HATE_LABELS,
    )
)

_IPTTS_REPO, _IPTTS_COMMIT = "conversationai/unintended-ml-bias-analysis", "9c7d91a"
_IPTTS_PATH = "archive/unintended_ml_bias/eval_datasets/bias_madlibs_77k.csv"
_files = {"test": "iptts/bias_madlibs_77k.csv"}
register(
    DataSource(
        name="iptts",
        description="Identity Phrase Templates Test Set (Dixon et al. 2018), for FPRD",
        kind="classification",
        files=_files,
        loader=_iptts,
        columns=("id", "text", "label", "template", "attribute"),
        source=f"{_IPTTS_REPO} (GitHub) @{_IPTTS_COMMIT}, {_IPTTS_PATH}",
        urls=pinned(_IPTTS_REPO, _IPTTS_COMMIT, {_files["test"]: _IPTTS_PATH}),
        sha256=_subset(_files),
        num_labels=2,
        label_names=("not_bad", "bad"),
        attribute="identity",
    )
)
