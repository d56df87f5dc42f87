"""Downstream phase on tiny models: frozen module, baselines, predictions and metrics,
reload, transfer, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from peftdebias.cli import main
from peftdebias.downstream import (
    DownstreamConfig,
    load_classifier,
    predict,
    train_downstream,
)
from peftdebias.downstream.splits import count_labels
from peftdebias.errors import ConfigError, DataError, OutputExistsError
from peftdebias.models import load_tokenizer
from peftdebias.tasks import MARKS, TASKS, crop_to_mentions, mark_coreference
from peftdebias.testing import save_tiny_model
from peftdebias.upstream import UpstreamConfig, train_upstream

SMALL = dict(max_train_examples=48, max_eval_examples=24, batch_size=8, max_length=32, epochs=1)


def _upstream(model: Path, root: Path, method: str, axis: str, text: str, lr: float) -> Path:
    corpus = root / "corpus.txt"
    corpus.write_text(text * 10)
    out = root / method
    train_upstream(
        UpstreamConfig(axis=axis, corpus=str(corpus), method=method, output=str(out),
                       model=str(model), max_steps=2, eval_steps=1, batch_size=4,
                       max_length=16, learning_rate=lr)
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def module_dir(tiny_bert, tmp_path_factory) -> Path:
    text = "the black man met the white woman.\nmuslims and jews live here.\n"
    return _upstream(tiny_bert, tmp_path_factory.mktemp("lora"), "lora", "group", text, 1e-2)


@pytest.fixture(scope="module")
def prefix_dir(tiny_bert, tmp_path_factory) -> Path:
    text = "the black man met the white woman.\nmuslims and jews live here.\n"
    return _upstream(tiny_bert, tmp_path_factory.mktemp("prefix"), "prefix", "group", text, 1e-2)


@pytest.fixture(scope="module")
def full_dir(tiny_bert, tmp_path_factory) -> Path:
    text = "he said she was right.\nthe man and the woman.\n"
    return _upstream(tiny_bert, tmp_path_factory.mktemp("full"), "full", "gender", text, 1e-3)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prefix_module_saves_and_reloads(tiny_bert, prefix_dir, data_dir, tmp_path):
    out = tmp_path / "prefix"
    train_downstream(
        DownstreamConfig(task="ghc", output=str(out), model=str(tiny_bert), debias=str(prefix_dir),
                         data_dir=str(data_dir), iptts=False, **SMALL)
    )  # fmt: skip
    model, tokenizer = load_classifier(out / "model")
    rows = _rows(out / "predictions-test.jsonl")
    probs = predict(model, tokenizer, Dataset.from_dict({"text": [r["text"] for r in rows]}), 32)
    assert abs(probs - torch.tensor([r["probs"] for r in rows]).numpy()).max() < 1e-5


def test_module_stays_frozen_and_outputs_are_complete(tiny_bert, module_dir, data_dir, tmp_path):
    out = tmp_path / "ghc"
    result = train_downstream(
        DownstreamConfig(
            task="ghc",
            output=str(out),
            model=str(tiny_bert),
            debias=str(module_dir),
            data_dir=str(data_dir),
            iptts=False,
            **SMALL,
        )
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics, default=str))
    assert metrics["start"] == "debias" and metrics["module_frozen_checksum"]
    assert metrics["train_examples"] == 48
    for split in ("dev", "test"):
        rows = _rows(out / f"predictions-{split}.jsonl")
        assert len(rows) == 24
        assert all(abs(sum(r["probs"]) - 1) < 1e-4 and r["pred"] in (0, 1) for r in rows)
        scores = metrics["splits"][split]["metrics"]
        assert {"classification", "fprd"} <= set(scores)
        assert scores["fprd"]["terms_source"] == "group"
    # the saved classifier reproduces the written probabilities
    model, tokenizer = load_classifier(out / "model")
    rows = _rows(out / "predictions-test.jsonl")
    probs = predict(model, tokenizer, Dataset.from_dict({"text": [r["text"] for r in rows]}), 32)
    assert abs(probs - torch.tensor([r["probs"] for r in rows]).numpy()).max() < 1e-5
    # and the module inside it is bit-identical to the upstream one
    from safetensors.torch import load_file

    assert all(
        torch.equal(a, b)
        for a, b in zip(
            load_file(str(module_dir / "adapter_model.safetensors")).values(),
            load_file(str(out / "model" / "module" / "adapter_model.safetensors")).values(),
            strict=True,
        )
    )


def test_baselines_and_user_file_task(tiny_bert, full_dir, tmp_path):
    table = tmp_path / "task.csv"
    lines = ["sentence,topic,gender"]
    for i in range(40):
        lines.append(
            f"text number {i} about {'cats' if i % 3 == 0 else 'dogs' if i % 3 == 1 else 'birds'},"
            f"{['cat', 'dog', 'bird'][i % 3]},{'m' if i % 2 else 'f'}"
        )
    table.write_text("\n".join(lines) + "\n")
    columns = {"text": "sentence", "label": "topic", "attribute": "gender"}
    ft = train_downstream(
        DownstreamConfig(
            task=str(table),
            output=str(tmp_path / "ft"),
            model=str(tiny_bert),
            baseline="ft",
            columns=columns,
            **SMALL,
        )
    )
    assert ft.metrics["num_labels"] == 3 and ft.metrics["start"] == "baseline"
    assert "tpr-gap" in ft.metrics["splits"]["test"]["metrics"]
    full = train_downstream(
        DownstreamConfig(
            task=str(table),
            output=str(tmp_path / "full"),
            model=str(tiny_bert),
            full_debias=str(full_dir),
            columns=columns,
            **SMALL,
        )
    )
    assert full.metrics["start"] == "full_debias"
    model, _ = load_classifier(tmp_path / "full" / "model")
    assert model.config.num_labels == 3


def test_module_for_another_base_model_is_refused(module_dir, tmp_path, data_dir):
    other = save_tiny_model(tmp_path / "other", "bert", seed=1)
    with pytest.raises(ConfigError, match=r"fingerprint|different base"):
        train_downstream(
            DownstreamConfig(
                task="ghc",
                output=str(tmp_path / "o"),
                model=str(other),
                debias=str(module_dir),
                data_dir=str(data_dir),
                **SMALL,
            )
        )


def test_bad_inputs(tiny_bert, tmp_path, data_dir):
    with pytest.raises(ConfigError, match="exactly one"):
        train_downstream(DownstreamConfig(task="ghc", output=str(tmp_path / "a")))
    with pytest.raises(ConfigError, match="unknown --task"):
        train_downstream(DownstreamConfig(task="nope", output=str(tmp_path / "b"), baseline="ft"))
    labels = Dataset.from_dict({"text": ["a", "b"], "label": [0, 2]})
    with pytest.raises(DataError, match="exceeds its 2 classes"):
        count_labels(TASKS["ghc"], {"train": labels})
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("keep")
    with pytest.raises(OutputExistsError):
        train_downstream(
            DownstreamConfig(
                task="ghc",
                output=str(busy),
                baseline="ft",
                model=str(tiny_bert),
                data_dir=str(data_dir),
            )
        )
    assert (busy / "x").read_text() == "keep"


def test_gap_marks_pronoun_and_candidates():
    row = {
        "text": "Anna met Bea because she was late.",
        "a": "Anna",
        "a_offset": 0,
        "b": "Bea",
        "b_offset": 9,
        "pronoun": "she",
        "pronoun_offset": 21,
    }
    assert mark_coreference(row) == "[A] Anna [/A] met [B] Bea [/B] because <P> she </P> was late."


def test_gap_crop_keeps_every_mark_within_max_length(data_dir):
    from peftdebias.data import load

    tokenizer, max_length = load_tokenizer("minilm"), 64
    rows = load("gap", "test", data_dir).select(range(300))
    texts = [mark_coreference(row) for row in rows]
    cropped = [crop_to_mentions(text, tokenizer, max_length) for text in texts]

    def kept(text: str) -> bool:
        ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        decoded = tokenizer.decode(ids).replace(" ", "")
        return all(mark.strip().lower() in decoded for pair in MARKS for mark in pair)

    for text, crop in zip(texts, cropped, strict=True):
        assert crop in text  # a contiguous window of the marked passage
        if len(tokenizer(text)["input_ids"]) <= max_length:
            assert crop == text
        else:
            assert len(tokenizer(crop)["input_ids"]) <= max_length
    truncated_rate = sum(map(kept, texts)) / len(texts)
    cropped_rate = sum(map(kept, cropped)) / len(texts)
    assert truncated_rate < 0.15 and cropped_rate > 0.8, (truncated_rate, cropped_rate)


def test_gap_crop_starts_at_first_mark_when_the_span_is_too_long():
    tokenizer = load_tokenizer("minilm")
    text = "intro words here. [A] Anna [/A] " + "then many words " * 30 + "<P> she </P> end."
    crop = crop_to_mentions(text, tokenizer, 32)
    assert crop.startswith("[A] Anna [/A]")
    assert crop_to_mentions("no marks at all " * 20, tokenizer, 16) == "no marks at all " * 20


def test_gap_downstream_sees_the_cropped_passages(tiny_bert, data_dir, tmp_path):
    result = train_downstream(
        DownstreamConfig(
            task="gap", output=str(tmp_path / "gap"), model=str(tiny_bert), baseline="ft",
            data_dir=str(data_dir), **SMALL,
        )
    )  # fmt: skip
    assert "gap" in result.metrics["splits"]["test"]["metrics"]
    tokenizer = load_tokenizer(str(tiny_bert))
    for row in _rows(tmp_path / "gap" / "predictions-test.jsonl"):
        assert len(tokenizer(row["text"])["input_ids"]) <= SMALL["max_length"]
        assert "[A] " in row["text"] or "[B] " in row["text"]  # the window opens on a mark


def test_cli_downstream_with_iptts(tiny_bert, module_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [
        "downstream",
        "--model",
        str(tiny_bert),
        "--task",
        "stormfront",
        "--debias",
        str(module_dir),
        "--output",
        str(out),
        "--max-train-examples",
        "32",
        "--max-eval-examples",
        "16",
        "--batch-size",
        "8",
        "--max-length",
        "24",
        "--max-iptts-examples",
        "500",
        "--data-dir",
        str(data_dir),
    ]
    assert main(argv) == 0
    assert "stormfront: test accuracy" in capsys.readouterr().out
    iptts = json.loads((out / "metrics.json").read_text())["splits"]["iptts"]
    assert iptts["n"] == 500  # seeded subsample of the 76,564 sentences
    assert "iptts-fprd" in iptts["metrics"]
    assert main(argv) == 2  # output exists


def test_resume_continues_training(tiny_bert, data_dir, tmp_path):
    out = tmp_path / "resume"
    base = dict(task="ghc", output=str(out), model=str(tiny_bert), baseline="ft",
                data_dir=str(data_dir), iptts=False, **{**SMALL, "epochs": 1})  # fmt: skip
    first = train_downstream(DownstreamConfig(**base))
    resumed = train_downstream(DownstreamConfig(**{**base, "epochs": 2}, resume=True))
    assert resumed.metrics["steps"] == 2 * first.metrics["steps"]


def test_cli_nli_task_scores_bias_nli_pairs(tiny_bert, data_dir, tmp_path, capsys):
    out = tmp_path / "mnli"
    argv = ["downstream", "--model", str(tiny_bert), "--task", "mnli", "--baseline", "ft",
            "--output", str(out), "--max-train-examples", "32", "--max-eval-examples", "16",
            "--batch-size", "8", "--max-length", "24", "--max-bias-nli-examples", "300",
            "--data-dir", str(data_dir)]  # fmt: skip
    assert main(argv) == 0
    assert "Bias-NLI FN" in capsys.readouterr().out
    splits = json.loads((out / "metrics.json").read_text())["splits"]
    nli = splits["bias-nli"]
    assert nli["n"] == 300 and "tpr-gap" not in nli["metrics"]
    rows = _rows(out / "predictions-bias-nli.jsonl")
    assert {r["gold"] for r in rows} == {1}  # every pair's expected answer is neutral
    assert {"occupation", "gender_word", "gender", "text_pair"} <= rows[0].keys()
    probs = torch.tensor([r["probs"] for r in rows])
    scores = nli["metrics"]["bias-nli"]
    assert scores["net_neutral"] == pytest.approx(probs[:, 1].mean().item(), abs=1e-5)
    assert scores["fraction_neutral"] == pytest.approx(
        (probs.argmax(1) == 1).float().mean().item(), abs=1e-6
    )
    # the same seed draws the same pairs; the metrics command recomputes the same scores
    again = tmp_path / "again"
    assert main([*argv[:8], str(again), *argv[9:]]) == 0
    assert [r["id"] for r in _rows(again / "predictions-bias-nli.jsonl")] == [r["id"] for r in rows]
    assert main(["metrics", "--predictions", str(out / "predictions-bias-nli.jsonl")]) == 0


def test_bias_nli_can_be_disabled(tiny_bert, data_dir, tmp_path):
    result = train_downstream(
        DownstreamConfig(task="snli", output=str(tmp_path / "snli"), model=str(tiny_bert),
                         baseline="ft", bias_nli=False, data_dir=str(data_dir), **SMALL)
    )  # fmt: skip
    assert set(result.metrics["splits"]) == {"dev", "test"}
