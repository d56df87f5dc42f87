"""Upstream phase end to end on tiny models: artefacts, frozen backbone, head warm-up,
objectives, bad input, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForMaskedLM

from peftdebias.cli import main
from peftdebias.errors import ConfigError, DataError, OutputExistsError
from peftdebias.methods import load_module, module_weights_path
from peftdebias.testing import minilm_tokenizer, tiny_config
from peftdebias.training.heads import load_head, mlm_head
from peftdebias.upstream import UpstreamConfig, load_debiased_lm, train_upstream

SENTENCES = [
    "he told his mother that the man was a doctor.",
    "she said her father is a nurse at the hospital.",
    "the woman gave the boy a book about kings.",
    "my brother and his wife visited their aunt.",
    "the weather was cold and the streets were empty.",
    "a girl and her sister played with the dog.",
    "the actor thanked his wife and daughter on stage.",
    "the committee approved the budget on tuesday.",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(SENTENCES * 6) + "\n")
    return path


def _config(model: Path, corpus: Path, output: Path, method: str = "lora", **kw) -> UpstreamConfig:
    settings = dict(max_steps=4, eval_steps=2, batch_size=4, max_length=24, learning_rate=1e-2)
    settings.update(kw)
    return UpstreamConfig(
        axis="gender",
        corpus=str(corpus),
        method=method,
        output=str(output),
        model=str(model),
        **settings,
    )


def _backbone(model) -> dict[str, torch.Tensor]:
    prefix = model.base_model_prefix + "."
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


@pytest.mark.parametrize("method", ["lora", "prefix", "adapter"])
def test_module_trains_and_backbone_stays_bit_identical(tiny_bert, corpus, tmp_path, method):
    result = train_upstream(_config(tiny_bert, corpus, tmp_path / "out", method))
    out = result.output
    weights = module_weights_path(out)  # adapter_model.safetensors for peft methods
    assert {"module.json", weights.name, "debias.json"} <= {p.name for p in out.iterdir()}
    meta = json.loads((out / "debias.json").read_text())
    for key in (
        "base_model",
        "axis",
        "word_list_hash",
        "method",
        "trainable_parameters",
        "trainable_percent",
        "heldout_before",
        "heldout_after",
        "masked_token_accuracy_before",
        "masked_token_accuracy_after",
        "versions",
        "training",
        "corpus",
    ):
        assert key in meta, key
    assert meta["method"] == method and meta["axis"] == "gender"
    # the method's options and the base model's fingerprint are stored once, in module.json
    record = json.loads((out / "module.json").read_text())
    assert "config" in record and "fingerprint" in record["base_model"]
    assert not {"method_config", "base_model_fingerprint", "format"} & set(meta)
    assert meta["training"]["steps"] == 4
    assert meta["corpus"]["texts_with_attribute_words"] > 0
    assert 0 < meta["trainable_percent"] < 100
    assert meta["training"]["best_heldout_loss"] is not None

    original = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    reloaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), out)
    inner = reloaded.get_base_model() if hasattr(reloaded, "get_base_model") else reloaded
    before = _backbone(original)
    after = {k.replace(".base_layer", ""): v for k, v in inner.state_dict().items()}
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]), f"backbone tensor {name} changed"
    weights = load_file(str(weights))
    assert any(t.abs().sum() > 0 for t in weights.values())
    # the trained module changes the model's output
    batch = minilm_tokenizer()(SENTENCES[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        changed = reloaded.eval()(**batch).logits
        base = original.eval()(**batch).logits
    assert changed.shape[-1] == base.shape[-1]
    assert not torch.allclose(changed[:, -base.shape[1] :], base, atol=1e-6)


@pytest.mark.parametrize("objective", ["mlm+consistency", "consistency"])
def test_roberta_prompt_tuning_with_consistency(tiny_roberta, corpus, tmp_path, objective):
    result = train_upstream(
        _config(tiny_roberta, corpus, tmp_path / "out", "prompt", objective=objective)
    )
    meta = result.metadata
    assert meta["objective"] == objective and meta["consistency_weight"] == 1.0
    assert meta["training"]["steps"] == 4


def test_missing_head_is_warmed_up_on_original_text(tmp_path, corpus):
    folder = tmp_path / "headless"
    torch.manual_seed(0)
    AutoModel.from_config(tiny_config("bert")).save_pretrained(folder)  # encoder only
    minilm_tokenizer().save_pretrained(folder)
    encoder = _backbone(AutoModelForMaskedLM.from_pretrained(folder))
    result = train_upstream(
        _config(folder, corpus, tmp_path / "out", head_warmup_steps=6, learning_rate=1e-3)
    )
    warm = result.metadata["head_warmup"]
    assert warm is not None and warm["steps"] == 6 and warm["missing_head_tensors"]
    assert warm["heldout_after"]["loss"] < warm["heldout_before"]["loss"]
    # the warmed-up head travels with the module: intrinsic scoring uses the trained head
    assert (result.output / "mlm_head.safetensors").is_file()
    lm, _, missing = load_debiased_lm(str(folder), debias=result.output)
    assert missing == []
    fresh, _, fresh_missing = load_debiased_lm(str(folder))
    assert fresh_missing, "without the module the head is still untrained"
    warmed = dict(mlm_head(lm).named_parameters())
    untrained = dict(mlm_head(fresh).named_parameters())
    assert not torch.equal(
        warmed["predictions.transform.dense.weight"],
        untrained["predictions.transform.dense.weight"],
    )
    with torch.no_grad():
        batch = minilm_tokenizer()(["he said that she was right."], return_tensors="pt")
        expected = load_module(AutoModelForMaskedLM.from_pretrained(folder), result.output)
        load_head(expected, result.output / "mlm_head.safetensors")
        torch.testing.assert_close(lm(**batch).logits, expected(**batch).logits)
    # head_from: the warmed-up head on the base model, without the module
    head_only, _, head_missing = load_debiased_lm(str(folder), head_from=result.output)
    assert head_missing == [] and not hasattr(head_only, "peft_config")
    for name, tensor in mlm_head(head_only).named_parameters():
        torch.testing.assert_close(tensor, warmed[name])
    base_only = AutoModelForMaskedLM.from_pretrained(folder)
    load_head(base_only, result.output / "mlm_head.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(head_only(**batch).logits, base_only(**batch).logits)
    with pytest.raises(ConfigError, match=r"no mlm_head\.safetensors"):
        load_debiased_lm(str(folder), head_from=tmp_path)
    reloaded = load_module(AutoModelForMaskedLM.from_pretrained(folder), result.output)
    state = {
        k.replace(".base_layer", ""): v for k, v in reloaded.get_base_model().state_dict().items()
    }
    for name, tensor in encoder.items():
        assert torch.equal(tensor, state[name]), f"warm-up changed encoder tensor {name}"


def test_sparse_fine_tuning_calibrates_then_trains(tiny_bert, corpus, tmp_path):
    result = train_upstream(
        _config(tiny_bert, corpus, tmp_path / "out", "sft", calibration_steps=3)
    )
    assert result.metadata["method"] == "sft"
    assert result.metadata["trainable_percent"] < 5


def test_bad_inputs_fail_before_training(tiny_bert, corpus, tmp_path):
    with pytest.raises(ConfigError, match="unknown debiasing method"):
        train_upstream(_config(tiny_bert, corpus, tmp_path / "a", "nope"))
    with pytest.raises(ConfigError, match="axis"):
        train_upstream(
            UpstreamConfig(
                axis="height",
                corpus=str(corpus),
                method="lora",
                output=str(tmp_path / "b"),
                model=str(tiny_bert),
            )
        )
    with pytest.raises(ConfigError, match="objective"):
        train_upstream(_config(tiny_bert, corpus, tmp_path / "c", objective="magic"))
    plain = tmp_path / "plain.txt"
    plain.write_text("the weather was cold.\nthe committee met on tuesday.\n" * 5)
    with pytest.raises(DataError, match=r"none of its .* training texts contains"):
        train_upstream(_config(tiny_bert, plain, tmp_path / "d"))
    assert not (tmp_path / "d" / "debias.json").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        train_upstream(_config(tiny_bert, corpus, busy))
    assert (busy / "keep.txt").read_text() == "precious"


def _cli_args(model: Path, corpus: Path, out: Path, steps: int) -> list[str]:
    """Options of a tiny ``peftdebias upstream`` run (LoRA, gender)."""
    return [
        "--model", str(model), "--axis", "gender", "--corpus", str(corpus), "--method", "lora",
        "--output", str(out), "--max-steps", str(steps), "--eval-steps", str(steps // 2),
        "--batch-size", "4", "--max-length", "16",
    ]  # fmt: skip


def test_cli_upstream(tiny_bert, corpus, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["upstream", *_cli_args(tiny_bert, corpus, out, steps=2), "--method-option", "r=4"]
    assert main(argv) == 0
    assert "saved lora module" in capsys.readouterr().out
    assert json.loads((out / "module.json").read_text())["config"]["r"] == 4
    assert main(argv) == 2  # refuses to overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


@pytest.mark.slow
def test_runs_unchanged_under_torchrun_with_two_cpu_processes(tiny_bert, corpus, tmp_path):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:  # a free port on loopback for the gloo rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port),
        "-m", "peftdebias.cli", "upstream", *_cli_args(tiny_bert, corpus, out, steps=4),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((out / "debias.json").read_text())
    assert meta["training"]["world_size"] == 2
    assert meta["training"]["steps"] == 4
    model = load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), out)
    batch = minilm_tokenizer()(["she is here."], return_tensors="pt")
    assert torch.isfinite(model(**batch).logits).all()


def test_resume_continues_from_the_last_checkpoint(tiny_bert, corpus, tmp_path):
    out = tmp_path / "resume"
    first = train_upstream(_config(tiny_bert, corpus, out, max_steps=4, eval_steps=2))
    assert first.metadata["training"]["steps"] == 4
    assert any((out / "checkpoints" / "module").glob("checkpoint-4"))
    resumed = train_upstream(
        _config(tiny_bert, corpus, out, max_steps=6, eval_steps=2, resume=True)
    )
    assert resumed.metadata["training"]["steps"] == 6
    assert any((out / "checkpoints" / "module").glob("checkpoint-6"))
