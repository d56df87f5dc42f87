"""Stronger baselines on tiny models: downstream CDA (the task's training set augmented
two-sided) and counterfactual logit pairing (Garg et al. 2019), from the API, the CLI and the
grid config."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification

from peftdebias.cda import CounterfactualAugmenter, load_word_list
from peftdebias.cli import main
from peftdebias.downstream import (
    CounterfactualCollator,
    DownstreamConfig,
    WeightedTrainer,
    clp_penalty,
    load_classifier,
    train_downstream,
)
from peftdebias.downstream.training import tokenize_split
from peftdebias.errors import ConfigError
from peftdebias.experiments import from_dict
from peftdebias.experiments.cells import plan, run_cell
from peftdebias.models import load_tokenizer
from peftdebias.tasks import attach_counterfactuals, cda_augment

GENDER = CounterfactualAugmenter(load_word_list("gender"))


def test_cda_doubles_the_matched_rows_and_keeps_labels():
    data = Dataset.from_dict(
        {
            "text": ["he is a nurse", "the weather is fine", "she met her father", "no one"],
            "label": [1, 0, 1, 0],
        }
    )
    augmented, added = cda_augment(data, GENDER)
    assert added == 2 and len(augmented) == len(data) + 2  # two matched rows, twice each
    assert augmented["text"] == [
        "he is a nurse", "she is a nurse", "the weather is fine",
        "she met her father", "he met his mother", "no one",
    ]  # fmt: skip
    assert augmented["label"] == [1, 1, 0, 1, 1, 0]
    assert augmented.features == data.features


def test_a_text_pair_is_swapped_with_one_rotation():
    data = Dataset.from_dict(
        {"text": ["The nurse said he was late."], "text_pair": ["The man was late."],
         "label": [1]}
    )  # fmt: skip
    augmented, added = cda_augment(data, GENDER)
    assert added == 1
    assert augmented[1]["text"] == "The nurse said she was late."
    assert augmented[1]["text_pair"] == "The woman was late."
    paired, count = attach_counterfactuals(data, GENDER, seed=0)
    assert count == 1 and paired[0]["cf_text_pair"] == "The woman was late."


def test_clp_term_is_zero_for_identical_inputs_and_positive_otherwise(tiny_bert):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    tokenizer = load_tokenizer(str(tiny_bert))
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    assert clp_penalty(logits, logits.clone()).item() == 0.0
    assert clp_penalty(logits, logits + torch.tensor([[1.0, 0.0], [0.0, -3.0]])).item() == 1.0
    assert clp_penalty(logits[:0], logits[:0]).item() == 0.0

    texts = ["he is a nurse", "she is a pilot", "nobody is here"]
    data = Dataset.from_dict({"text": texts, "label": [1, 0, 1]})
    collate = CounterfactualCollator(tokenizer)

    def loss(dataset: Dataset, weight: float) -> float:
        trainer = WeightedTrainer(model=model, clp_weight=weight, data_collator=collate)
        batch = collate([dict(row) for row in tokenize_split(dataset, tokenizer, 16)])
        with torch.no_grad():
            return trainer.compute_loss(model.eval(), batch).item()

    plain = loss(data, 0.0)
    same = data.add_column("cf_text", texts).add_column("cf_has", [1, 1, 0])
    assert loss(same, 10.0) == pytest.approx(plain, abs=1e-6)  # x' == x: no penalty
    swapped, pairs = attach_counterfactuals(data, GENDER, seed=0)
    assert pairs == 2 and swapped["cf_text"][:2] == ["she is a nurse", "he is a pilot"]
    assert swapped["cf_has"] == [1, 1, 0]
    assert loss(swapped, 10.0) > plain + 1e-4  # different logits: a positive penalty
    assert loss(swapped, 0.0) == pytest.approx(plain, abs=1e-6)


def _spurious_task(folder: Path, n: int = 160) -> Path:
    """Label = 1 for "she" sentences, 0 for "he" ones: gender is the only signal."""
    path = folder / "spurious.csv"
    jobs = ["nurse", "pilot", "teacher", "driver", "cook"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(n):
            pronoun = "she" if i % 2 else "he"
            writer.writerow([f"{pronoun} is a {jobs[i % 5]} number {i}", i % 2])
    return path


def _logit_gap(model_dir: Path, texts: list[str]) -> float:
    """Mean |logit(x) - logit(x')| over texts and their gender swaps."""
    model, tokenizer = load_classifier(model_dir)
    swapped = [GENDER.counterfactuals(text)[0] for text in texts]
    with torch.no_grad():
        a = model(**tokenizer(texts, return_tensors="pt", padding=True)).logits
        b = model(**tokenizer(swapped, return_tensors="pt", padding=True)).logits
    return clp_penalty(a, b).item()


def test_training_with_clp_reduces_the_logit_gap(tiny_bert, tmp_path):
    task = _spurious_task(tmp_path, 100)
    common = dict(task=str(task), model=str(tiny_bert), epochs=3, batch_size=8, max_length=16,
                  learning_rate=1e-2, cda_axis="gender", bootstrap_resamples=0, seed=1)  # fmt: skip
    ft = train_downstream(DownstreamConfig(output=str(tmp_path / "ft"), baseline="ft", **common))
    clp = train_downstream(
        DownstreamConfig(output=str(tmp_path / "clp"), baseline="clp", clp_weight=5.0, **common)
    )
    assert clp.metrics["counterfactuals"]["clp_pairs"] == clp.metrics["train_examples"] == 80
    assert clp.metrics["baseline"] == "clp" and ft.metrics["counterfactuals"] is None
    probe = [f"{p} is a {job} number {i}" for i, (p, job) in
             enumerate(zip(["he", "she"] * 5, ["nurse", "cook"] * 5, strict=True))]  # fmt: skip
    gap_ft = _logit_gap(tmp_path / "ft" / "model", probe)
    gap_clp = _logit_gap(tmp_path / "clp" / "model", probe)
    # FT learns the spurious pronoun signal (the only one); CLP pays for it
    assert ft.metrics["splits"]["test"]["metrics"]["classification"]["accuracy"] >= 0.9
    assert gap_ft > 0.01 and gap_clp < 0.25 * gap_ft, (gap_ft, gap_clp)


def test_cda_baseline_trains_on_the_augmented_split(tiny_bert, tmp_path):
    task = _spurious_task(tmp_path, 60)
    result = train_downstream(
        DownstreamConfig(task=str(task), output=str(tmp_path / "cda"), model=str(tiny_bert),
                         baseline="cda", cda_axis="gender", epochs=1, batch_size=8,
                         max_length=16, bootstrap_resamples=0)
    )  # fmt: skip
    # 48 training rows after the 80/10/10 carve, every one with a pronoun: doubled
    assert result.metrics["counterfactuals"] == {"axis": "gender", "cda_added": 48}
    assert result.metrics["train_examples"] == 96
    manifest = json.loads((tmp_path / "cda" / "model" / "downstream.json").read_text())
    assert manifest["start"] == "baseline" and manifest["max_length"] == 16


def test_cli_options_and_their_validation(tiny_bert, tmp_path, capsys):
    task = _spurious_task(tmp_path, 40)
    common = ["downstream", "--model", str(tiny_bert), "--task", str(task), "--epochs", "1",
              "--batch-size", "8", "--max-length", "16", "--bootstrap-resamples", "20"]  # fmt: skip
    out = tmp_path / "cli-clp"
    assert main([*common, "--baseline", "ft", "--clp-weight", "2", "--cda-axis", "gender",
                 "--output", str(out)]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counterfactuals"]["clp_weight"] == 2.0
    assert metrics["splits"]["test"]["intervals"]["classification.macro_f1"]["n_resamples"] == 20
    assert "macro-F1" in capsys.readouterr().out
    for bad, message in (
        (["--baseline", "clp", "--clp-weight", "-1"], "--clp-weight"),
        (["--baseline", "cda", "--cda-axis", "nope"], "--cda-axis"),
        (["--baseline", "ft", "--inference-batch-size", "0"], "batch-size"),
    ):
        assert main([*common, *bad, "--output", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "bad" / "metrics.json").exists()
    with pytest.raises(ConfigError, match="baseline"):
        train_downstream(DownstreamConfig(task=str(task), output=str(tmp_path / "x"),
                                          model=str(tiny_bert), baseline="nope"))  # fmt: skip


def _grid(task: Path, **options) -> dict:
    return {
        "name": "baselines",
        "seeds": [1],
        "downstream": {
            "baselines": ["ft", "cda", "clp"],
            "tasks": [{"task": str(task), "axis": "gender", "options": options}],
        },
    }


def test_grid_config_runs_cda_and_clp_cells_on_the_task_axis(tmp_path, monkeypatch):
    import peftdebias.downstream as downstream

    task = _spurious_task(tmp_path, 20)
    config = from_dict(_grid(task, clp_weight=0.5))
    cells = {cell.id: cell for cell in plan(config)}
    assert set(cells) == {f"downstream/spurious/{b}/s1" for b in ("ft", "cda", "clp")}
    seen = {}

    class Result:
        metrics: ClassVar[dict] = {
            "splits": {"test": {"metrics": {"classification": {"accuracy": 1.0, "macro_f1": 1.0}}}}
        }

    def fake(config):
        seen[config.baseline] = config
        return Result()

    monkeypatch.setattr(downstream, "train_downstream", fake)
    for cell in cells.values():
        folder = tmp_path / cell.id
        folder.mkdir(parents=True)
        run_cell(cell, folder, tmp_path, config)
    assert seen["cda"].cda_axis == seen["clp"].cda_axis == "gender"
    assert seen["ft"].cda_axis is None and seen["clp"].clp_weight == 0.5
    with pytest.raises(ConfigError, match="clp_weight"):
        from_dict(_grid(task, clp_weight=-2.0))
    with pytest.raises(ConfigError, match="precision"):
        from_dict(_grid(task, precision="fp8"))
    bad = _grid(task)
    bad["downstream"]["baselines"] = ["ft", "cdaa"]
    with pytest.raises(ConfigError, match="unknown baseline 'cdaa'"):
        from_dict(bad)
