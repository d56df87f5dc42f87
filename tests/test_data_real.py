"""Registered loaders on the real files of shared/data (sizes from its README)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from peftdebias.data import get_source, load
from peftdebias.data.sources.hate import IPTTS_TERMS
from test_data_support import isolate


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated download cache; downloads go to a refused local port unless a test says so."""
    return isolate(tmp_path, monkeypatch)


SIZES = {
    "ghc": {"train": 22042, "dev": 2755, "test": 2756},
    "stormfront": {"train": 8562, "dev": 1070, "test": 1071},
    "founta": {"train": 33851, "dev": 4231, "test": 4232},
    "ghc-full": {"dev": 2766, "test": 2767},
    "iptts": {"test": 76564},
    "gap": {"dev": 2000, "test": 2000, "validation": 454},
    "mnli": {"matched": 1000, "mismatched": 1000, "mixed": 1000},
    "snli": {"test": 1000},
    "wikitext-2": {"validation": 1841, "test": 2185},
    "winobias": {split: 396 for split in get_source("winobias").splits},
}
# Hate counts (label 1) per split, counted with awk on the files.
HATE = {
    "ghc": {"train": 1845, "dev": 230, "test": 231},
    "stormfront": {"train": 957, "dev": 119, "test": 120},
    "founta": {"train": 4564, "dev": 570, "test": 571},
    "ghc-full": {"dev": 397, "test": 403},  # hd or cv
}
# Founta keeps its tweets that are empty after the original preprocessing (URL-only tweets).
EMPTY_TEXTS = {("founta", "train"): 39, ("founta", "dev"): 5, ("founta", "test"): 6}


@pytest.mark.parametrize(
    ("name", "split"), [(name, split) for name, sizes in SIZES.items() for split in sizes]
)
def test_sizes_columns_and_texts(data_dir, name, split):
    source = get_source(name)
    dataset = load(name, split, data_dir)
    assert len(dataset) == SIZES[name][split]
    assert dataset.column_names == list(source.columns)
    empty = sum(not text.strip() for text in dataset["text"][:])
    assert empty == EMPTY_TEXTS.get((name, split), 0)
    assert len(set(dataset["id"][:])) == len(dataset)
    if source.label_names is not None:
        assert dataset.features["label"].names == list(source.label_names)
        assert set(dataset["label"][:]) == set(range(len(source.label_names)))


@pytest.mark.parametrize(
    ("name", "split"), [(name, split) for name, counts in HATE.items() for split in counts]
)
def test_hate_label_counts(data_dir, name, split):
    assert sum(load(name, split, data_dir)["label"][:]) == HATE[name][split]


def test_ghc_full_keeps_target_columns(data_dir):
    dataset = load("ghc-full", "dev", data_dir)
    assert Counter(dataset["rel"][:])[1] == 81 and Counter(dataset["rae"][:])[1] == 100
    row = next(row for row in dataset if row["cv"] == 1)
    assert row["label"] == 1


def test_iptts_labels_templates_and_identity_terms(data_dir):
    dataset = load("iptts", "test", data_dir)
    assert Counter(dataset["label"][:]) == {0: 38282, 1: 38282}
    assert dataset[0] == {
        "id": "0",
        "text": "murder american",
        "label": 1,
        "template": "verb_adj",
        "attribute": "american",
    }
    terms = Counter(dataset["attribute"][:])
    # 50 identity terms, each in 1514 sentences; the 864 you_occupation sentences have none.
    assert terms.pop("") == 864 == Counter(dataset["template"][:])["you_occupation"]
    assert set(terms) == set(IPTTS_TERMS) and set(terms.values()) == {1514}


def test_nli_label_encoding(data_dir):
    mixed = load("mnli", "mixed", data_dir)  # numeric labels
    mismatched = load("mnli", "mismatched", data_dir)  # label names, same 1000 pairs
    assert mixed["text"][:] == mismatched["text"][:] and mixed["label"][:] == mismatched["label"][:]
    assert Counter(mixed["label"][:]) == {0: 346, 1: 319, 2: 335}
    assert Counter(load("mnli", "matched", data_dir)["label"][:]) == {0: 373, 1: 311, 2: 316}
    snli = load("snli", "test", data_dir)
    assert Counter(snli["label"][:]) == {0: 367, 1: 322, 2: 311}
    assert snli[0]["text_pair"] == "a colorfully dressed child rides a bike"
    assert snli.features["label"].int2str(snli[0]["label"]) == "entailment"


def test_gap_labels_offsets_and_gender(data_dir):
    expected = {"dev": (874, 925, 201), "test": (918, 855, 227), "validation": (187, 205, 62)}
    for split, (a, b, neither) in expected.items():
        dataset = load("gap", split, data_dir)
        assert Counter(dataset["label"][:]) == {0: a, 1: b, 2: neither}
        for row in dataset.select(range(50)):
            start = row["pronoun_offset"]
            assert row["text"][start : start + len(row["pronoun"])] == row["pronoun"]
            assert row["text"][row["a_offset"] :].startswith(row["a"])
            assert row["text"][row["b_offset"] :].startswith(row["b"])
    genders = Counter(load("gap", "dev", data_dir)["attribute"][:])
    assert genders == {"female": 1000, "male": 1000}


def test_winobias_parsing(data_dir):
    dataset = load("winobias", "pro_type1_dev", data_dir)
    first = dataset[0]
    assert (
        first["text"]
        == "The developer argued with the designer because he did not like the design."
    )
    assert (first["entity"], first["occupation"], first["pronoun"]) == (
        "The developer",
        "developer",
        "he",
    )
    assert first["text"][first["pronoun_start"] : first["pronoun_end"]] == "he"
    assert (first["attribute"], first["stereotype"], first["type"]) == ("male", "pro", 1)
    assert not any("[" in text or "]" in text for text in dataset["text"][:])
    occupations = set(dataset["occupation"][:])
    listed = (data_dir / "winobias" / "male_occupations.txt").read_text().split("\n")
    listed += (data_dir / "winobias" / "female_occupations.txt").read_text().split("\n")
    assert occupations == {name.strip() for name in listed if name.strip()}
    anti = load("winobias", "anti_type2_test", data_dir)
    assert anti[0]["stereotype"] == "anti" and anti[0]["type"] == 2
    total = sum(len(load("winobias", split, data_dir)) for split in get_source("winobias").splits)
    assert total == 8 * 396


def test_wikitext_drops_headings_keeps_unk(data_dir):
    dataset = load("wikitext-2", "validation", data_dir)
    assert dataset[0]["text"].startswith("Homarus gammarus , known as the European lobster")
    assert not any(text.startswith("= ") and text.endswith(" =") for text in dataset["text"][:])
    assert sum("<unk>" in text for text in dataset["text"][:]) == 1678
