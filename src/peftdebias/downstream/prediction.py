"""The fast inference path and the evaluation of predicted data sets.

:func:`predict` tokenizes once, runs length-sorted batches with dynamic padding and no
autograd (optionally under bf16 autocast); :func:`evaluate_datasets` writes the predictions
files and computes from them what ``peftdebias metrics`` computes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from ..errors import ConfigError
from ..metrics import MetricOptions, compute_metrics, read_predictions
from ..metrics.intervals import prediction_intervals
from ..metrics.predictions import write_predictions
from .options import INFERENCE_BATCH_SIZE, PRECISIONS

INFERENCE_TOKENS = 8192  # tokens per inference batch at most (rows x padded length)
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# columns copied into the predictions file: TPR-GAP groups, IPTTS templates, GAP pronouns,
# the Bias-NLI pair's words
_EXTRA_FIELDS = ("attribute", "template", "pronoun", "occupation", "gender_word", "gender")


def length_batches(
    lengths: np.ndarray, batch_size: int = INFERENCE_BATCH_SIZE, max_tokens: int = INFERENCE_TOKENS
) -> list[np.ndarray]:
    """Row indices in batches of similar length: sorted by length (stable), at most
    ``batch_size`` rows and ``max_tokens`` padded tokens (rows x longest row) per batch."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = max(int(lengths[order[min(start + batch_size, len(order)) - 1]]), 1)
        size = max(1, min(batch_size, max_tokens // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def _pad_rows(encoded: dict[str, list], rows: np.ndarray, pad_id: int, device) -> dict:
    """The tensors of ``rows`` padded on the right to the longest of them."""
    width = max(len(encoded["input_ids"][i]) for i in rows)
    batch = {}
    for key, values in encoded.items():
        array = np.full((len(rows), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
        for j, i in enumerate(rows):
            array[j, : len(values[i])] = values[i]
        batch[key] = torch.from_numpy(array).to(device)
    return batch


def predict(
    model,
    tokenizer,
    dataset: Dataset,
    max_length: int,
    batch_size: int = INFERENCE_BATCH_SIZE,
    precision: str = "fp32",
    max_tokens: int = INFERENCE_TOKENS,
) -> np.ndarray:
    """Class probabilities ``[n, num_labels]`` of ``model`` on ``dataset`` (text[, text_pair]).

    Inputs are tokenized once (one fast-tokenizer call) and run in batches of similar length
    (:func:`length_batches`) padded only to their longest row, under ``torch.inference_mode``;
    ``precision="bf16"`` runs the model under bfloat16 autocast (CPU or GPU; see
    docs/downstream.md for its agreement with fp32). The rows come back in the dataset's
    order.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    model.eval()
    device = next(model.parameters()).device
    texts = dataset["text"][:]
    pairs = dataset["text_pair"][:] if "text_pair" in dataset.column_names else None
    encoded = tokenizer(
        texts, pairs, truncation=True, max_length=max_length, return_attention_mask=True
    )
    encoded = {key: encoded[key] for key in MODEL_INPUTS if key in encoded}
    lengths = np.fromiter(map(len, encoded["input_ids"]), dtype=np.int64, count=len(texts))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    with torch.inference_mode(), autocast:
        for rows in length_batches(lengths, batch_size, max_tokens):
            logits = model(**_pad_rows(encoded, rows, pad_id, device)).logits.float()
            probs[rows] = torch.softmax(logits, dim=-1).cpu().numpy()
    return probs


def prediction_rows(dataset: Dataset, probs: np.ndarray) -> list[dict[str, Any]]:
    """Rows of the predictions file (format in ``peftdebias.metrics.predictions``)."""
    extras = [c for c in _EXTRA_FIELDS if c in dataset.column_names]
    rows = []
    for index, (row, p) in enumerate(zip(dataset, probs, strict=True)):
        record = {
            "id": str(row.get("id", index)),
            "text": row["text"],
            "gold": int(row["label"]),
            "pred": int(p.argmax()),
            "probs": [round(float(x), 6) for x in p],
        }
        if "text_pair" in row:
            record["text_pair"] = row["text_pair"]
        record.update({c: row[c] for c in extras})
        rows.append(record)
    return rows


def evaluate_datasets(
    model,
    tokenizer,
    datasets: dict[str, Dataset],
    output: Path,
    options: MetricOptions,
    max_length: int,
    *,
    batch_size: int = INFERENCE_BATCH_SIZE,
    precision: str = "fp32",
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    paths: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Predict every data set, write ``predictions-<name>.jsonl`` into ``output`` and compute
    from that file exactly what ``peftdebias metrics`` computes, plus the 95 % bootstrap
    intervals of the headline numbers (``intervals``; see
    :func:`peftdebias.metrics.intervals.prediction_intervals`). ``paths`` may name other
    predictions files. Returns name -> results."""
    results: dict[str, Any] = {}
    for name, dataset in datasets.items():
        started = time.time()
        probs = predict(model, tokenizer, dataset, max_length, batch_size, precision)
        predicted = time.time()
        path = (paths or {}).get(name) or output / f"predictions-{name}.jsonl"
        write_predictions(path, prediction_rows(dataset, probs), overwrite=True)
        predictions = read_predictions(path)
        result = compute_metrics(predictions, options=options)
        if bootstrap_resamples:
            result["intervals"] = prediction_intervals(
                predictions, result, options, n_resamples=bootstrap_resamples, seed=seed
            )
        result["inference"] = {
            "precision": precision,
            "seconds": round(predicted - started, 2),
            "sentences_per_second": round(len(dataset) / max(predicted - started, 1e-9), 1),
        }
        results[name] = result
    return results
