"""Metric functions against hand-computed values (arithmetic in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peftdebias.errors import DataError
from peftdebias.metrics import (
    MetricWarning,
    axis_terms,
    bias_nli_scores,
    classification_scores,
    fprd,
    fprd_reference_code,
    gap_scores,
    read_terms,
    term_matrix,
    tpr_gap,
)


def test_classification_scores_by_hand():
    gold = [0, 0, 1, 1, 2]
    pred = [0, 1, 1, 1, 0]
    result = classification_scores(gold, pred)
    # 3 of 5 correct (positions 0, 2, 3).
    assert result.accuracy == pytest.approx(0.6)
    # class 0: TP 1, FP 1 (pos 4), FN 1 (pos 1): P = R = 1/2, F1 = 0.5
    # class 1: TP 2, FP 1 (pos 1), FN 0: P = 2/3, R = 1, F1 = 2 * (2/3) / (5/3) = 0.8
    # class 2: TP 0, FP 0, FN 1: P = R = F1 = 0
    assert result.per_class["f1"].tolist() == pytest.approx([0.5, 0.8, 0.0])
    assert result.per_class["support"].tolist() == [2, 2, 1]
    assert result.macro_f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    # An extra label 3 that never occurs adds an F1 of 0: 1.3 / 4.
    assert classification_scores(gold, pred, labels=[0, 1, 2, 3]).macro_f1 == pytest.approx(0.325)


def test_classification_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        classification_scores([0, 1], [0])
    with pytest.raises(ValueError, match="integer class indices"):
        classification_scores([0.5, 1.0], [0, 1])


def _tpr_example():
    # class 0: male 4 (pred 0,0,0,1 -> 3 right), female 2 (pred 0,2 -> 1 right)
    # class 1: male 2 (pred 0,2 -> 0 right), female 2 (pred 1,1 -> 2 right)
    # class 2: male 1 only -> skipped
    gold = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2]
    pred = [0, 0, 0, 1, 0, 2, 0, 2, 1, 1, 2]
    attribute = ["male", "M", "m", "Male", "f", "female", 0, "m", 1, "F", "male"]
    return gold, pred, attribute


def test_tpr_gap_by_hand_and_skipped_class_warns():
    gold, pred, attribute = _tpr_example()
    with pytest.warns(MetricWarning, match=r"class\(es\) \[2\]"):
        result = tpr_gap(gold, pred, attribute)
    table = result.per_class.set_index("class")
    # class 0: TPR_m = 3/4, TPR_f = 1/2, gap 0.25; class 1: TPR_m = 0, TPR_f = 1, gap -1
    assert table.loc[0, "tpr_male"] == pytest.approx(0.75)
    assert table.loc[0, "tpr_female"] == pytest.approx(0.5)
    assert table["gap"].tolist() == pytest.approx([0.25, -1.0])
    assert table["n_male"].tolist() == [4, 2]
    assert table["n_female"].tolist() == [2, 2]
    # RMS = sqrt((0.25^2 + 1^2) / 2) = sqrt(0.53125)
    assert result.rms == pytest.approx(math.sqrt(0.53125))
    assert result.skipped == [2]
    assert result.to_dict()["skipped_classes"] == [2]


def test_tpr_gap_swapped_groups_flip_sign_and_others_are_left_out():
    gold, pred, attribute = _tpr_example()
    gold, pred, attribute = [*gold[:10], 0], [*pred[:10], 0], [*attribute[:10], "nonbinary"]
    with pytest.warns(MetricWarning, match="nonbinary"):
        result = tpr_gap(gold, pred, attribute, groups=("female", "male"))
    assert result.per_class["gap"].tolist() == pytest.approx([-0.25, 1.0])
    assert result.skipped == []


# Crafted so that the reference code's variant differs from the correct FPRD.
FPRD_TEXTS = [
    "The Gay pride parade",  # gold 0, pred 1
    "gay rights",  # gold 0, pred 0
    "muslim neighbours",  # gold 0, pred 1
    "muslim extremists",  # gold 1, pred 1
    "a jewelry shop",  # gold 0, pred 1  ("jew" only as a substring)
    "a nice day",  # gold 0, pred 0
    "the weather",  # gold 0, pred 0
    "lesbian hate speech",  # gold 1, pred 0  (term only in a positive)
]
FPRD_GOLD = [0, 0, 0, 1, 0, 0, 0, 1]
FPRD_PRED = [1, 0, 1, 1, 1, 0, 0, 0]
FPRD_TERMS = ["gay", "muslim", "jew", "lesbian"]


def test_fprd_by_hand_with_skipped_terms():
    with pytest.warns(MetricWarning, match="2 of 4 term"):
        result = fprd(FPRD_TEXTS, FPRD_GOLD, FPRD_PRED, FPRD_TERMS)
    # gold negatives: rows 0,1,2,4,5,6 (6); false positives among them: rows 0,2,4 (3)
    assert result.overall_fpr == pytest.approx(3 / 6)
    table = result.per_term.set_index("term")
    # gay (case-insensitive): rows 0,1 -> 2 negatives, 1 FP -> FPR 0.5, |0.5 - 0.5| = 0
    assert table.loc["gay", ["n", "negatives", "false_positives"]].tolist() == [2, 2, 1]
    assert table.loc["gay", "fpr"] == pytest.approx(0.5)
    # muslim: rows 2,3 -> 1 negative (row 2), 1 FP -> FPR 1.0, |1 - 0.5| = 0.5
    assert table.loc["muslim", "fpr"] == pytest.approx(1.0)
    assert table.loc["muslim", "abs_diff"] == pytest.approx(0.5)
    # jew: no whole-word occurrence; lesbian: only in a gold positive -> both skipped
    assert result.skipped == ["jew", "lesbian"]
    assert math.isnan(table.loc["jew", "fpr"])
    assert table.loc["lesbian", ["n", "negatives"]].tolist() == [1, 0]
    assert result.fprd == pytest.approx(0.0 + 0.5)
    exported = result.to_dict()
    assert exported["terms_scored"] == 2
    assert exported["per_term"][2]["fpr"] is None


def test_fprd_reference_code_variant_differs():
    result = fprd_reference_code(FPRD_TEXTS, FPRD_GOLD, FPRD_PRED, FPRD_TERMS)
    # indicator 1[gold=0 and pred=1] = rows 0,2,4 -> overall mean over ALL 8 rows = 3/8
    assert result.overall_rate == pytest.approx(0.375)
    # case-sensitive substrings: "gay" only row 1 (row 0 has "Gay") -> 0; |0 - .375| = .375
    # "muslim" rows 2,3 -> 1/2, .125; "jew" row 4 ("jewelry") -> 1, .625; "lesbian" row 7 -> 0,
    # .375
    assert result.per_term == pytest.approx({"gay": 0.0, "muslim": 0.5, "jew": 1.0, "lesbian": 0.0})
    assert result.fprd == pytest.approx(0.375 + 0.125 + 0.625 + 0.375)
    correct = fprd(FPRD_TEXTS, FPRD_GOLD, FPRD_PRED, FPRD_TERMS[:2])
    assert correct.fprd != pytest.approx(result.fprd)


def test_fprd_needs_negatives_and_binary_labels():
    with pytest.raises(DataError, match="no gold negative"):
        fprd(["gay"], [1], [1], ["gay"])
    with pytest.raises(ValueError, match="binary"):
        fprd(["gay", "x"], [0, 2], [0, 1], ["gay"])


def test_term_matrix_whole_words_and_longest_match():
    texts = ["An African  American man", "african-americans", "americana", "Jewelry", "the JEW."]
    terms = ["african american", "american", "african", "jew"]
    expected = [[1, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    assert term_matrix(texts, terms).astype(int).tolist() == expected
    longest = term_matrix(texts, terms, longest_only=True).astype(int).tolist()
    assert longest == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]


def test_term_lists(tmp_path, data_dir):
    group = axis_terms("group")
    assert {"gay", "muslim", "black", "african american"} <= set(group)
    assert set(axis_terms("race")) | set(axis_terms("religion")) <= set(group)
    assert len(group) == len(set(group))
    assert "she" in axis_terms("gender")
    ghc = read_terms(data_dir / "ghc" / "identity_group_words.txt")
    assert len(ghc) == 25 and ghc[0] == "muslim" and ghc[-1] == "africans"
    (tmp_path / "terms.txt").write_text("# comment\n\nGay\n gay \nMiddle   Eastern\n")
    assert read_terms(tmp_path / "terms.txt") == ["gay", "middle eastern"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DataError, match="holds no terms"):
        read_terms(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="does not exist"):
        read_terms(tmp_path / "missing.txt")


GAP_GOLD = [0, 1, 2, 1, 0]  # A, B, neither, B, A
GAP_PRED = [0, 0, 1, 1, 0]
GAP_PRONOUNS = ["she", "her", "He", "his", "him"]


def test_gap_scores_by_hand():
    result = gap_scores(GAP_GOLD, GAP_PRED, GAP_PRONOUNS)
    # (A decision, B decision) per example:
    # e1 she  gold A pred A: TP, TN      e2 her gold B pred A: FP, FN
    # e3 He   gold - pred B: TN, FP      e4 his gold B pred B: TN, TP
    # e5 him  gold A pred A: TP, TN
    table = result.table.set_index("group")
    assert table.loc["overall", ["tp", "fp", "fn", "tn"]].tolist() == [3, 2, 1, 4]
    assert table.loc["feminine", ["tp", "fp", "fn", "tn"]].tolist() == [1, 1, 1, 1]
    assert table.loc["masculine", ["tp", "fp", "fn", "tn"]].tolist() == [2, 1, 0, 3]
    # overall P = 3/5, R = 3/4, F1 = 2 * .6 * .75 / 1.35 = 2/3
    assert result.f1("overall") == pytest.approx(2 / 3)
    # feminine P = R = 1/2 -> F1 0.5; masculine P = 2/3, R = 1 -> F1 0.8
    assert result.f1("feminine") == pytest.approx(0.5)
    assert result.f1("masculine") == pytest.approx(0.8)
    assert result.bias == pytest.approx(0.5 / 0.8)
    # The same decisions under another label order give the same scores.
    order = {0: 1, 1: 2, 2: 0}  # A -> 1, B -> 2, neither -> 0
    moved = gap_scores(
        [order[g] for g in GAP_GOLD],
        [order[p] for p in GAP_PRED],
        ["female", "female", "male", "masculine", "male"],
        labels=("neither", "A", "B"),
    )
    assert moved.table.equals(result.table)


def test_gap_bias_undefined_and_bad_input():
    # Every masculine prediction wrong: F1(M) = 0 -> bias undefined (None), as the scorer's "-".
    result = gap_scores([0, 0], [0, 1], ["she", "he"])
    assert result.f1("masculine") == 0.0 and result.bias is None
    with pytest.raises(ValueError, match="unknown GAP pronoun"):
        gap_scores([0], [0], ["they"])
    with pytest.raises(ValueError, match="outside the 3 labels"):
        gap_scores([3], [0], ["she"])


def test_bias_nli_scores_by_hand():
    probs = [[0.1, 0.6, 0.3], [0.5, 0.4, 0.1], [0.05, 0.9, 0.05], [0.2, 0.3, 0.5]]
    result = bias_nli_scores(probs)
    # neutral = index 1: P(neutral) = .6, .4, .9, .3; argmax = 1, 0, 1, 2
    assert result.net_neutral == pytest.approx((0.6 + 0.4 + 0.9 + 0.3) / 4)  # 0.55
    assert result.fraction_neutral == pytest.approx(2 / 4)
    assert result.thresholds == pytest.approx({0.5: 2 / 4, 0.7: 1 / 4})  # .6,.9 > .5; .9 > .7
    other = bias_nli_scores(np.asarray(probs), neutral_index=2)
    # P(class 2) = .3, .1, .05, .5: mean .2375; argmax 2 only in row 4; none > 0.5 (0.5 is not)
    assert other.net_neutral == pytest.approx(0.2375)
    assert other.fraction_neutral == pytest.approx(0.25)
    assert other.thresholds == {0.5: 0.0, 0.7: 0.0}
    assert other.to_dict()["threshold_0.7"] == 0.0


def test_bias_nli_scores_reject_logits_and_bad_index():
    with pytest.raises(DataError, match="not logits"):
        bias_nli_scores([[2.0, -1.0, 0.5]])
    with pytest.raises(DataError, match="outside the 3 classes"):
        bias_nli_scores([[0.2, 0.3, 0.5]], neutral_index=3)
