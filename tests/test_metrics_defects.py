"""Metric defects of issue 15, item 7 (b)-(e)."""

from __future__ import annotations

import json
import warnings

import pytest

from peftdebias.cli import main
from peftdebias.errors import DataError
from peftdebias.metrics import (
    MetricOptions,
    MetricWarning,
    compute_metrics,
    fprd,
    fprd_reference_code,
    iptts_fprd,
    read_predictions,
    read_terms,
)
from peftdebias.metrics.report import summary_line
from peftdebias.metrics.terms import axis_terms, reference_code_terms

# (b) no term can be scored ----------------------------------------------------------------


def test_fprd_is_none_not_zero_when_no_term_is_scored():
    texts, gold, pred = ["gay rights", "the weather"], [1, 0], [1, 1]  # "gay" only in a positive
    with pytest.warns(MetricWarning, match="FPRD is undefined"):
        result = fprd(texts, gold, pred, ["gay", "muslim"])
    assert result.fprd is None
    assert result.to_dict()["fprd"] is None and result.to_dict()["terms_scored"] == 0
    with pytest.warns(MetricWarning):
        assert iptts_fprd(["the weather"], [0], [0]).fprd is None
    assert fprd_reference_code(["the weather"], [0], [1], ["gay"]).fprd is None
    assert summary_line("fprd", result.to_dict()) == "fprd: fprd=- overall_fpr=1 terms_scored=0"


def test_metrics_cli_prints_a_dash_for_undefined_fprd(tmp_path, capsys):
    rows = [
        {"id": 1, "text": "the weather", "gold": 0, "pred": 1, "probs": [0.4, 0.6]},
        {"id": 2, "text": "gay rights", "gold": 1, "pred": 1, "probs": [0.2, 0.8]},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "m.json"
    args = ["metrics", "--predictions", str(path), "--metric", "fprd", "--output", str(out)]
    assert main(args) == 0
    assert "fprd: fprd=- " in capsys.readouterr().out
    assert json.loads(out.read_text())["metrics"]["fprd"]["fprd"] is None


# (c) the reference code's variant uses the reference code's word list ----------------------


def test_reference_word_list_is_shipped_in_order():
    terms = reference_code_terms()
    assert len(terms) == 54 and len(set(terms)) == 54
    assert terms[:3] == ["jewish", "christian", "muslim"] and terms[-1] == "bisexual"
    assert {"god", "temple", "america", "trans"} <= set(terms)
    assert axis_terms("reference-code") == terms


def test_reference_variant_ignores_the_chosen_terms(tmp_path):
    rows = [
        {"id": 1, "text": "a temple in india", "gold": 0, "pred": 1, "probs": [0.4, 0.6]},
        {"id": 2, "text": "gay rights", "gold": 0, "pred": 0, "probs": [0.6, 0.4]},
        {"id": 3, "text": "hateful", "gold": 1, "pred": 1, "probs": [0.2, 0.8]},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options = MetricOptions(terms=["homosexual"], terms_source="test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = compute_metrics(read_predictions(path), ["fprd"], options)["metrics"]["fprd"]
    reference = result["fprd_reference_code"]
    # case-sensitive substrings of the 54 words, not "homosexual": temple, india, gay
    assert set(reference["per_term"]) == {"temple", "india", "gay"}
    assert reference["terms"].startswith("reference code group_bias_words (54")
    # overall rate 1/3; temple, india: 1 -> 2/3 each; gay: 0 -> 1/3
    assert reference["fprd"] == pytest.approx(2 / 3 + 2 / 3 + 1 / 3)


# (d) IPTTS: every matching term counts ---------------------------------------------------


def test_iptts_fprd_counts_every_term_of_a_sentence():
    texts = ["i am african american", "i am american", "i am african", "i am gay"]
    gold, pred = [0, 0, 0, 0], [1, 0, 0, 0]
    terms = ["african", "african american", "american", "gay"]
    every = iptts_fprd(texts, gold, pred, terms).per_term.set_index("term")
    assert every["negatives"].to_dict() == {
        "african": 2,
        "african american": 1,
        "american": 2,
        "gay": 1,
    }
    assert every.loc["american", "fpr"] == pytest.approx(0.5)
    longest = iptts_fprd(texts, gold, pred, terms, longest_only=True).per_term.set_index("term")
    assert longest["negatives"].tolist() == [1, 1, 1, 1]


# (e) spellings that differ only in punctuation are one term ---------------------------------


def test_term_spellings_do_not_double_count(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("African-American\nafrican american\n# comment\nafrican  american\nGay\n")
    assert read_terms(path) == ["african american", "gay"]
    texts = ["an african-american poet", "gay rights", "the weather", "hello"]
    gold, pred = [0, 0, 0, 0], [1, 0, 0, 0]
    result = fprd(texts, gold, pred, ["african-american", "african american", "gay"])
    assert result.per_term["term"].tolist() == ["african american", "gay"]
    # overall FPR 1/4; african american 1 (|0.75|), gay 0 (|0.25|): counted once, not twice
    assert result.fprd == pytest.approx(0.75 + 0.25)


def test_term_without_a_word_names_the_line(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("gay\n--\n")
    with pytest.raises(DataError, match=r"terms\.txt, line 2: '--' contains no word"):
        read_terms(path)
