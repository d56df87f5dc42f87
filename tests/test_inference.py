"""Fast inference (length-sorted batches, dynamic padding, bf16 option) and full-size
evaluation defaults, on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification

from peftdebias.downstream import (
    evaluate_datasets,
    length_batches,
    predict,
)
from peftdebias.errors import ConfigError
from peftdebias.experiments.quickstart import quickstart_config
from peftdebias.metrics import MetricOptions
from peftdebias.models import load_tokenizer
from peftdebias.presets import DOWNSTREAM_PRESETS

REPO_ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "the muslim man",
    "a",
    "she said that the jewish woman was right about everything she had ever said",
    "gay people live here",
    "hello there, general kenobi",
    "black and white",
] * 7


@pytest.fixture(scope="module")
def classifier(tiny_bert):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=3)
    return model.eval(), load_tokenizer(str(tiny_bert))


def _one_by_one(model, tokenizer, texts, pairs=None, max_length=32) -> np.ndarray:
    """Reference: every input alone, no padding at all."""
    rows = []
    with torch.no_grad():
        for i, text in enumerate(texts):
            encoded = tokenizer(text, pairs[i] if pairs else None, truncation=True,
                                max_length=max_length, return_tensors="pt")  # fmt: skip
            rows.append(torch.softmax(model(**encoded).logits, -1)[0].numpy())
    return np.stack(rows)


def test_batched_padded_predictions_equal_unpadded_ones(classifier):
    model, tokenizer = classifier
    expected = _one_by_one(model, tokenizer, TEXTS)
    for batch_size, max_tokens in ((256, 8192), (4, 8192), (64, 20)):
        probs = predict(model, tokenizer, Dataset.from_dict({"text": TEXTS}), 32, batch_size,
                        max_tokens=max_tokens)  # fmt: skip
        assert probs.shape == (len(TEXTS), 3)
        np.testing.assert_allclose(probs, expected, atol=1e-5)  # the dataset's order
    pairs = [text[::-1] for text in TEXTS]
    probs = predict(model, tokenizer, Dataset.from_dict({"text": TEXTS, "text_pair": pairs}), 32)
    np.testing.assert_allclose(probs, _one_by_one(model, tokenizer, TEXTS, pairs), atol=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_length_batches_respect_rows_and_tokens():
    lengths = np.array([5, 3, 40, 3, 12, 7, 7, 1, 60, 2])
    batches = length_batches(lengths, batch_size=3, max_tokens=50)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))  # every row exactly once
    assert lengths[flat].tolist() == sorted(lengths.tolist())  # shortest first
    for rows in batches:
        assert len(rows) <= 3
        assert len(rows) == 1 or len(rows) * lengths[rows].max() <= 50


def test_bf16_autocast_is_close_to_fp32_and_bad_precision_is_refused(classifier):
    model, tokenizer = classifier
    data = Dataset.from_dict({"text": TEXTS})
    fp32 = predict(model, tokenizer, data, 32)
    bf16 = predict(model, tokenizer, data, 32, precision="bf16")
    assert bf16.dtype == np.float32 and np.allclose(bf16.sum(1), 1, atol=1e-5)
    assert np.abs(bf16 - fp32).max() < 0.05
    assert next(model.parameters()).dtype == torch.float32  # autocast leaves weights alone
    with pytest.raises(ConfigError, match="precision"):
        predict(model, tokenizer, data, 32, precision="fp8")


def test_evaluate_writes_predictions_metrics_and_intervals(classifier, tmp_path):
    model, tokenizer = classifier
    rng = np.random.default_rng(0)
    data = Dataset.from_dict({"text": TEXTS, "label": rng.integers(0, 3, len(TEXTS)).tolist()})
    results = evaluate_datasets(model, tokenizer, {"test": data}, tmp_path,
                                MetricOptions(), 32, bootstrap_resamples=50)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "predictions-test.jsonl").open()]
    assert len(rows) == len(TEXTS) == results["test"]["n"]
    test = results["test"]
    accuracy = test["metrics"]["classification"]["accuracy"]
    assert accuracy == pytest.approx(np.mean([r["pred"] == r["gold"] for r in rows]))
    interval = test["intervals"]["classification.accuracy"]
    assert interval["estimate"] == pytest.approx(accuracy) and interval["n_resamples"] == 50
    assert interval["low"] <= accuracy <= interval["high"]
    assert test["inference"]["precision"] == "fp32"
    without = evaluate_datasets(model, tokenizer, {"test": data}, tmp_path, MetricOptions(), 32,
                                bootstrap_resamples=0)  # fmt: skip
    assert "intervals" not in without["test"]


def test_full_size_evaluation_by_default_but_small_configs_stay_small():
    import yaml

    assert DOWNSTREAM_PRESETS["quick"].max_eval_examples is None  # whole dev and test
    assert DOWNSTREAM_PRESETS["paper"].max_eval_examples is None
    offline = yaml.safe_load((REPO_ROOT / "configs" / "offline-cpu.yaml").read_text())
    options = offline["downstream"]["options"]
    assert options["max_eval_examples"] == 500 and options["max_iptts_examples"] == 2000
    quick = quickstart_config().downstream.options
    assert quick["max_eval_examples"] == 500 and quick["max_iptts_examples"] == 2000
