"""Loaders on small hand-written files: Bias in Bios, user tables, text corpora, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from peftdebias.data import get_source, load, load_text_corpus, load_user_table
from peftdebias.data.sources.bios import PROFESSIONS
from peftdebias.data.sources.coref import parse_winobias_line
from peftdebias.data.sources.text import is_heading
from peftdebias.errors import ConfigError, DataError
from test_data_support import isolate


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated download cache; downloads go to a refused local port unless a test says so."""
    return isolate(tmp_path, monkeypatch)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


LABHC_ROWS = [
    {"hard_text": "She treats patients.", "profession": 19, "gender": 1},
    {"hard_text": "He writes code.", "profession": 24, "gender": 0},
    {"hard_text": "She files taxes.", "profession": 0, "gender": 1},
]
INLP_ROWS = [
    {"text": "Ann is a nurse. She cares.", "p": "nurse", "g": "f"},
    {"text": "Bob is a DJ. He mixes.", "p": "dj", "g": "m"},
    {"text": "Cy builds apps.", "p": "software engineer", "g": "m"},
]


# --- Bias in Bios ----------------------------------------------------------------------------


def test_profession_list_is_the_labhc_order():
    assert len(PROFESSIONS) == 28 and list(PROFESSIONS) == sorted(PROFESSIONS)
    assert (PROFESSIONS[0], PROFESSIONS[13], PROFESSIONS[15]) == (
        "accountant",
        "nurse",
        "paralegal",
    )
    assert get_source("bias-in-bios").label_names == PROFESSIONS


def test_bios_labhc_jsonl(tmp_path):
    write_jsonl(tmp_path / "bias_in_bios" / "dev.jsonl", LABHC_ROWS)
    dataset = load("bias-in-bios", "dev", tmp_path)
    assert dataset["text"][:] == [row["hard_text"] for row in LABHC_ROWS]
    assert dataset["label"][:] == [19, 24, 0]
    assert dataset["attribute"][:] == ["female", "male", "female"]
    assert dataset.features["label"].int2str(19) == "physician"


def test_bios_labhc_parquet(tmp_path):
    folder = tmp_path / "bias_in_bios"
    folder.mkdir()
    pd.DataFrame(LABHC_ROWS).to_parquet(folder / "test.parquet")
    dataset = load("bias-in-bios", "test", tmp_path)
    assert dataset["label"][:] == [19, 24, 0] and len(dataset) == 3


def test_bios_inlp_jsonl_maps_names(tmp_path):
    write_jsonl(tmp_path / "bias_in_bios" / "train.jsonl", INLP_ROWS)
    dataset = load("bias-in-bios", "train", tmp_path)
    assert dataset["label"][:] == [13, 8, 24]  # nurse, dj, software_engineer
    assert dataset["attribute"][:] == ["female", "male", "male"]
    assert dataset["text"][0] == "Ann is a nurse. She cares."


def test_bios_inlp_prefers_hard_text(tmp_path):
    rows = [dict(INLP_ROWS[0], hard_text="She cares.")]
    write_jsonl(tmp_path / "bias_in_bios" / "train.jsonl", rows)
    assert load("bias-in-bios", "train", tmp_path)["text"][:] == ["She cares."]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "x", "p": "astronaut", "g": "f"}, "unknown p value 'astronaut'"),
        ({"text": "x", "p": "nurse", "g": "x"}, "unknown g value 'x'"),
        (
            {"hard_text": "x", "profession": 28, "gender": 0},
            "profession must be an integer in 0..27",
        ),
        ({"hard_text": "x", "profession": 3, "gender": 2}, "gender must be an integer in 0..1"),
        ({"bio": "x", "job": 1}, "not a Bias-in-Bios file"),
    ],
)
def test_bios_bad_rows(tmp_path, row, message):
    first = INLP_ROWS[0] if "p" in row else LABHC_ROWS[0] if "gender" in row else row
    path = write_jsonl(tmp_path / "bias_in_bios" / "dev.jsonl", [first, row])
    with pytest.raises(DataError, match=message) as info:
        load("bias-in-bios", "dev", tmp_path)
    assert str(path) in str(info.value)


def test_bios_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError) as info:
        load("bias-in-bios", "train", tmp_path)
    message = str(info.value)
    assert "bias_in_bios/train.jsonl" in message and str(tmp_path) in message
    assert "LabHC/bias_in_bios" in message


# --- other parsers ---------------------------------------------------------------------------


def test_winobias_line_with_two_pronouns():
    row = parse_winobias_line(
        "27 [The developer] visited the hairdresser because [she] needed [her] cut."
    )
    assert row["text"] == "The developer visited the hairdresser because she needed her cut."
    assert row["spans"] == [[0, 13], [46, 49], [57, 60]]
    assert (row["pronoun"], row["attribute"], row["occupation"]) == ("she", "female", "developer")


@pytest.mark.parametrize(
    "line",
    [
        "The developer argued because he lost.",
        "1 [The developer] argued because [it] lost.",
        "x [A] [he]",
    ],
)
def test_winobias_bad_lines(line):
    with pytest.raises(ValueError):
        parse_winobias_line(line)


def test_winobias_bad_line_in_file_names_file_and_line(tmp_path):
    folder = tmp_path / "winobias"
    folder.mkdir()
    path = folder / "pro_stereotyped_type1.txt.dev"
    path.write_text("1 [The cook] ate because [he] was hungry.\n2 The cook ate.\n")
    with pytest.raises(DataError, match=r"line 2"):
        load("winobias", "pro_type1_dev", tmp_path)


def test_wikitext_headings():
    assert is_heading(" = Homarus gammarus = ") and is_heading(" = = Life cycle = = ")
    assert not is_heading(" = <unk> for the next round ") and not is_heading(" q = ")


def test_nli_bad_label_and_field_count(tmp_path):
    folder = tmp_path / "nli"
    folder.mkdir()
    (folder / "snli.tsv").write_text("entailment\tA man .\tA person .\nmaybe\tA .\tB .\n")
    with pytest.raises(DataError, match=r"snli.tsv, line 2: unknown label 'maybe'"):
        load("snli", "test", tmp_path)
    (folder / "snli.tsv").write_text("neutral\tonly premise\n")
    with pytest.raises(DataError, match=r"line 1: expected 3 tab-separated fields"):
        load("snli", "test", tmp_path)


# --- registry errors -------------------------------------------------------------------------


def test_unknown_data_set_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown data set 'ghcc'; valid names: .*ghc"):
        load("ghcc")


@pytest.mark.parametrize("split", ["", "validation"])
def test_unknown_or_empty_split(split, tmp_path):
    with pytest.raises(ConfigError, match=r"has no split .*splits: train, dev, test"):
        load("ghc", split, tmp_path)


def test_missing_data_dir():
    with pytest.raises(DataError, match=r"data directory /no/such/dir \(from --data-dir\)"):
        load("ghc", "train", "/no/such/dir")


def test_missing_column_and_bad_value(tmp_path):
    folder = tmp_path / "ghc"
    folder.mkdir()
    (folder / "dev.tsv").write_text("doc_id\ttext\n1\thello\n")
    with pytest.raises(DataError, match=r"dev.tsv: missing column\(s\) is_hate"):
        load("ghc", "dev", tmp_path)
    (folder / "dev.tsv").write_text("doc_id\ttext\tis_hate\n1\thello\t0\n2\tbye\tyes\n")
    with pytest.raises(DataError, match=r"dev.tsv, line 3: column is_hate must be 0 or 1"):
        load("ghc", "dev", tmp_path)


def test_ghc_full_malformed_jsonl_names_line(tmp_path):
    path = tmp_path / "ghc" / "full_labels_dev.jsonl"
    path.parent.mkdir()
    path.write_text('{"text_id": 1}\n{not json\n')
    with pytest.raises(DataError, match=r"full_labels_dev.jsonl, line 1: missing field"):
        load("ghc-full", "dev", tmp_path)
    valid = dict.fromkeys(get_source("ghc-full").columns[3:], 0)
    path.write_text(json.dumps({"text_id": 1, "Text": "x", **valid}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"full_labels_dev.jsonl, line 2: malformed JSON"):
        load("ghc-full", "dev", tmp_path)


# --- user tables -----------------------------------------------------------------------------


def test_user_csv_string_labels_sorted(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        "sentence,y,group\nI love it,pos,a\nI hate it,neg,b\nmeh,neutral,a\nyay,pos,b\n"
    )
    dataset = load_user_table(path, "sentence", label_column="y", attribute_column="group")
    assert dataset.features["label"].names == ["neg", "neutral", "pos"]
    assert dataset["label"][:] == [2, 0, 1, 2]
    assert dataset["attribute"][:] == ["a", "b", "a", "b"]
    assert dataset["id"][:] == ["0", "1", "2", "3"]
    assert dataset.column_names == ["id", "text", "label", "attribute"]


def test_user_jsonl_integer_labels_and_pairs(tmp_path):
    rows = [
        {"key": 7, "p": "A man sleeps .", "h": "A man rests .", "gold": 0},
        {"key": 9, "p": "A dog runs .", "h": "A cat sits .", "gold": 2},
        {"key": 4, "p": "A boy reads .", "h": "A boy reads a book .", "gold": 1},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    dataset = load_user_table(path, "p", label_column="gold", text_pair_column="h", id_column="key")
    assert dataset["label"][:] == [0, 2, 1]
    assert dataset.features["label"].names == ["0", "1", "2"]
    assert dataset["text_pair"][:] == ["A man rests .", "A cat sits .", "A boy reads a book ."]
    assert dataset["id"][:] == ["7", "9", "4"]


def test_user_table_errors(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\nhello\t1\n\t0\n")
    with pytest.raises(DataError, match=r"t.tsv: missing column\(s\) y"):
        load_user_table(path, "text", label_column="y")
    with pytest.raises(DataError, match=r"t.tsv, line 3: column text is empty"):
        load_user_table(path, "text", label_column="label")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": "b"}\n{"text": \n')
    with pytest.raises(DataError, match=r"bad.jsonl, line 3: malformed JSON"):
        load_user_table(bad, "text")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        (tmp_path / "t.xlsx").write_text("x")
        load_user_table(tmp_path / "t.xlsx", "text")
    with pytest.raises(DataError, match="does not exist"):
        load_user_table(tmp_path / "none.csv", "text")


# --- text corpora ----------------------------------------------------------------------------


def test_text_corpus_from_files(tmp_path):
    txt = tmp_path / "corpus.txt"
    txt.write_text("first line\n\n   \nsecond line\n")
    assert load_text_corpus(txt) == ["first line", "second line"]
    jsonl = write_jsonl(tmp_path / "c.jsonl", [{"body": "a b"}, {"body": ""}, {"body": "c"}])
    assert load_text_corpus(jsonl, text_column="body") == ["a b", "c"]
    with pytest.raises(DataError, match=r"c.jsonl, line 1: missing field\(s\) text"):
        load_text_corpus(jsonl)


def test_text_corpus_from_registered_set(tmp_path):
    write_jsonl(tmp_path / "bias_in_bios" / "train.jsonl", INLP_ROWS)
    texts = load_text_corpus("bias-in-bios", tmp_path, "train")
    assert texts == [row["text"] for row in INLP_ROWS]
    with pytest.raises(
        DataError, match=r"'nope\.txt' is not an existing file, and unknown data set"
    ):
        load_text_corpus("nope.txt", tmp_path)


def test_text_corpus_of_real_sets(data_dir):
    assert len(load_text_corpus("wikitext-2", data_dir, "validation")) == 1841
    assert len(load_text_corpus("mnli", data_dir, "matched")) == 2000  # premises + hypotheses
