"""Light-PEFT (issue 16): early pruning of heads, FFN dimensions and LoRA ranks.

The generic contract (train on tiny BERT and RoBERTa, backbone bit-identical, save/reload with
identical logits, MLM -> classifier transfer) also runs with the defaults in
``test_methods.py::test_train_save_load_transfer``; here: other pruning settings through the
same cycle, the estimation (masks, L1, rank importance) and the plan it gives, pruning equal to
zeroing the pruned units, the whole-model variant (``unprune``), bad options and records, and
the upstream phase.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForMaskedLM, DebertaV2Config

from peftdebias.errors import ConfigError
from peftdebias.methods import METHOD_HELP, METHODS, get_method, load_module, method_of
from peftdebias.methods import lightpeft as lightpeft_module
from peftdebias.methods.base import unwrap
from peftdebias.methods.lightpeft import (
    ATTENTION_OUTPUT,
    FFN_OUT,
    PRUNING_ATTR,
    PrunedView,
    encoder_layers,
    unprune,
)
from test_methods import TINY_FIXTURES, _logits, _mlm_train
from test_methods_new import _cycle, _fixed_batches_train

ALL_LINEARS = ["query", "key", "value", "attention.output.dense", "intermediate.dense",
               "output.dense"]  # fmt: skip


@pytest.fixture(params=["bert", "roberta"])
def tiny(request):
    return request.getfixturevalue(TINY_FIXTURES[request.param])


def _pruned(tiny_path, steps: int = 3, **options):
    """(method, model) after the estimation and attach on a fresh tiny model."""
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_pretrained(tiny_path)
    method = get_method("lightpeft", **options)
    method.calibrate(model, _fixed_batches_train(steps))
    return method, method.attach(model)


def test_registered_with_help():
    assert METHODS[-2:] == ("lightpeft", "full")
    assert METHOD_HELP["lightpeft"]
    method = get_method("lightpeft", estimation_steps=5)
    assert method.requires_calibration and method.calibration_steps == 5


@pytest.mark.parametrize(
    "options",
    [
        {"head_ratio": 0.5, "ffn_ratio": 0.5, "rank_ratio": 0.7, "target_modules": ALL_LINEARS},
        {"head_ratio": 0.0, "ffn_ratio": 0.0},  # LoRA rank pruning only
        {"head_ratio": 0.75, "ffn_ratio": 0.9, "rank_ratio": 0.0, "r": 4, "alpha": 16},
    ],
)
def test_variants_train_save_load(options, tiny, tmp_path):
    """test_methods.py's contract: calibrate leaves the model as it was, only the module
    trains, every backbone tensor stays bit-identical, reload gives identical logits (the
    pruned model), the module transfers to a classifier."""
    method = get_method("lightpeft", estimation_steps=3, **options)
    _cycle(method, tiny, tmp_path)
    record = json.loads((tmp_path / "module" / "module.json").read_text())["backend"]["pruning"]
    assert record["ranks"] == method.plan.ranks and record["heads"] == method.plan.heads
    assert record["pruned"]["ranks_kept"] == sum(map(len, method.plan.ranks.values()))


def test_plan_follows_the_estimate(tiny_bert):
    """Per layer the lowest head masks, over all layers the lowest FFN masks and LoRA rank
    importances; the LoRA continues from its estimation values on the kept ranks, same scale."""
    method, model = _pruned(tiny_bert, head_ratio=0.5, ffn_ratio=0.25, rank_ratio=0.5)
    estimate, plan = method.estimate, method.plan
    for masks, pruned in zip(estimate.head_masks, plan.heads, strict=True):  # 4 heads per layer
        kept_heads = [h for h in range(4) if h not in pruned]
        assert len(pruned) == 2 and masks[pruned].max() <= masks[kept_heads].min()
    ffn = estimate.ffn_masks  # 2 layers x 64: 32 dims in all
    chosen = torch.zeros_like(ffn, dtype=torch.bool)
    for layer, dims in enumerate(plan.ffn_dims):
        chosen[layer, dims] = True
    assert chosen.sum() == 32 and ffn[chosen].max() <= ffn[~chosen].min()
    assert not torch.equal(estimate.head_masks, torch.ones_like(estimate.head_masks))
    scores = torch.cat([estimate.rank_importance[n] for n in plan.ranks])
    kept = torch.cat([torch.tensor([k in plan.ranks[n] for k in range(8)]) for n in plan.ranks])
    assert kept.sum() == 16 and scores[~kept].max() <= scores[kept].min()

    saved = method.module_state_dict(model)
    for name, ranks in plan.ranks.items():
        layer_index = int(name.split(".")[3])
        pruned_rows = [h * 8 + j for h in plan.heads[layer_index] for j in range(8)]
        key = f"base_model.model.{name}.lora_{{}}.weight"
        a, b = estimate.lora[name]
        if not ranks:
            assert key.format("A") not in saved
            continue
        assert torch.equal(saved[key.format("A")], a[ranks])
        expected = b[:, ranks].clone()
        expected[pruned_rows] = 0  # the module has no update on pruned heads
        assert torch.equal(saved[key.format("B")], expected)
        layer = unwrap(model).get_submodule(name)
        assert layer.scaling["default"] == 8 / 8  # alpha / r, whatever r_kept


def test_pruning_is_zeroing_the_pruned_units(tiny):
    """The pruned model computes what the whole model computes with every pruned head's
    context and FFN dimension set to zero (and no LoRA update there)."""
    method, model = _pruned(
        tiny, head_ratio=0.5, ffn_ratio=0.5, rank_ratio=0.3, target_modules=ALL_LINEARS
    )
    views = [m for m in model.modules() if isinstance(m, PrunedView)]
    assert views  # weights, biases of 6 Linears in 2 layers
    pruned_logits = _logits(model)
    plan = method.plan
    unprune(model)
    assert not any(isinstance(m, PrunedView) for m in model.modules())
    handles = []
    for index, layer in enumerate(encoder_layers(model)):
        heads = torch.ones(4)
        heads[plan.heads[index]] = 0
        dims = torch.ones(64)
        dims[plan.ffn_dims[index]] = 0
        for part, mask in ((ATTENTION_OUTPUT, heads.repeat_interleave(8)), (FFN_OUT, dims)):
            hook = lambda module, args, mask=mask: (args[0] * mask,)  # noqa: E731
            handles.append(layer.get_submodule(part).register_forward_pre_hook(hook))
    assert torch.allclose(_logits(model), pruned_logits, atol=1e-5)
    for handle in handles:
        handle.remove()
    assert not torch.allclose(_logits(model), pruned_logits, atol=1e-3)


def test_pruned_shapes_and_backbone(tiny_bert):
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    method = get_method("lightpeft", head_ratio=0.25, ffn_ratio=0.5, rank_ratio=0.0)
    method.calibrate(model, _fixed_batches_train(3))
    model = method.attach(model)
    layer = encoder_layers(model)[0]
    query = layer.attention.self.query.base_layer  # LoRA target
    kept = [h for h in range(4) if h not in method.plan.heads[0]]
    rows = torch.tensor([h * 8 + j for h in kept for j in range(8)])
    assert query.weight.shape == (24, 32) and query.bias.shape == (24,)
    assert torch.equal(
        query.weight, original["bert.encoder.layer.0.attention.self.query.weight"][rows]
    )
    assert layer.attention.output.dense.weight.shape == (32, 24)
    width = 64 - len(method.plan.ffn_dims[0])
    assert layer.intermediate.dense.weight.shape[0] == layer.output.dense.weight.shape[1] == width
    full = query.parametrizations.weight.original
    assert full.shape == (32, 32) and not full.requires_grad
    record = getattr(unwrap(model), PRUNING_ATTR)["pruned"]
    assert record["heads"] == 0.25 and record["ffn_dims"] == 0.5
    per_layer = 3 * 8 * 33 + 8 * 32  # a head: 8 rows of q, k, v (+ bias), 8 output columns
    assert record["backbone_parameters"] == 2 * per_layer + 64 * (32 + 1 + 32)


def test_masks_l1_only(tiny_bert):
    """Without a task gradient only the L1 term moves the masks: all by the same amount, down."""
    method = get_method("lightpeft", l1=1.0, rank_ratio=0.0)

    def train(model):
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=1e-6)
        for step in range(2):
            (model(**_batch_without_labels(step)).logits.sum() * 0.0).backward()
            optimizer.step()
            optimizer.zero_grad()

    method.calibrate(AutoModelForMaskedLM.from_pretrained(tiny_bert), train)
    # SGD: theta -= lr * l1 * s per step, so m = 1 - 2 lr l1 s^2 after two steps
    heads, ffn = method.estimate.head_masks, method.estimate.ffn_masks
    assert torch.allclose(heads, torch.full_like(heads, 1 - 2e-6 * 100**2), atol=1e-6)
    assert torch.allclose(ffn, torch.full_like(ffn, 1 - 2e-6 * 50**2), atol=1e-6)


def _batch_without_labels(seed: int) -> dict[str, torch.Tensor]:
    from test_methods import _batch

    batch = _batch(seed)
    batch.pop("labels")
    return batch


def test_unprune_gives_the_whole_model_with_the_same_module(tiny_bert, tmp_path):
    method, model = _pruned(tiny_bert)
    _mlm_train(method)(model)
    folder = method.save(model, tmp_path / "pruned")
    loaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)
    assert torch.allclose(_logits(loaded), _logits(model), atol=1e-6)
    whole = unprune(loaded)
    assert encoder_layers(whole)[0].intermediate.dense.weight.shape == (64, 32)
    assert not torch.allclose(_logits(whole), _logits(model), atol=1e-4)
    again = method_of(folder).save(whole, tmp_path / "unpruned")
    assert (again / "adapter_model.safetensors").read_bytes() == (
        folder / "adapter_model.safetensors"
    ).read_bytes()
    records = [json.loads((f / "module.json").read_text())["backend"] for f in (folder, again)]
    assert records[0] == records[1]


def test_bad_options_and_records(tiny_bert, tmp_path):
    for options, message in [
        ({"head_ratio": 1.0}, "head_ratio must lie in"),
        ({"ffn_ratio": -0.1}, "ffn_ratio must lie in"),
        ({"rank_ratio": 1.5}, "rank_ratio must lie in"),
        ({"estimation_steps": 0}, "estimation_steps must be"),
        ({"l1": -1.0}, "l1 must be"),
        ({"mask_lr": 1.0}, "unknown option"),
    ]:
        with pytest.raises(ConfigError, match=message):
            get_method("lightpeft", **options)
    with pytest.raises(ConfigError, match="calibrate"):
        get_method("lightpeft").attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    with pytest.raises(ConfigError, match="no backward pass"):
        get_method("lightpeft").calibrate(
            AutoModelForMaskedLM.from_pretrained(tiny_bert), lambda model: None
        )
    deberta = DebertaV2Config(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="BERT-style"):
        get_method("lightpeft").calibrate(
            AutoModelForMaskedLM.from_config(deberta), lambda model: None
        )

    method, model = _pruned(tiny_bert)
    folder = method.save(model, tmp_path / "module")
    path = folder / "module.json"
    record = json.loads(path.read_text())
    for pruning, message in [
        (None, "no valid Light-PEFT pruning record"),
        ({**record["backend"]["pruning"], "heads": [[0, 1, 2, 3], []]}, "at least one"),
        ({**record["backend"]["pruning"], "ffn_dims": [[64], []]}, "invalid pruned FFN"),
        ({**record["backend"]["pruning"], "heads": [[0]]}, "another depth"),
        ({**record["backend"]["pruning"], "heads": "all"}, "malformed"),
    ]:
        path.write_text(
            json.dumps({**record, "backend": {**record["backend"], "pruning": pruning}})
        )
        with pytest.raises(ConfigError, match=message):
            load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)


def test_upstream_phase(tiny_bert, tmp_path, monkeypatch):
    from peftdebias.upstream import train_upstream
    from test_upstream import SENTENCES, _config

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 6) + "\n")
    passes = []
    original = lightpeft_module.RankImportance.scores

    def spy(self):
        passes.append(min(len(a) for a, _ in self.steps.values()))
        return original(self)

    monkeypatch.setattr(lightpeft_module.RankImportance, "scores", spy)
    config = _config(
        tiny_bert, corpus, tmp_path / "out", "lightpeft", method_options={"estimation_steps": 3}
    )
    result = train_upstream(config)
    assert passes == [3]  # the estimation steps, not the preset's calibration run
    meta = json.loads((result.output / "debias.json").read_text())
    assert meta["method"] == "lightpeft" and meta["trainable_parameters"] > 0
    pruning = json.loads((result.output / "module.json").read_text())["backend"]["pruning"]
    assert pruning["pruned"]["heads"] == 0.25  # round(4 / 3) = 1 of 4 heads per layer
    base = _logits(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    loaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), result.output)
    assert any(isinstance(m, PrunedView) for m in loaded.modules())
    assert not torch.allclose(_logits(loaded), base)
