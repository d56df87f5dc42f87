"""SEAT: WEAT statistics against hand-computed values, encodings against a per-sentence loop."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM

from peftdebias.data.registry import load
from peftdebias.errors import DataError
from peftdebias.intrinsic import SEATRunner, SentenceEncoder, weat
from peftdebias.testing import minilm_tokenizer, tiny_config


def test_hand_computed_example():
    """A = e1, B = e2: s(w) = w_1 - w_2 for unit w; X = {e1, (.6,.8)}, Y = {e2, (.8,.6)}."""
    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    y = np.array([[0.0, 1.0], [0.8, 0.6]])
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    s_x, s_y = weat.association(x, a, b), weat.association(y, a, b)
    np.testing.assert_allclose(s_x, [1.0, -0.2], atol=1e-12)
    np.testing.assert_allclose(s_y, [-1.0, 0.2], atol=1e-12)
    # (mean X - mean Y) / std(1, -.2, -1, .2; ddof=1) = 0.8 / sqrt(2.08 / 3)
    assert weat.effect_size(s_x, s_y) == pytest.approx(0.8 / math.sqrt(2.08 / 3), abs=1e-12)
    # partition sums >= 0.8: {1, -.2} (observed) and {1, .2} -> 2 of C(4, 2) = 6
    result = weat.p_value(s_x, s_y)
    assert result == {"p_value": pytest.approx(2 / 6), "exact": True, "partitions": 6}


def test_exact_p_value_matches_brute_force():
    rng = np.random.default_rng(3)
    s_x, s_y = rng.normal(0.1, 1, 6), rng.normal(0, 1, 6)
    values = np.concatenate([s_x, s_y])
    observed = s_x.sum()
    hits = sum(
        values[list(part)].sum() >= observed - 1e-12
        for part in itertools.combinations(range(12), 6)
    )
    result = weat.p_value(s_x, s_y, n_samples=100_000)
    assert result["exact"] and result["partitions"] == math.comb(12, 6) == 924
    assert result["p_value"] == hits / 924


def test_sampled_p_value_close_to_exact_and_seeded():
    rng = np.random.default_rng(5)
    s_x, s_y = rng.normal(0.3, 1, 9), rng.normal(0, 1, 9)  # C(18, 9) = 48620 partitions
    exact = weat.p_value(s_x, s_y, n_samples=100_000)
    sampled = weat.p_value(s_x, s_y, n_samples=20_000, seed=1)
    assert exact["exact"] and not sampled["exact"] and sampled["partitions"] == 20_000
    assert abs(sampled["p_value"] - exact["p_value"]) < 0.01
    assert weat.p_value(s_x, s_y, n_samples=20_000, seed=1) == sampled
    with pytest.raises(ValueError, match="differ in size"):
        weat.p_value(s_x, s_y[:-1])


def test_effect_size_against_scipy_style_definition():
    from scipy import stats

    rng = np.random.default_rng(0)
    s_x, s_y = rng.normal(1, 1, 7), rng.normal(0, 1, 7)
    pooled = np.concatenate([s_x, s_y])
    expected = (s_x.mean() - s_y.mean()) / stats.tstd(pooled)  # tstd: ddof=1
    assert weat.effect_size(s_x, s_y) == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    return AutoModelForMaskedLM.from_config(tiny_config("bert")).eval(), minilm_tokenizer()


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_batched_encodings_equal_one_sentence_loop(lm, pooling):
    model, tokenizer = lm
    texts = ["This is John.", "That is a nurse.", "This is John.", "Here is an engineer, too."]
    encoder = SentenceEncoder(model, tokenizer, pooling, batch_size=8)
    encodings = encoder(texts)
    assert list(encodings) == list(dict.fromkeys(texts))
    for text, vector in encodings.items():
        with torch.no_grad():
            hidden = model(**tokenizer(text, return_tensors="pt"), output_hidden_states=True)
        last = hidden.hidden_states[-1][0]
        expected = (last.mean(0) if pooling == "mean" else last[0]).numpy()
        np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-6)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_runner_on_real_test(lm, data_dir):
    model, tokenizer = lm
    rows = load("seat", "weat6", data_dir)
    (result,) = SEATRunner(model, tokenizer, batch_size=16)({"weat6": rows})
    assert result["sizes"] == {"targ1": 8, "targ2": 8, "attr1": 8, "attr2": 8}
    assert result["exact"] and result["partitions"] == math.comb(16, 8)
    assert result["categories"]["attr1"] == "Career"
    # recompute from per-sentence encodings
    encode = SentenceEncoder(model, tokenizer, batch_size=1)
    sets = {role: [r["text"] for r in rows if r["role"] == role] for role in ("targ1", "targ2")}
    sets |= {role: [r["text"] for r in rows if r["role"] == role] for role in ("attr1", "attr2")}
    vectors = {role: np.stack(list(encode(texts).values())) for role, texts in sets.items()}
    s_x = weat.association(vectors["targ1"], vectors["attr1"], vectors["attr2"])
    s_y = weat.association(vectors["targ2"], vectors["attr1"], vectors["attr2"])
    assert result["effect_size"] == pytest.approx(weat.effect_size(s_x, s_y), abs=1e-5)


def test_runner_rejects_unequal_targets(lm):
    model, tokenizer = lm
    rows = [
        {"role": "targ1", "category": "X", "text": "a"},
        {"role": "targ1", "category": "X", "text": "b"},
        {"role": "targ2", "category": "Y", "text": "c"},
        {"role": "attr1", "category": "A", "text": "d"},
        {"role": "attr2", "category": "B", "text": "e"},
    ]
    with pytest.raises(DataError, match="SEAT test mine: target sets targ1 and targ2 differ"):
        SEATRunner(model, tokenizer)({"mine": rows})
    with pytest.raises(DataError, match="SEAT test mine: field 'attr2' has no examples"):
        SEATRunner(model, tokenizer)({"mine": rows[:4]})
