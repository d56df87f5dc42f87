"""The object-level Python API (``peftdebias.api``, docs/api.md) on tiny models: learning a
module from objects (the same module as the command line's), saving and loading it, freezing
it inside a model trained by a real ``transformers.Trainer``, a task's own train/dev/test
files (also through ``peftdebias downstream``), metrics from arrays, and the README's
example run as written."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from peft import LoraConfig, PeftModel
from safetensors.torch import load_file
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Trainer,
    TrainingArguments,
)

import peftdebias as pd
from peftdebias.api import training_values
from peftdebias.cli import main
from peftdebias.downstream import DownstreamConfig, train_downstream
from peftdebias.errors import ConfigError, DataError
from peftdebias.methods import module_parameters, module_weights_path
from peftdebias.metrics import MetricOptions, axis_terms, compute_metrics, read_predictions
from peftdebias.metrics.predictions import write_predictions
from peftdebias.testing import save_tiny_model
from peftdebias.upstream import UpstreamConfig, train_upstream

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "he told his mother that the man was a doctor.",
    "she said her father is a nurse at the hospital.",
    "the woman gave the boy a book about kings.",
    "my brother and his wife visited their aunt.",
    "the weather was cold and the streets were empty.",
    "a girl and her sister played with the dog.",
]
TEXTS = SENTENCES * 6
WORDS = [("he", "she"), ("his", "her"), ("man", "woman"), ("mother", "father")]
SMALL = dict(max_steps=4, eval_steps=2, batch_size=4, max_length=24, learning_rate=1e-2)


def _learn(folder: Path, words=WORDS, method="lora", **kw) -> pd.DebiasModule:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder)
    return pd.learn_module(model, tokenizer, TEXTS, words, method, **{**SMALL, **kw})


@pytest.fixture(scope="module")
def learned(tiny_bert) -> pd.DebiasModule:
    return _learn(tiny_bert)


def _task_rows(n: int, offset: int = 0) -> list[str]:
    """csv rows ``text,label,gender`` of a toy toxicity task (label: the adjective)."""
    rows = []
    for i in range(offset, offset + n):
        who, gender = [("he", "male"), ("she", "female")][i % 2]
        word, label = [("awful", "toxic"), ("lovely", "fine"), ("nasty", "toxic")][i % 3]
        rows.append(f"{who} said the muslim man is {word} number {i},{label},{gender}")
    return rows


def _write_task(folder: Path, header: str = "text,label,gender") -> dict[str, Path]:
    files = {}
    for role, (n, offset) in {"train": (36, 0), "dev": (9, 100), "test": (12, 200)}.items():
        files[role] = folder / f"{role}.csv"
        files[role].write_text("\n".join([header, *_task_rows(n, offset)]) + "\n")
    return files


# --- learning a module ------------------------------------------------------------------------


def test_learned_module_equals_the_command_lines(tiny_bert, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n")
    cli = train_upstream(
        UpstreamConfig(
            axis="gender", corpus=str(corpus), method="lora", output=str(tmp_path / "cli"),
            model=str(tiny_bert), **SMALL,
        )
    )  # fmt: skip
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    module = pd.learn_module(
        model, AutoTokenizer.from_pretrained(tiny_bert), TEXTS, "gender", "lora", **SMALL
    )
    # the caller's model is not changed; the module is the command line's, bit for bit
    assert all(torch.equal(before[name], t) for name, t in model.state_dict().items())
    saved = module.save_pretrained(tmp_path / "api")
    ours, theirs = (load_file(str(module_weights_path(d))) for d in (saved, cli.output))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)
    meta = json.loads((saved / "debias.json").read_text())
    assert meta["corpus"]["name"] == "(texts given)" and meta["base_model"] == str(tiny_bert)
    same = ("axis", "axes", "word_list_hash", "method", "trainable_parameters")
    assert {key: meta[key] for key in same} == {key: cli.metadata[key] for key in same}
    assert meta["heldout_after"] == cli.metadata["heldout_after"]
    assert sorted(meta["files"]) == sorted(cli.metadata["files"])


def test_save_and_load_round_trip(learned, tiny_bert, tmp_path):
    folder = learned.save_pretrained(tmp_path / "module")
    assert learned.path == folder
    files = {p.name for p in folder.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "module.json",
        "debias.json",
    } <= files
    # peft opens it as its own adapter
    peft_model = PeftModel.from_pretrained(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)
    assert module_parameters(peft_model)
    loaded = pd.load_module(folder)
    assert loaded.method.name == "lora" and loaded.metadata["axis"] == "custom"
    assert loaded.model is None and loaded.path == folder
    copy = loaded.save_pretrained(tmp_path / "copy")  # a loaded module copies its files
    assert {p.name for p in copy.iterdir()} == files
    assert pd.DebiasModule.from_pretrained(copy).metadata == loaded.metadata
    with pytest.raises(ConfigError, match="not a complete debiasing module"):
        pd.load_module(tmp_path)


def test_peft_config_and_an_encoder_without_head(tiny_bert, tmp_path):
    folder = save_tiny_model(tmp_path / "encoder", "bert", head=False)
    encoder = AutoModel.from_pretrained(folder)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["query"])
    module = pd.learn_module(
        encoder, AutoTokenizer.from_pretrained(folder), Dataset.from_dict({"sentence": TEXTS}),
        {"gender": WORDS, "unused": [("cat", "dog")]}, config, axis="gender",
        text_column="sentence", head_warmup_steps=2, **SMALL,
    )  # fmt: skip
    assert module.method.name == "lora" and module.method.config.r == 2
    assert module.method.config.target_modules == ["query"]
    assert module.metadata["head_warmup"]["steps"] == 2  # a head was made and warmed up
    # the encoder's classifier takes the module (same fingerprint), before it is saved
    classifier = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    assert module_parameters(pd.attach_frozen(classifier, module)) and module.path is None
    saved = module.save_pretrained(tmp_path / "module")
    adapter = json.loads((saved / "adapter_config.json").read_text())
    assert (
        adapter["r"] == 2 and adapter["lora_alpha"] == 4 and adapter["target_modules"] == ["query"]
    )
    assert (saved / "mlm_head.safetensors").is_file()


def test_training_args_set_the_numbers_and_the_trainer(tiny_bert, caplog):
    args = TrainingArguments(
        output_dir="ignored", per_device_train_batch_size=2, logging_steps=1, weight_decay=0.1,
        eval_strategy="steps", eval_steps=2,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        settings, overrides = training_values(args)
    assert settings == {"batch_size": 2, "eval_steps": 2}
    assert overrides == {"logging_steps": 1, "weight_decay": 0.1}
    assert "eval_strategy" in caplog.text
    with pytest.raises(ConfigError, match="no TrainingArguments field nope"):
        training_values({"nope": 1})
    module = _learn(tiny_bert, training_args={"per_device_train_batch_size": 2, "logging_steps": 1})
    training = module.metadata["training"]
    assert training["batch_size"] == 4  # the keyword wins over training_args
    assert all(point["train_loss"] is not None for point in training["curve"])  # logged each step
    module = _learn(tiny_bert, training_args={"per_device_train_batch_size": 2}, batch_size=None)
    assert module.metadata["training"]["batch_size"] == 2


def test_bad_inputs_name_the_argument(tiny_bert):
    with pytest.raises(ConfigError, match=r"unknown setting.*nope"):
        _learn(tiny_bert, nope=1)
    with pytest.raises(ConfigError, match="max_steps must"):
        _learn(tiny_bert, max_steps=0)
    with pytest.raises(ConfigError, match="unknown debiasing method"):
        _learn(tiny_bert, method="nope")
    with pytest.raises(ConfigError, match="method must be"):
        _learn(tiny_bert, method=3)
    with pytest.raises(DataError, match="nothing to augment"):
        _learn(tiny_bert, words=[("cow", "horse")])
    with pytest.raises(DataError, match="one way"):
        _learn(tiny_bert, words=[("he", "she"), ("they", "she")])
    model, tokenizer = AutoModelForMaskedLM.from_pretrained(tiny_bert), None
    with pytest.raises(ConfigError, match="not one string"):
        pd.learn_module(model, tokenizer, "he said", WORDS)
    with pytest.raises(DataError, match="no column 'text'"):
        pd.learn_module(model, tokenizer, Dataset.from_dict({"x": ["a"]}), WORDS)


# --- the module frozen in a model the user trains ---------------------------------------------


def test_module_stays_frozen_under_a_real_trainer(learned, tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    classifier = pd.attach_frozen(classifier, learned)
    module = module_parameters(classifier)
    assert module and not any(param.requires_grad for param in module.values())
    trainable = {n for n, p in classifier.named_parameters() if p.requires_grad}
    assert any("classifier" in n for n in trainable) and any("encoder" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in classifier.named_parameters()}
    data = Dataset.from_dict({"text": TEXTS, "label": [i % 2 for i in range(len(TEXTS))]})
    data = data.map(lambda batch: tokenizer(batch["text"], truncation=True), batched=True)
    args = TrainingArguments(
        str(tmp_path / "trainer"), max_steps=3, per_device_train_batch_size=8,
        learning_rate=1e-2, report_to=[], save_strategy="no", use_cpu=True,
    )  # fmt: skip
    Trainer(classifier, args, train_dataset=data, processing_class=tokenizer).train()
    after = dict(classifier.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in module)  # bit-identical
    assert any(not torch.equal(before[n], after[n]) for n in trainable)


def test_attach_composes_and_refuses(learned, tiny_bert, tmp_path):
    race = _learn(tiny_bert, words=[("man", "woman")], axis="race", max_steps=2)
    race.save_pretrained(tmp_path / "race")
    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    composed = pd.attach_frozen(classifier, [learned, tmp_path / "race"], train_backbone=False)
    assert len(composed.peft_config) == 2
    assert not any(p.requires_grad for n, p in composed.named_parameters() if "classifier" not in n)
    other = save_tiny_model(tmp_path / "other", "bert", seed=1)
    with pytest.raises(ConfigError, match="different base model"):
        pd.attach_frozen(AutoModelForSequenceClassification.from_pretrained(other), learned)


# --- a task's own splits ----------------------------------------------------------------------


def test_task_splits_from_files_and_datasets(tmp_path):
    files = _write_task(tmp_path)
    splits = pd.task_splits(files["train"], files["dev"], files["test"], attribute_column="gender")
    assert {role: len(split) for role, split in splits.items()} == {
        "train": 36, "dev": 9, "test": 12,
    }  # fmt: skip
    assert all(s.features["label"].names == ["fine", "toxic"] for s in splits.values())
    assert splits["dev"]["label"][:3] == [0, 1, 1]  # fine, toxic, toxic: one mapping
    assert set(splits["test"]["attribute"]) == {"male", "female"}
    # a dev split with one class keeps the mapping of the others
    files["dev"].write_text("text,label,gender\nhe is nice,fine,male\n")
    one = pd.task_splits(files["train"], files["dev"], files["test"], attribute_column="gender")
    assert one["dev"]["label"][:] == [0] and one["dev"].features["label"].names == ["fine", "toxic"]
    # Datasets, mixed with files
    dev = Dataset.from_dict({"text": ["she is awful"], "label": ["toxic"], "gender": ["female"]})
    mixed = pd.task_splits(files["train"], dev, files["test"], attribute_column="gender")
    assert mixed["dev"]["label"][:] == [1]
    carved = pd.task_splits(files["train"])  # one file: 80/10/10
    assert {role: len(split) for role, split in carved.items()} == {
        "train": 28,
        "dev": 4,
        "test": 4,
    }


def test_task_splits_errors_name_the_file_and_column(tmp_path):
    files = _write_task(tmp_path)
    files["test"].write_text("text,gender\nhe is awful,male\n")
    with pytest.raises(DataError, match=r"test\.csv: missing column\(s\) label"):
        pd.task_splits(files["train"], files["dev"], files["test"])
    files["dev"].write_text("text,label\nhe is awful,\n")
    with pytest.raises(DataError, match=r"dev\.csv, line 2: column label is empty"):
        pd.task_splits(files["train"], files["dev"], files["train"])
    with pytest.raises(ConfigError, match="dev and test together"):
        pd.task_splits(files["train"], files["dev"])
    with pytest.raises(DataError, match="test Dataset: missing column"):
        pd.task_splits(files["train"], files["train"], Dataset.from_dict({"text": ["a"]}))


def test_downstream_with_its_own_dev_and_test_files(learned, tiny_bert, tmp_path, capsys):
    files = _write_task(tmp_path)
    module = learned.save_pretrained(tmp_path / "module")
    result = train_downstream(
        DownstreamConfig(
            task=str(files["train"]), dev_file=str(files["dev"]), test_file=str(files["test"]),
            output=str(tmp_path / "run"), model=str(tiny_bert), debias=str(module),
            columns={"attribute": "gender"}, batch_size=8, max_length=32, epochs=1,
            bootstrap_resamples=0,
        )
    )  # fmt: skip
    splits = result.metrics["splits"]
    assert splits["dev"]["n"] == 9 and splits["test"]["n"] == 12
    assert (
        result.metrics["train_examples"] == 36 and result.metrics["modules"][0]["method"] == "lora"
    )
    assert "tpr-gap" in splits["test"]["metrics"]
    # the command line: a dev file without a column names the file and the column
    files["dev"].write_text("text,gender\nhe is awful,male\n")
    common = ["downstream", "--task", str(files["train"]), "--model", str(tiny_bert)]
    rc = main([*common, "--dev-file", str(files["dev"]), "--test-file", str(files["test"]),
               "--baseline", "ft", "--output", str(tmp_path / "bad")])  # fmt: skip
    assert rc == 2 and re.search(r"dev\.csv: missing column\(s\) label", capsys.readouterr().err)
    rc = main([*common, "--dev-file", str(files["test"]), "--baseline", "ft", "--output", "x"])
    assert rc == 2 and "--dev-file and --test-file together" in capsys.readouterr().err
    rc = main(["downstream", "--task", "ghc", "--dev-file", str(files["test"]), "--test-file",
               str(files["test"]), "--baseline", "ft", "--output", "x"])  # fmt: skip
    assert rc == 2 and "registered task 'ghc'" in capsys.readouterr().err


# --- metrics from arrays ----------------------------------------------------------------------


def test_evaluate_predictions_equals_the_predictions_file_path(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    texts = [f"the {w} person number {i}" for i, w in enumerate(["muslim", "gay", "black"] * 20)]
    gold = rng.integers(0, 2, n)
    probs = rng.dirichlet([1, 1], n)
    attributes = ["male", "female"] * 30
    result = pd.evaluate_predictions(
        gold, probabilities=probs, texts=texts, attributes=attributes, bootstrap_resamples=50
    )
    rows = [
        {"id": str(i), "gold": int(gold[i]), "pred": int(probs[i].argmax()),
         "probs": [float(p) for p in probs[i]], "text": texts[i], "attribute": attributes[i]}
        for i in range(n)
    ]  # fmt: skip
    write_predictions(tmp_path / "p.jsonl", rows)
    options = MetricOptions(terms=axis_terms("group"), terms_source="group")
    expected = compute_metrics(read_predictions(tmp_path / "p.jsonl"), options=options)
    assert result.metrics.to_json() == expected["metrics"]
    assert result.metrics.fprd.fprd is not None and result.metrics.tpr_gap.tpr_gap_rms is not None
    assert result.interval(("classification", "macro_f1")) is not None
    # predictions alone: the same task and bias numbers
    plain = pd.evaluate_predictions(gold, probs.argmax(1), texts=texts, attributes=attributes)
    assert plain.metrics.fprd.fprd == result.metrics.fprd.fprd
    assert plain.metrics.classification.macro_f1 == result.metrics.classification.macro_f1
    words = pd.evaluate_predictions(gold, probs.argmax(1), texts=texts, terms=["muslim"])
    assert [row.term for row in words.metrics.fprd.per_term] == ["muslim"]


def test_evaluate_predictions_bad_arrays():
    with pytest.raises(DataError, match="labels must be a 1-d array of integer"):
        pd.evaluate_predictions([0.5, 1.0], [0, 1])
    with pytest.raises(DataError, match="texts has 1 rows but labels has 2"):
        pd.evaluate_predictions([0, 1], [0, 1], texts=["a"])
    with pytest.raises(ConfigError, match="give predictions or probabilities"):
        pd.evaluate_predictions([0, 1])
    with pytest.raises(DataError, match="row 0: field pred=2"):
        pd.evaluate_predictions([0, 1], [2, 1], probabilities=[[0.5, 0.5], [0.1, 0.9]])


# --- the README -------------------------------------------------------------------------------


def readme_example() -> str:
    """The Python block after the README's ``tests/test_api.py runs this example`` mark."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    mark = text.index("<!-- tests/test_api.py runs this example -->")
    block = re.search(r"```python\n(.*?)```", text[mark:], re.DOTALL)
    assert block is not None
    return block.group(1)


def test_readme_example_runs(tiny_bert, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEFTDEBIAS_EXAMPLE_MODEL", str(tiny_bert))
    _write_task(tmp_path)
    code = readme_example()
    assert "pd.learn_module(" in code and "pd.attach_frozen(" in code and "Trainer(" in code
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert len(printed) == 3 and 0 <= float(printed[0]) <= 1  # macro-F1, FPRD, TPR-GAP
    assert pd.load_module(tmp_path / "debias-lora").method.name == "lora"
