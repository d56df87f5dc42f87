"""Debiasing methods: attach, train, freeze, save/load, MLM -> classifier transfer, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    DebertaV2Config,
)

from peftdebias.errors import ConfigError, OutputExistsError
from peftdebias.methods import (
    METHODS,
    check_base_model,
    count_parameters,
    get_method,
    load_module,
    method_of,
    module_parameters,
    module_weights_path,
    parameter_groups,
    set_trainable,
    unwrap,
)
from peftdebias.methods.adapter import ADAPTER_ATTR
from peftdebias.methods.sparse import maskable_parameters, top_k_indices
from peftdebias.testing import save_tiny_model

TINY_FIXTURES = {"bert": "tiny_bert", "roberta": "tiny_roberta"}


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, 3000, (2, 8), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 6:] = 0
    labels = input_ids.clone()
    labels[:, ::2] = -100
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _mlm_train(method, steps: int = 3, lr: float = 1e-2):
    """A train_fn: a few AdamW steps of MLM loss on random tokens."""

    def train(model):
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        for step in range(steps):
            batch = _batch(step)
            batch["labels"] = method.pad_labels(batch["labels"])
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()

    return train


def _logits(model, method=None) -> torch.Tensor:
    batch = _batch(7)
    batch.pop("labels")
    with torch.no_grad():
        logits = model.eval()(**batch).logits
    return method.trim_logits(logits) if method is not None else logits


def _snapshot(model) -> dict[int, torch.Tensor]:
    return {id(p): p.detach().clone() for p in model.parameters()}


@pytest.fixture(params=["bert", "roberta"])
def tiny(request) -> Path:
    return request.getfixturevalue(TINY_FIXTURES[request.param])


@pytest.mark.parametrize("name", METHODS)
def test_train_save_load_transfer(name, tiny, tmp_path):
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_pretrained(tiny)
    base_logits = _logits(model)
    pretrained = _snapshot(model)
    method = get_method(name)
    train = _mlm_train(method)

    method.calibrate(model, train)
    assert all(torch.equal(p, pretrained[id(p)]) for p in model.parameters())
    model = method.attach(model)

    trainable, total, percent = count_parameters(model)
    module = module_parameters(model)
    if name == "full":
        assert trainable == total and percent == 100.0
    else:
        assert 0 < trainable < total
        assert trainable == sum(p.numel() for p in module.values())
        assert all(p.requires_grad for p in module.values())
    before = {k: v.clone() for k, v in method.module_state_dict(model).items()}
    train(model)
    after = method.module_state_dict(model)
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, f"{name}: training changed no module tensor"

    # Every pretrained tensor that is not part of the module is bit-identical.
    groups = parameter_groups(model)
    others = {n: p for n, p in model.named_parameters() if groups[n] != "module"}
    assert {id(p) for p in others.values()} == set(pretrained)
    if name != "full":
        for n, p in others.items():
            assert torch.equal(p, pretrained[id(p)]), f"{name}: {n} changed"

    trained_logits = _logits(model, method)
    assert not torch.allclose(trained_logits, base_logits)

    folder = method.save(model, tmp_path / "module")
    record = json.loads((folder / "module.json").read_text())
    assert record["method"] == name
    assert method_of(folder).config == method.config
    fresh = AutoModelForMaskedLM.from_pretrained(tiny)
    loaded = load_module(fresh, folder)
    assert torch.allclose(_logits(loaded, method), trained_logits, atol=1e-6)
    assert count_parameters(loaded)[0] == 0  # nothing trainable unless asked

    _check_transfer(name, tiny, folder, method)


def _check_transfer(name, tiny, folder, method):
    """MLM module -> fresh classifier: module frozen, backbone and head train."""
    classifier = AutoModelForSequenceClassification.from_pretrained(tiny, num_labels=2)
    classifier = load_module(classifier, folder, trainable=False)
    loaded = method.module_state_dict(classifier)
    saved = load_file(str(module_weights_path(folder)))
    if name == "full":  # the saved encoder is copied; the MLM checkpoint has no pooler
        prefix = "bert." if "bert." in next(iter(saved)) else "roberta."
        encoder_keys = [k for k in loaded if k.startswith(prefix) and "pooler" not in k]
        assert all(torch.equal(loaded[k], saved[k]) for k in encoder_keys)
    else:  # module keys map across heads and every value arrives
        assert saved.keys() == loaded.keys()
        assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    set_trainable(classifier, module=False, backbone=True, head=True)
    groups = parameter_groups(classifier)
    params = dict(classifier.named_parameters())
    head = {n: p.detach().clone() for n, p in params.items() if groups[n] == "head"}
    encoder = {n: p.detach().clone() for n, p in params.items() if groups[n] == "backbone"}
    assert head and encoder
    assert all(p.requires_grad == (groups[n] != "module") for n, p in params.items())

    optimizer = torch.optim.AdamW([p for p in params.values() if p.requires_grad], lr=1e-2)
    batch = _batch(3)
    batch["labels"] = torch.tensor([0, 1])
    classifier.train()
    classifier(**batch).loss.backward()
    optimizer.step()

    if name != "full":
        after = method.module_state_dict(classifier)
        assert all(torch.equal(saved[k], after[k]) for k in saved), f"{name}: module moved"
    assert all(not torch.equal(head[n], params[n]) for n in head if n.endswith("weight"))
    assert any(not torch.equal(encoder[n], params[n]) for n in encoder)


def test_identity_at_start(tiny_bert):
    """Zero-initialised modules (LoRA B = 0, adapter up-projection = 0) leave outputs unchanged."""
    for name in ("lora", "adapter", "ia3"):
        model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
        expected = _logits(model)
        assert torch.equal(_logits(get_method(name).attach(model)), expected), name


def test_adapter_formula_and_placement(tiny_bert):
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    model = get_method("adapter").attach(model)
    wrapped = [n for n, m in model.named_modules() if hasattr(m, ADAPTER_ATTR)]
    assert wrapped == ["bert.encoder.layer.0.output.dense", "bert.encoder.layer.1.output.dense"]
    dense = model.bert.encoder.layer[0].output.dense
    adapter = getattr(dense, ADAPTER_ATTR)
    assert adapter.down.out_features == 32 // 16
    with torch.no_grad():
        adapter.down.weight.fill_(0.5)
        adapter.down.bias.copy_(torch.tensor([0.0, -100.0]))  # second unit: relu -> 0
        adapter.up.weight.fill_(2.0)
        adapter.up.bias.fill_(1.0)
    x = torch.randn(1, 64)
    h = torch.nn.functional.linear(x, dense.weight, dense.bias)
    expected = h + 2.0 * torch.relu(0.5 * h.sum()) + 1.0  # U relu(D h) + b_U, one live unit
    assert torch.allclose(dense(x), expected, atol=1e-5)


def test_parameter_groups_mlm(tiny_bert):
    model = get_method("lora").attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    groups = parameter_groups(model)
    assert (
        groups["base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight"]
        == "module"
    )
    assert groups["base_model.model.bert.embeddings.word_embeddings.weight"] == "backbone"
    assert groups["base_model.model.cls.predictions.transform.dense.weight"] == "head"
    # Tied decoder = embeddings, so freezing the backbone freezes the output projection too.
    decoder = unwrap(model).cls.predictions.decoder.weight
    assert decoder is unwrap(model).bert.embeddings.word_embeddings.weight
    assert not decoder.requires_grad


def test_prompt_labels_logits_and_segments(tiny_bert):
    method = get_method("prompt", num_virtual_tokens=4)
    assert method.virtual_tokens == 4
    labels = torch.tensor([[5, -100, 7]])
    assert method.pad_labels(labels).tolist() == [[-100] * 4 + [5, -100, 7]]
    model = method.attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    batch = _batch(1)
    batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch).logits
        segment_one = model(**batch, token_type_ids=torch.ones_like(batch["input_ids"])).logits
    assert logits.shape[1] == 8 + 4
    assert method.trim_logits(logits).shape[1] == 8
    assert not torch.allclose(logits, segment_one)  # token_type_ids reach the encoder
    assert get_method("lora").pad_labels(labels) is labels


def test_prefix_respects_padding(tiny_roberta):
    model = get_method("prefix", num_virtual_tokens=3).attach(
        AutoModelForMaskedLM.from_pretrained(tiny_roberta)
    )
    batch = _batch(2)
    with torch.no_grad():
        padded = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        short = model(
            input_ids=batch["input_ids"][1:, :6], attention_mask=batch["attention_mask"][1:, :6]
        )
    assert torch.allclose(padded.logits[1, :6], short.logits[0], atol=1e-5)


def test_top_k_indices_by_hand():
    deltas = {"a": torch.tensor([[0.1, -0.9], [0.0, 0.3]]), "b": torch.tensor([0.5, -0.2, 0.05])}
    chosen = top_k_indices(deltas, 3)  # |values|: 0.9 (a[1]), 0.5 (b[0]), 0.3 (a[3])
    assert {k: v.tolist() for k, v in chosen.items()} == {"a": [1, 3], "b": [0]}


def test_sft_density_and_layer_norm(tiny_bert):
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    maskable = maskable_parameters(model, include_layer_norm=False)
    assert not any("LayerNorm" in n for n in maskable)
    assert "embeddings.word_embeddings.weight" in maskable
    method = get_method("sft", density=0.001)
    method.calibrate(model, _mlm_train(method, steps=2))
    model = method.attach(model)
    expected = round(0.001 * sum(p.numel() for p in maskable.values()))
    assert count_parameters(model)[0] == expected
    assert not any("LayerNorm" in n for n in method.module_state_dict(model))


def test_sft_calibration_freezes_the_tied_decoder(tiny_bert):
    """Phase 1 trains the word embeddings from the input side only: rows of tokens that never
    occur get no update, so the selection cannot fall on them, and the tie is restored."""
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    decoder_before = model.get_output_embeddings().weight.detach().clone()
    seen = set()

    def train(m):
        m.train()
        params = [p for p in m.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=1e-2)
        for step in range(3):
            batch = _batch(step)
            seen.update(batch["input_ids"].flatten().tolist())
            m(**batch).loss.backward()
            assert torch.equal(m.get_output_embeddings().weight, decoder_before)
            optimizer.step()
            optimizer.zero_grad()

    method = get_method("sft", density=0.01)
    method.calibrate(model, train)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    hidden = model.config.hidden_size
    rows = set((method._indices.get("embeddings.word_embeddings.weight", torch.tensor([]))
                // hidden).tolist())  # fmt: skip
    assert rows <= seen
    assert len(method._indices) > 1  # the transformer layers get entries too


def test_lora_targets_deberta_v2():
    config = DebertaV2Config(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    model = AutoModelForMaskedLM.from_config(config)
    lora = get_method("lora").attach(model)
    targets = {n.split(".")[-4] for n in module_parameters(lora)}
    assert targets == {"query_proj", "value_proj"}
    adapter = get_method("adapter").attach(AutoModelForMaskedLM.from_config(config))
    assert len(module_parameters(adapter)) == 4  # down/up weight+bias, one layer
    with pytest.raises(ConfigError, match="past_key_values"):
        get_method("prefix").attach(AutoModelForMaskedLM.from_config(config))


def test_unknown_method_and_option():
    with pytest.raises(ConfigError, match=r"unknown debiasing method 'bogus'.*adapter.*full"):
        get_method("bogus")
    with pytest.raises(ConfigError, match=r"unknown option.*rank.*valid options: alpha"):
        get_method("lora", rank=4)
    with pytest.raises(ConfigError, match="density"):
        get_method("sft", density=0)


def test_sft_requires_calibration(tiny_bert):
    with pytest.raises(ConfigError, match="calibrate"):
        get_method("sft").attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))


@pytest.fixture
def lora_folder(tiny_bert, tmp_path) -> Path:
    method = get_method("lora")
    model = method.attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    return method.save(model, tmp_path / "lora")


def test_refuses_other_base_model(lora_folder, tiny_roberta, tmp_path):
    other_bert = save_tiny_model(tmp_path / "other-bert", "bert", seed=1)
    for folder in (tiny_roberta, other_bert):
        model = AutoModelForMaskedLM.from_pretrained(folder)
        with pytest.raises(ConfigError, match="different base model"):
            load_module(model, lora_folder)
        with pytest.raises(ConfigError, match="different base model"):
            check_base_model(model, lora_folder)


def test_save_refuses_overwrite(lora_folder, tiny_bert):
    method = get_method("lora")
    model = method.attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    with pytest.raises(OutputExistsError, match="--overwrite"):
        method.save(model, lora_folder)
    method.save(model, lora_folder, overwrite=True)
    with pytest.raises(ConfigError, match="carries no module"):
        method.save(AutoModelForMaskedLM.from_pretrained(tiny_bert), lora_folder, overwrite=True)


def test_missing_and_corrupt_module(lora_folder, tiny_bert, tmp_path):
    def load(folder):
        return load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)

    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"module\.json not found"):
        load(tmp_path / "empty")

    config = lora_folder / "module.json"
    weights = lora_folder / "adapter_model.safetensors"
    good_config, good_weights = config.read_text(), weights.read_bytes()

    config.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load(lora_folder)
    config.write_text(good_config.replace('"lora"', '"nope"', 1))
    with pytest.raises(ConfigError, match=r"unknown debiasing method 'nope'"):
        load(lora_folder)
    config.write_text(good_config)

    weights.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="unreadable"):
        load(lora_folder)
    weights.unlink()
    with pytest.raises(ConfigError, match=r"adapter_model\.safetensors not found"):
        load(lora_folder)

    weights.write_bytes(good_weights)
    tensors = load_file(str(weights))
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(weights))
    with pytest.raises(ConfigError, match="do not match the module: missing"):
        load(lora_folder)
