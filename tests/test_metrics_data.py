"""Metrics on the real data: IPTTS FPRD, identity terms, Bias-NLI word lists and pairs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from peftdebias.data.registry import load
from peftdebias.metrics import (
    BiasNliWords,
    axis_terms,
    generate_bias_nli,
    iptts_fprd,
    load_bias_nli_words,
    term_matrix,
)
from peftdebias.metrics.bias_nli_templates import article


@pytest.fixture(scope="module")
def iptts(data_dir) -> pd.DataFrame:
    return load("iptts", "test", data_dir).to_pandas()


def test_iptts_terms_match_the_data(iptts):
    # The "i am <term>" template lists every identity term once.
    terms = axis_terms("iptts")
    am = iptts.loc[iptts["template"] == "am_hate_adj", "text"]
    assert sorted(terms) == sorted({t[len("i am ") :] for t in am if t.startswith("i am ")})
    assert len(terms) == 50
    # Longest-first matching gives every sentence but the occupation ones exactly one term,
    # the same as the data loader's attribute column.
    matrix = term_matrix(iptts["text"].tolist(), terms, longest_only=True)
    counts = matrix.sum(axis=1)
    occupation = (iptts["template"] == "you_occupation").to_numpy()
    assert (counts[occupation] == 0).all() and (counts[~occupation] == 1).all()
    assigned = np.where(counts > 0, np.asarray(terms)[matrix.argmax(axis=1)], "")
    assert (assigned == iptts["attribute"].to_numpy()).all()


def test_iptts_fprd_flags_the_term_a_classifier_is_biased_against(iptts):
    part = iptts.iloc[::10]  # every tenth sentence: 7657 rows, all templates
    texts, gold = part["text"].tolist(), part["label"].to_numpy()
    # Synthetic classifier: BAD (1) whenever the whole word "gay" occurs, else NOT_BAD.
    pred = np.asarray([int("gay" in text.lower().split()) for text in texts])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all 50 terms have negatives in this slice
        result = iptts_fprd(texts, gold, pred)
    table = result.per_term.set_index("term")
    assert table["fpr"].idxmax() == "gay"
    assert table.loc["gay", "fpr"] == 1.0
    assert (table.drop(index="gay")["fpr"] == 0.0).all()
    # Independent count: overall FPR = #(negatives with "gay") / #negatives, and
    # FPRD = |1 - FPR| + 49 * |0 - FPR|.
    negatives = gold == 0
    overall = (negatives & (pred == 1)).sum() / negatives.sum()
    assert result.overall_fpr == pytest.approx(overall)
    assert result.fprd == pytest.approx((1 - overall) + 49 * overall)
    # Every matching term counts (Dixon et al.'s code): "african american" sentences also
    # count for "african" and "american", every other templated sentence for its one term.
    both = table.loc["african american", "n"]
    assert table["n"].sum() == (part["template"] != "you_occupation").sum() + 2 * both
    longest = iptts_fprd(texts, gold, pred, longest_only=True).per_term.set_index("term")
    assert longest["n"].sum() == (part["template"] != "you_occupation").sum()


def test_iptts_fprd_counts_every_matching_term(iptts):
    # Dixon et al. search each term separately, so "american" has the negatives of the
    # "american" sentences plus those of the "african american" ones (757 + 757).
    texts, gold = iptts["text"].tolist(), iptts["label"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = iptts_fprd(texts, gold, np.zeros(len(texts), int)).per_term.set_index("term")
        longest = iptts_fprd(texts, gold, np.zeros(len(texts), int), longest_only=True)
    longest = longest.per_term.set_index("term")
    assert longest.loc["american", "negatives"] == 757
    assert every.loc["american", "negatives"] == 1514
    assert every.loc["african", "negatives"] == 1514
    assert every.loc["african american", "negatives"] == 757


def test_bias_nli_word_lists(data_dir):
    gendered = load("bias-nli-words", "gendered_words", data_dir)["word"]
    assert list(gendered) == ["man", "gentleman", "guy", "woman", "lady", "girl"]
    assert list(load("bias-nli-words", "commerce_verbs", data_dir)["word"])[:2] == [
        "bought",
        "budgeted for",
    ]
    words = load_bias_nli_words(data_dir)
    assert len(words.occupations) == 164 and words.occupations[0] == "accountant"
    # (verb, object): 5 eating verbs x 22 foods + 2 driving verbs x 9 vehicles
    # + 10 commerce verbs x (22 + 16 + 19 + 14 + 15 + 9 = 95 objects) = 110 + 18 + 950
    assert len(words.verb_objects) == 1078
    assert words.size == 164 * 6 * 1078
    pairs = generate_bias_nli(words, sample=200, seed=0)
    assert len(pairs) == 200
    assert set(pairs["gender_word"]) <= set(gendered)
    assert set(pairs["gender"]) == {"male", "female"}
    for row in pairs:
        tail = f"{row['verb']} {article(row['object'])} {row['object']}."
        assert row["text"] == f"The {row['occupation']} {tail}"
        assert row["text_pair"] == f"The {row['gender_word']} {tail}"


TOY = BiasNliWords(
    occupations=("accountant", "nurse"),
    gender_words=("man", "woman"),
    verb_objects=(("ate", "apple"), ("drove", "SUV"), ("bought", "car")),
)


def test_bias_nli_generator_order_counts_and_determinism():
    pairs = generate_bias_nli(TOY)
    assert len(pairs) == TOY.size == 2 * 2 * 3
    assert pairs[0]["text"] == "The accountant ate an apple."
    assert pairs[0]["text_pair"] == "The man ate an apple."
    # index 4 = (occupation 0, gender word 1, verb-object 1)
    assert pairs[4]["text"] == "The accountant drove an SUV."
    assert pairs[4]["text_pair"] == "The woman drove an SUV."
    assert pairs[11]["text_pair"] == "The woman bought a car."
    assert set(pairs["label"]) == {1}
    assert generate_bias_nli(TOY, neutral_label=2)["label"][0] == 2
    first = generate_bias_nli(TOY, sample=5, seed=3)
    assert first["id"] == generate_bias_nli(TOY, sample=5, seed=3)["id"]
    assert first["id"] != generate_bias_nli(TOY, sample=5, seed=4)["id"]
    assert len(set(first["id"])) == 5
    with pytest.raises(ValueError, match="between 1 and 12"):
        generate_bias_nli(TOY, sample=13)


def test_article():
    assert [article(w) for w in ("apple", "car", "SUV", "TV", "oven")] == [
        "an",
        "a",
        "an",
        "a",
        "an",
    ]
