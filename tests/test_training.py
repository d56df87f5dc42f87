"""The upstream training core: masked-position logits, masking, objectives, held-out eval."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForMaskedLM

from peftdebias.testing import minilm_tokenizer
from peftdebias.training.heads import head_parameters, masked_positions_only, mlm_head
from peftdebias.training.masking import TextMaskingCollator, pad_premasked, premask
from peftdebias.training.objectives import consistency_loss, masked_lm_loss, mean_pooled
from peftdebias.training.trainer import evaluate_mlm

TEXTS = [
    "she is a nurse and he is an engineer.",
    "the black man and the white woman walked home.",
    "muslims and christians pray in different buildings.",
    "a short one.",
]


@pytest.fixture(params=["tiny_bert", "tiny_roberta"])
def model(request):
    folder = request.getfixturevalue(request.param)
    torch.manual_seed(0)
    return AutoModelForMaskedLM.from_pretrained(folder).eval()


def _batch(seed: int = 0):
    torch.manual_seed(seed)
    return TextMaskingCollator(minilm_tokenizer(), max_length=32)([{"text": t} for t in TEXTS])


def test_masked_positions_only_equals_full_logits(model):
    batch = _batch()
    selected = batch["labels"] != -100
    assert selected.any() and not selected.all()
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        with masked_positions_only(model, selected):
            sparse = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
    assert sparse.shape == (int(selected.sum()), full.shape[-1])
    torch.testing.assert_close(sparse, full[selected], rtol=0, atol=1e-5)
    # the hook is removed afterwards
    with torch.no_grad():
        again = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert again.shape == full.shape


def test_masked_lm_loss_matches_model_loss(model):
    batch = _batch(1)
    with torch.no_grad():
        reference = model(**batch).loss
        ours = masked_lm_loss(model, batch)
    torch.testing.assert_close(ours.loss, reference, rtol=1e-5, atol=1e-5)
    assert ours.count == int((batch["labels"] != -100).sum())
    assert 0 <= ours.correct <= ours.count


def test_head_parameters_exclude_tied_embeddings(model):
    names = [name for name, _ in head_parameters(model)]
    embeddings = model.get_input_embeddings().weight
    assert names, "the head has its own parameters (transform, bias)"
    assert all(param is not embeddings for _, param in head_parameters(model))
    assert mlm_head(model) is not None


def test_collator_masks_only_real_tokens():
    batch = _batch(2)
    labels, ids, attention = batch["labels"], batch["input_ids"], batch["attention_mask"]
    tokenizer = minilm_tokenizer()
    special = torch.isin(ids, torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id]))
    assert not (labels[attention == 0] != -100).any(), "padding is never a target"
    assert not (labels[special] != -100).any(), "special tokens are never targets"
    # roughly 15% of real tokens are targets (loose bound: tiny batch)
    real = int(attention.sum()) - int(special.sum())
    assert 0 < int((labels != -100).sum()) <= real


def test_premask_is_deterministic_and_restores_rng():
    tokenizer = minilm_tokenizer()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = premask(tokenizer, TEXTS * 5, max_length=32, seed=7)
    assert torch.equal(torch.rand(1), expected_next), "premask must not consume the global RNG"
    second = premask(tokenizer, TEXTS * 5, max_length=32, seed=7)
    other = premask(tokenizer, TEXTS * 5, max_length=32, seed=8)
    assert first == second
    assert first != other
    padded = pad_premasked(first[:3], tokenizer.pad_token_id)
    assert padded["input_ids"].shape == padded["labels"].shape == padded["attention_mask"].shape


def test_evaluate_mlm_token_weighted(model):
    tokenizer = minilm_tokenizer()
    rows = premask(tokenizer, TEXTS * 3, max_length=32, seed=0)
    whole = evaluate_mlm(model, rows, tokenizer.pad_token_id, batch_size=64)
    chunked = evaluate_mlm(model, rows, tokenizer.pad_token_id, batch_size=2)
    assert (
        whole["tokens"]
        == chunked["tokens"]
        == sum(sum(label != -100 for label in row["labels"]) for row in rows)
    )
    assert whole["loss"] == pytest.approx(chunked["loss"], rel=1e-5)
    assert whole["accuracy"] == pytest.approx(chunked["accuracy"])


def test_consistency_loss_zero_for_identical_pairs_and_positive_otherwise(model):
    tokenizer = minilm_tokenizer()
    collator = TextMaskingCollator(tokenizer, max_length=32, mlm=False, pairs=True)
    same = collator([{"text": t, "counterfactual": t} for t in TEXTS])
    different = collator(
        [{"text": TEXTS[0], "counterfactual": "he is a nurse and she is an engineer."}]
    )
    none = collator([{"text": TEXTS[0], "counterfactual": ""}])
    with torch.no_grad():
        assert float(consistency_loss(model, same)) == pytest.approx(0.0, abs=1e-6)
        assert float(consistency_loss(model, different)) > 1e-6
    assert consistency_loss(model, none) is None
    pooled = mean_pooled(model, same["cf_a_input_ids"], same["cf_a_attention_mask"])
    assert pooled.shape == (len(TEXTS), model.config.hidden_size)
