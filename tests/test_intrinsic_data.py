"""Loaders of the intrinsic benchmarks: real files and bad input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from peftdebias.data.registry import load
from peftdebias.data.sources.intrinsic import read_crows_pairs, read_seat, read_stereoset
from peftdebias.errors import ConfigError, DataError
from peftdebias.intrinsic.evaluate import IntrinsicConfig, benchmark_bias_type


def test_crows_pairs_real_file(data_dir):
    pairs = load("crows-pairs", "test", data_dir)
    assert len(pairs) == 1508
    counts = Counter(pairs["bias_type"])
    assert counts["race-color"] == 516 and counts["gender"] == 262 and counts["religion"] == 105
    assert len(counts) == 9
    assert set(pairs["direction"]) == {"stereo", "antistereo"}
    assert pairs[2]["direction"] == "antistereo" and pairs[2]["bias_type"] == "gender"
    assert pairs[0]["id"] == "0" and "black kids" in pairs[0]["sent_more"]


@pytest.mark.parametrize(
    ("split", "size", "domains"),
    [
        ("dev", 799, {"race": 371, "profession": 333, "gender": 83, "religion": 12}),
        ("gender", 253, {"gender": 253}),
        ("race", 962, {"race": 962}),
        ("religion", 79, {"religion": 79}),
    ],
)
def test_stereoset_real_files(data_dir, split, size, domains):
    items = load("stereoset", split, data_dir)
    assert len(items) == size
    assert Counter(items["bias_type"]) == domains
    assert all("BLANK" in context for context in items["context"])


def test_stereoset_both_layouts_agree(data_dir):
    """gender_test.json has ``data`` only; the sentence per gold label comes from there."""
    gender = load("stereoset", "gender", data_dir)[0]
    assert gender["stereotype"] == "The angry schoolgirl gave a recital at her school."
    assert gender["unrelated"] == "The green schoolgirl gave a recital at her school."
    raw = json.loads((data_dir / "stereoset" / "race_test.json").read_text())[0]
    race = load("stereoset", "race", data_dir)[0]
    gold = {s["gold_label"]: s["sentence"] for s in raw["sentences"]}
    assert (
        race["anti_stereotype"]
        == gold["anti-stereotype"]
        == raw["data"]["anti-stereotype"]["sentence"]
    )


def test_seat_real_file(data_dir):
    rows = load("seat", "sent-weat6", data_dir)
    roles = Counter(rows["role"])
    assert roles == {"targ1": 64, "targ2": 64, "attr1": 101, "attr2": 112}
    assert rows[0] == {"role": "targ1", "category": "MaleNames", "text": "This is John."}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_crows_renamed_column(tmp_path):
    path = _write(
        tmp_path / "c.csv", "sent_mor,sent_less,stereo_antistereo,bias_type\na,b,stereo,gender\n"
    )
    with pytest.raises(DataError, match=r"c\.csv: missing column\(s\) sent_more"):
        read_crows_pairs(path)
    path = _write(tmp_path / "d.csv", "sent_more,sent_less,stereo_antistereo\na,b,stereo\n")
    with pytest.raises(DataError, match=r"d\.csv: missing column\(s\) bias_type"):
        read_crows_pairs(path)


def test_crows_unknown_bias_type_and_direction(tmp_path):
    header = "sent_more,sent_less,stereo_antistereo,bias_type\n"
    path = _write(tmp_path / "c.csv", header + "a,b,stereo,gender\na,b,stereo,height\n")
    with pytest.raises(DataError, match=r"c\.csv, line 3: column bias_type .*'height'"):
        read_crows_pairs(path)
    path = _write(tmp_path / "d.csv", header + "a,b,pro,gender\n")
    with pytest.raises(DataError, match=r"d\.csv, line 2: column stereo_antistereo"):
        read_crows_pairs(path)


def _stereoset_item(**changes) -> dict:
    item = {
        "id": "x1",
        "bias_type": "gender",
        "target": "mother",
        "context": "The mother is BLANK.",
        "data": {
            "stereotype": {"sentence": "The mother is caring.", "id": "s"},
            "anti-stereotype": {"sentence": "The mother is cold.", "id": "a"},
            "unrelated": {"sentence": "The mother is blue.", "id": "u"},
        },
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (_stereoset_item(context=None), r"item 0 \(id x1\): missing field 'context'"),
        (_stereoset_item(data=None), r"missing field 'sentences' \(or 'data'\)"),
        (_stereoset_item(bias_type="height"), r"field 'bias_type' has unknown value 'height'"),
        (_stereoset_item(context="The mother is nice."), r"field 'context' has no BLANK"),
        (
            _stereoset_item(data={"stereotype": {"sentence": "s", "id": "s"}}),
            r"no 'anti-stereotype' sentence",
        ),
        (
            _stereoset_item(
                data=None, sentences=[{"sentence": "The mother is caring.", "gold": "x"}]
            ),
            r"sentences\[0\]: missing field 'gold_label'",
        ),
    ],
)
def test_stereoset_bad_items(tmp_path, item, message):
    path = _write(tmp_path / "s.json", json.dumps([item]))
    with pytest.raises(DataError, match=r"s\.json.*" + message):
        read_stereoset(path)


def test_stereoset_official_layout(tmp_path):
    official = {"version": "1.0", "data": {"intrasentence": [_stereoset_item()]}}
    items = read_stereoset(_write(tmp_path / "test.json", json.dumps(official)))
    assert items[0]["anti_stereotype"] == "The mother is cold." and items[0]["unrelated_id"] == "u"
    with pytest.raises(DataError, match=r"bad\.json: missing field 'data.intrasentence'"):
        read_stereoset(_write(tmp_path / "bad.json", json.dumps({"data": {}})))


def test_seat_empty_attribute_set(tmp_path):
    test = {
        role: {"category": role.upper(), "examples": ["This is a."]}
        for role in ("targ1", "targ2", "attr1", "attr2")
    }
    test["attr2"]["examples"] = []
    path = _write(tmp_path / "t.jsonl", json.dumps(test))
    with pytest.raises(DataError, match=r"t\.jsonl, attr2: field 'examples' is an empty attribute"):
        read_seat(path)
    del test["targ1"]
    with pytest.raises(DataError, match=r"u\.jsonl: missing field 'targ1'"):
        read_seat(_write(tmp_path / "u.jsonl", json.dumps(test)))


def test_bias_type_names():
    assert benchmark_bias_type("crows", "race") == "race-color"
    assert benchmark_bias_type("stereoset", "race-color") == "race"
    assert benchmark_bias_type("seat", "gender") == "gender"
    with pytest.raises(ConfigError, match="unknown bias type 'height'"):
        benchmark_bias_type("crows", "height")
    with pytest.raises(ConfigError, match="'age' is not covered by stereoset"):
        IntrinsicConfig(benchmarks=("crows", "stereoset"), bias_type="age")
    with pytest.raises(ConfigError, match="unknown benchmark"):
        IntrinsicConfig(benchmarks=("crows", "wino"))
