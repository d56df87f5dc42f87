"""MLM restoration: training on a tiny headless BERT, the artefact, loading, the shipped
default, determinism of a random head, and bad inputs."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors.torch import load_file

from peftdebias.cli import main
from peftdebias.errors import ConfigError, OutputExistsError, PeftDebiasError
from peftdebias.models import (
    load_masked_lm,
    load_sequence_classifier,
    model_fingerprint,
    resolve_model,
)
from peftdebias.restoration import RestoreConfig, read_record, restore_mlm
from peftdebias.restoration.corpus import clean_text, pack_blocks, parse_corpus_spec
from peftdebias.testing import minilm_tokenizer, save_tiny_model

SENTENCES = [
    "the cat sat on the mat and looked at the door .",
    "she went to the market to buy bread and milk .",
    "he plays the piano every evening after dinner .",
    "the river flows through the old town to the sea .",
    "they built a small house near the forest @-@ edge .",
] * 30


@pytest.fixture(scope="module")
def headless(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("headless"), "bert", head=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def restored(tmp_path_factory, headless, corpus, data_dir):
    output = tmp_path_factory.mktemp("restored") / "artefact"
    config = RestoreConfig(
        output=str(output),
        model=str(headless),
        corpora=(str(corpus),),
        data_dir=str(data_dir),
        max_steps=8,
        batch_size=4,
        max_length=32,
        learning_rate=5e-3,
        warmup_steps=0,
        rank=4,
        alpha=8,
        eval_steps=4,
        curve_texts=20,
        heldout_texts=40,
        bf16=False,
    )
    return restore_mlm(config)


def _logits(model, tokenizer, text="the cat sat on the [MASK] ."):
    batch = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**batch).logits


def test_artefact_files_and_record(restored, headless):
    folder = restored.output
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "mlm_head.safetensors",
        "restoration.json",
    }
    record = read_record(folder)
    assert record["base_model"] == str(headless)
    assert record["training"]["steps"] == 8
    assert [p["step"] for p in record["heldout"]["curve"]] == [0, 4, 8]
    assert record["heldout"]["after"]["tokens"] == record["heldout"]["before"]["tokens"] > 0
    assert record["missing_head_tensors"] > 0
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(headless)  # no machine-local path
    lora = load_file(folder / "adapter_model.safetensors")
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in lora.items())
    assert all(".encoder." in key for key in lora)  # the head and pooler get no delta


def test_head_trains_and_reload_is_exact(restored, headless):
    raw, missing = load_masked_lm(headless)
    assert missing
    first, missing_first = load_masked_lm(restored.output)
    second, _ = load_masked_lm(restored.output)
    assert missing_first == []
    tokenizer = minilm_tokenizer()
    a, b = _logits(first, tokenizer), _logits(second, tokenizer)
    assert torch.equal(a, b)
    assert not torch.allclose(a, _logits(raw, tokenizer))
    head = load_file(restored.output / "mlm_head.safetensors")
    raw_state = raw.state_dict()
    assert any(not torch.equal(v, raw_state[k]) for k, v in head.items())
    assert "cls.predictions.decoder.weight" not in head  # tied to the embeddings


def test_loader_matches_peft_merge(restored, headless):
    from peft import PeftModel

    from peftdebias.training.heads import load_head

    base, _ = load_masked_lm(headless)
    merged = PeftModel.from_pretrained(base, restored.output).merge_and_unload()
    load_head(merged, restored.output / "mlm_head.safetensors")
    ours, _ = load_masked_lm(restored.output)
    tokenizer = minilm_tokenizer()
    assert torch.equal(_logits(merged, tokenizer), _logits(ours, tokenizer))


def test_restored_fingerprint_and_classifier(restored, headless):
    raw, _ = load_masked_lm(headless)
    ours, _ = load_masked_lm(restored.output)
    assert model_fingerprint(ours) != model_fingerprint(raw)
    assert model_fingerprint(ours) == read_record(restored.output)["restored_fingerprint"]
    classifier = load_sequence_classifier(restored.output, num_labels=2)
    assert model_fingerprint(classifier) == model_fingerprint(ours)
    layer = "encoder.layer.0.attention.self.query.weight"
    assert torch.equal(
        classifier.bert.state_dict()[layer], ours.bert.state_dict()[layer]
    )  # the same merged encoder under another head
    assert not torch.equal(ours.bert.state_dict()[layer], raw.bert.state_dict()[layer])


def test_existing_output_needs_overwrite(restored, headless, corpus, data_dir):
    config = RestoreConfig(
        output=str(restored.output), model=str(headless), corpora=(str(corpus),),
        data_dir=str(data_dir), max_steps=1, batch_size=2, max_length=16, bf16=False,
    )  # fmt: skip
    with pytest.raises(OutputExistsError, match="--overwrite"):
        restore_mlm(config)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_steps": 0}, "--max-steps"),
        ({"learning_rate": float("nan")}, "--learning-rate"),
        ({"corpora": ()}, "--corpus"),
        ({"corpora": ("wikitext-2:test",)}, "held-out"),
    ],
)
def test_bad_options_fail_before_training(tmp_path, headless, data_dir, options, message):
    with pytest.raises(ConfigError, match=message):
        restore_mlm(
            RestoreConfig(
                output=str(tmp_path / "o"), model=str(headless), data_dir=str(data_dir), **options
            )
        )
    assert not (tmp_path / "o").exists()


def test_incomplete_or_foreign_artefact_is_refused(restored, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in restored.output.iterdir():
        if item.name != "mlm_head.safetensors":
            (broken / item.name).write_bytes(item.read_bytes())
    with pytest.raises(ConfigError, match=r"mlm_head\.safetensors missing"):
        load_masked_lm(broken)
    (broken / "mlm_head.safetensors").write_bytes(b"")
    (broken / "restoration.json").write_text('{"format": "peftdebias-mlm')  # truncated
    with pytest.raises(PeftDebiasError, match=r"restoration\.json is unreadable or not valid JSON"):
        load_masked_lm(broken)
    roberta = save_tiny_model(tmp_path / "roberta", "roberta")
    from peftdebias.restoration import apply_restoration

    model, _ = load_masked_lm(roberta)
    with pytest.raises(ConfigError, match="another architecture"):
        apply_restoration(model, restored.output)


def test_cli_restore_mlm(tmp_path, headless, corpus, data_dir, capsys):
    code = main(
        ["restore-mlm", "--model", str(headless), "--corpus", str(corpus), "--output",
         str(tmp_path / "cli"), "--max-steps", "2", "--batch-size", "2", "--max-length", "16",
         "--eval-steps", "1", "--curve-texts", "5", "--heldout-texts", "5", "--rank", "2",
         "--no-bf16", "--data-dir", str(data_dir)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "saved the MLM restoration" in out and "--model" in out
    record = read_record(tmp_path / "cli")
    assert record["command"].startswith("peftdebias ")


def test_corpus_helpers():
    assert parse_corpus_spec("gap:dev+validation") == ("gap", ("dev", "validation"))
    assert parse_corpus_spec("ghc") == ("ghc", ("train",))
    assert clean_text("a @-@ b @,@ c <unk> .", "[UNK]") == "a-b,c [UNK] ."
    tokenizer = minilm_tokenizer()
    blocks = pack_blocks(tokenizer, SENTENCES[:20], max_length=16, seed=0)
    assert blocks and all(len(b) == 16 for b in blocks)
    assert all(b[0] == tokenizer.cls_token_id and b[-1] == tokenizer.sep_token_id for b in blocks)
    assert blocks == pack_blocks(tokenizer, SENTENCES[:20], max_length=16, seed=0)


def test_default_minilm_is_restored_and_raw_is_reachable():
    restored = resolve_model("minilm")
    raw = resolve_model("minilm-raw")
    assert restored.restoration and raw.restoration is None
    assert restored.location == raw.location
    record = read_record(restored.restoration)
    assert record["base_model"] == "minilm-raw"
    assert record["heldout"]["after"]["accuracy"] >= 0.30
    size = sum(p.stat().st_size for p in __import__("pathlib").Path(restored.restoration).iterdir())
    assert size <= 5 * 2**20


def test_default_minilm_loads_as_a_masked_lm_quickly():
    start = time.perf_counter()
    raw, raw_missing = load_masked_lm("minilm-raw")
    raw_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model, missing = load_masked_lm("minilm")
    restored_seconds = time.perf_counter() - start
    assert raw_missing and missing == []
    assert model_fingerprint(model) != model_fingerprint(raw)
    assert (
        model_fingerprint(model)
        == read_record(resolve_model("minilm").restoration)["restored_fingerprint"]
    )
    assert restored_seconds - raw_seconds < 1.0


def test_random_head_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first, _ = load_masked_lm("minilm-raw")
    assert torch.equal(torch.random.get_rng_state(), state)
    second, _ = load_masked_lm("minilm-raw")
    key = "cls.predictions.transform.dense.weight"
    assert torch.equal(first.state_dict()[key], second.state_dict()[key])


def test_head_only_restoration_leaves_the_encoder(tmp_path, headless, corpus, data_dir):
    config = RestoreConfig(
        output=str(tmp_path / "head"), model=str(headless), corpora=(str(corpus),),
        data_dir=str(data_dir), max_steps=2, batch_size=2, max_length=16, rank=0,
        eval_steps=1, curve_texts=5, heldout_texts=5, bf16=False,
    )  # fmt: skip
    folder = restore_mlm(config).output
    assert {p.name for p in folder.iterdir()} == {"mlm_head.safetensors", "restoration.json"}
    raw, _ = load_masked_lm(headless)
    ours, missing = load_masked_lm(folder)
    assert missing == []
    assert all(torch.equal(p, raw.bert.state_dict()[k]) for k, p in ours.bert.state_dict().items())
    assert model_fingerprint(ours) != model_fingerprint(raw)
