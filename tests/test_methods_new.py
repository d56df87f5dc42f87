"""The methods of issue 16: ETHER, ETHER+, BoRA, Spectral Adapter, GPS, SPT.

The generic contract (train on tiny BERT and RoBERTa, backbone bit-identical, save/reload with
identical logits, MLM -> classifier transfer) runs for every name in METHODS, these included,
in ``test_methods.py::test_train_save_load_transfer``; here: the same cycle for the non-default
variants, each method's formula against a by-hand computation, parameter counts, GPS/SPT
selection, and the upstream phase with the gradient-only calibration.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForMaskedLM

from peftdebias.errors import ConfigError
from peftdebias.methods import (
    METHOD_HELP,
    METHODS,
    count_parameters,
    get_method,
    load_module,
    method_of,
    module_parameters,
    parameter_groups,
    selection_overlap,
)
from peftdebias.methods import sparse as sparse_module
from peftdebias.methods.bora import BiDimensionalDecomposition
from peftdebias.methods.ether import EtherPlusTransform, EtherReflection
from peftdebias.methods.sparse import linear_weights, maskable_parameters, per_row_top_k
from peftdebias.methods.spectral import SpectralAdapter, cayley
from peftdebias.methods.spt import allocate
from test_methods import TINY_FIXTURES, _batch, _check_transfer, _logits, _mlm_train

NEW_METHODS = ("ether", "ether+", "bora", "spectral", "gps", "spt")


@pytest.fixture(params=["bert", "roberta"])
def tiny(request):
    return request.getfixturevalue(TINY_FIXTURES[request.param])


def test_registered_with_help():
    assert set(NEW_METHODS) <= set(METHODS)
    assert METHODS[-1] == "full"
    for name in NEW_METHODS:
        assert METHOD_HELP[name]
        assert get_method(name).name == name


def _cycle(method, tiny, tmp_path):
    """test_methods.py's contract for a configured method: calibrate, attach, train (module
    moves, everything else bit-identical), save, reload (same logits), transfer."""
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_pretrained(tiny)
    pretrained = {id(p): p.detach().clone() for p in model.parameters()}
    train = _mlm_train(method)
    method.calibrate(model, train)
    assert all(torch.equal(p, pretrained[id(p)]) for p in model.parameters())
    model = method.attach(model)
    trainable, total, _ = count_parameters(model)
    module = module_parameters(model)
    assert 0 < trainable == sum(p.numel() for p in module.values()) < total
    before = {k: v.clone() for k, v in method.module_state_dict(model).items()}
    train(model)
    after = method.module_state_dict(model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    groups = parameter_groups(model)
    others = {n: p for n, p in model.named_parameters() if groups[n] != "module"}
    assert {id(p) for p in others.values()} == set(pretrained)
    assert all(torch.equal(p, pretrained[id(p)]) for p in others.values())
    logits = _logits(model)
    folder = method.save(model, tmp_path / "module")
    assert method_of(folder).config == method.config
    loaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny), folder)
    assert torch.allclose(_logits(loaded), logits, atol=1e-6)
    assert count_parameters(loaded)[0] == 0
    _check_transfer(method.name, tiny, folder, method)
    return trainable


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [  # trainable parameters on tiny BERT/RoBERTa: 2 layers, query + value 32 x 32
        ("ether", {"n_blocks": 4}, 4 * 32),
        ("ether+", {"n_blocks": 2, "two_sided": True}, 4 * 4 * 32),
        ("spectral", {"variant": "rotational", "r": 4}, 4 * 2 * 6),
        ("bora", {"r": 2}, 4 * (2 * 64 + 64)),
        ("gps", {"k": 2, "calibration_batches": 2, "target_modules": ["query", "dense"]}, None),
        ("spt", {"budget": 0.05}, None),
    ],
)
def test_variants_train_save_load(name, options, expected, tiny, tmp_path):
    trainable = _cycle(get_method(name, **options), tiny, tmp_path)
    if expected is not None:
        assert trainable == expected


def test_default_parameter_counts(tiny_bert):
    """count_parameters after attach, by hand (2 layers; q, v: 32 x 32; FFN 32 <-> 64)."""
    expected = {
        "ether": 4 * 32,
        "ether+": 4 * 64,
        "bora": 4 * (8 * 64 + 64),
        "spectral": 4 * 8 * 64,
    }
    for name, count in expected.items():
        model = get_method(name).attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
        assert count_parameters(model)[0] == count, name
    method = get_method("gps")
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    method.calibrate(model, _mlm_train(method, steps=2))
    rows = 2 * (4 * 32 + 64 + 32)  # output units of every Linear of the encoder
    assert count_parameters(method.attach(model))[0] == 4 * rows


def test_identity_at_start(tiny_bert):
    """ETHER+, BoRA and the Spectral Adapter start at W; ETHER starts at a reflection."""
    base = _logits(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    for name, options in [
        ("ether+", {}),
        ("ether+", {"two_sided": True}),
        ("bora", {}),
        ("spectral", {}),
        ("spectral", {"variant": "rotational"}),
    ]:
        model = get_method(name, **options).attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
        assert torch.allclose(_logits(model), base, atol=1e-5), (name, options)
    model = get_method("ether").attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    assert not torch.allclose(_logits(model), base, atol=1e-3)


# -- formulas ---------------------------------------------------------------------------------


def _householder(u: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    return torch.eye(len(u), dtype=u.dtype) - scale * torch.outer(u, u) / u.dot(u)


def test_ether_formula():
    torch.manual_seed(0)
    weight = torch.randn(6, 8, dtype=torch.float64)
    ether = EtherReflection(weight, n_blocks=2)
    h = torch.block_diag(*[_householder(u) for u in ether.reparam_u.detach()])
    assert torch.allclose(ether(weight), weight @ h)
    for u in ether.reparam_u.detach():  # an orthogonal reflection at distance 2 from I
        reflection = _householder(u)
        assert torch.allclose(reflection @ reflection.T, torch.eye(4, dtype=torch.float64))
        assert torch.isclose(
            torch.linalg.norm(reflection - torch.eye(4)), torch.tensor(2.0).double()
        )


def test_ether_plus_formula():
    torch.manual_seed(0)
    weight = torch.randn(6, 8, dtype=torch.float64)
    plus = EtherPlusTransform(weight, n_blocks=2, two_sided=True)
    assert torch.allclose(plus(weight), weight)  # v = -u: H+ = I at the start
    with torch.no_grad():
        for p in (plus.reparam_u, plus.reparam_v, plus.reparam_u_out, plus.reparam_v_out):
            p.copy_(torch.randn_like(p))

    def h_plus(us, vs):
        return torch.block_diag(
            *[
                _householder(u, 1.0) + torch.outer(v, v) / v.dot(v)
                for u, v in zip(us, vs, strict=True)
            ]
        )

    right = h_plus(plus.reparam_u.detach(), plus.reparam_v.detach())
    left = h_plus(plus.reparam_u_out.detach(), plus.reparam_v_out.detach())
    assert torch.allclose(plus(weight), left @ weight @ right)
    plus.two_sided = False
    assert torch.allclose(plus(weight), weight @ right)


def test_bora_formula():
    torch.manual_seed(0)
    weight = torch.randn(5, 7, dtype=torch.float64)
    bora = BiDimensionalDecomposition(weight, r=2, alpha=4)
    assert torch.allclose(bora(weight), weight)
    with torch.no_grad():
        for p in bora.parameters():
            p.copy_(torch.rand_like(p) + 0.5)
    m_out, m_in = bora.reparam_magnitude_out.detach(), bora.reparam_magnitude_in.detach()
    v = weight + 2.0 * bora.lora.reparam_lora_B.detach() @ bora.lora.reparam_lora_A.detach()
    v1 = torch.diag(m_out / v.norm(dim=1)) @ v  # DoRA: one magnitude per output unit
    expected = v1 @ torch.diag(m_in / v1.norm(dim=0))  # then one per input feature
    out = bora(weight)
    assert torch.allclose(out, expected)
    assert torch.allclose(out.norm(dim=0), m_in)


def test_spectral_formulas():
    torch.manual_seed(0)
    weight = torch.randn(6, 5, dtype=torch.float64)
    s = torch.linalg.svdvals(weight)
    additive = SpectralAdapter(weight, r=2, variant="additive", fresh=True)
    assert torch.equal(additive(weight), weight)
    assert torch.allclose(additive.spectral_s, s[:2])
    with torch.no_grad():
        additive.reparam_delta_u.normal_()
        additive.reparam_delta_v.normal_()
    u_r, v_r = additive.spectral_u, additive.spectral_v
    top = (u_r + additive.reparam_delta_u) @ torch.diag(s[:2]) @ (v_r + additive.reparam_delta_v).T
    rest = weight - u_r @ torch.diag(s[:2]) @ v_r.T
    assert torch.allclose(additive(weight), top.detach() + rest)

    rotational = SpectralAdapter(weight, r=3, variant="rotational", fresh=True)
    assert torch.allclose(rotational(weight), weight, atol=1e-12)
    with torch.no_grad():
        rotational.reparam_rotation_u.normal_()
        rotational.reparam_rotation_v.normal_()
    rotation = cayley(rotational.reparam_rotation_u.detach(), 3)
    assert torch.allclose(rotation @ rotation.T, torch.eye(3, dtype=torch.float64))
    out = rotational(weight).detach()
    assert torch.allclose(torch.linalg.svdvals(out), s)  # rotations keep the spectrum
    assert not torch.allclose(out, weight)


def test_bad_options(tiny_bert):
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    with pytest.raises(ConfigError, match="variant"):
        get_method("spectral", variant="twisted")
    with pytest.raises(ConfigError, match="r must be at least 2"):
        get_method("spectral", variant="rotational", r=1)
    with pytest.raises(ConfigError, match="exceeds the rank"):
        get_method("spectral", r=64).attach(model)
    with pytest.raises(ConfigError, match="does not divide"):
        get_method("ether", n_blocks=3).attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    with pytest.raises(ConfigError, match="no Linear layer matching"):
        get_method("bora", target_modules=["nowhere"]).attach(model)
    with pytest.raises(ConfigError, match="budget"):
        get_method("spt", budget=0)
    with pytest.raises(ConfigError, match="k must be"):
        get_method("gps", k=0)
    with pytest.raises(ConfigError, match="calibrate"):
        get_method("spt").attach(model)
    with pytest.raises(ConfigError, match="already carries"):
        method = get_method("bora")
        method.attach(method.attach(AutoModelForMaskedLM.from_pretrained(tiny_bert)))


# -- GPS and SPT: gradient-only selection ---------------------------------------------------


def test_per_row_top_k_by_hand():
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3]])
    assert per_row_top_k(scores, 2).tolist() == [1, 2, 3, 5]  # row 0: cols 1, 2; row 1: 0, 2
    with pytest.raises(ConfigError, match="k must be"):
        per_row_top_k(scores, 4)


def _fixed_batches_train(steps: int):
    """A train_fn on fixed batches without dropout (so gradients are reproducible)."""

    def train(model):
        model.eval()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-2)
        for step in range(steps):
            model(**_batch(step)).loss.backward()
            optimizer.step()
            optimizer.zero_grad()

    return train


def test_gps_selects_top_k_of_the_gradient_at_the_pretrained_weights(tiny_bert):
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    weights = linear_weights(model)
    expected = {n: torch.zeros_like(w) for n, w in weights.items()}
    for step in range(3):  # the sum of the three batches' gradients, weights never moved
        model.zero_grad()
        model(**_batch(step)).loss.backward()
        for n, w in weights.items():
            expected[n] += w.grad
    model.zero_grad()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    method = get_method("gps", k=3)
    assert method.calibration_steps == 32
    method.calibrate(model, _fixed_batches_train(3))
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert set(method._indices) == set(weights)
    for name, grad in expected.items():
        assert torch.equal(method._indices[name], per_row_top_k(grad.abs(), 3)), name


def test_gradient_calibration_needs_a_backward_pass(tiny_bert):
    with pytest.raises(ConfigError, match="no backward pass"):
        get_method("gps").calibrate(AutoModelForMaskedLM.from_pretrained(tiny_bert), lambda m: None)


def test_selection_overlap():
    a = {"x": torch.tensor([0, 1, 2]), "y": torch.tensor([5])}
    b = {"x": torch.tensor([1, 2, 3]), "z": torch.tensor([0])}
    assert selection_overlap(a, b) == pytest.approx(2 / 6)  # {x1, x2} of {x0..x3, y5, z0}
    assert selection_overlap(a, b, within=["x"]) == pytest.approx(2 / 4)
    assert selection_overlap(a, a) == 1.0
    assert selection_overlap({}, {}) == 1.0


def test_gps_overlap_with_lt_sft(tiny_bert):
    """The helper on real selections: GPS (4 per neuron) vs LT-SFT with the same count."""
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    gps = get_method("gps")
    gps.calibrate(model, _fixed_batches_train(3))
    selected = sum(len(v) for v in gps._indices.values())
    maskable = sum(p.numel() for p in maskable_parameters(model, False).values())
    sft = get_method("sft", density=selected / maskable)
    sft.calibrate(model, _fixed_batches_train(3))
    overlap = selection_overlap(gps._indices, sft._indices)
    within = selection_overlap(gps._indices, sft._indices, within=gps._indices)
    assert 0.0 <= overlap <= within <= 1.0
    assert selection_overlap(gps._indices, gps._indices) == 1.0


def test_spt_allocation_by_hand():
    # r = 1, alpha = 2: a 4 x 4 weight goes to LoRA (8 parameters) from 4 sensitive entries.
    hot = torch.zeros(4, 4)
    hot[0] = torch.tensor([9.0, 8.0, 7.0, 6.0])
    cold = torch.zeros(4, 4)
    cold[1, 2] = 5.0
    cold[3, 0] = 4.0
    plan = allocate({"hot": hot, "cold": cold}, budget=10, r=1, alpha=2.0)
    assert plan.structured == ["hot"]
    assert {k: v.tolist() for k, v in plan.unstructured.items()} == {"cold": [6, 12]}
    assert plan.tau == 6 and plan.trainable == 8 + 2
    # a small budget stays unstructured: 3 entries of "hot" are below its threshold of 4
    small = allocate({"hot": hot, "cold": cold}, budget=3, r=1, alpha=2.0)
    assert small.structured == [] and small.trainable == 3
    assert small.unstructured["hot"].tolist() == [0, 1, 2]


def test_spt_mixes_lora_and_sparse(tiny_bert, tmp_path):
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    method = get_method("spt", budget=0.05, r=2, alpha=20.0, calibration_batches=3)
    assert method.calibration_steps == 3
    method.calibrate(model, _fixed_batches_train(3))
    plan = method.allocation
    assert plan.structured and plan.unstructured
    budget = round(0.05 * sum(w.numel() for w in linear_weights(model).values()))
    assert abs(plan.trainable - budget) <= 0.25 * budget
    model = method.attach(model)
    assert count_parameters(model)[0] == plan.trainable
    saved = method.module_state_dict(model)
    for name in plan.structured:
        assert saved[f"{name}.reparam_lora_A"].shape[0] == 2
    for name, indices in plan.unstructured.items():
        assert torch.equal(saved[f"{name}.indices"], indices)


# -- the upstream phase with the gradient-only calibration -----------------------------------


@pytest.mark.parametrize("name", ["gps", "spt"])
def test_upstream_gradient_calibration(name, tiny_bert, tmp_path, monkeypatch):
    from peftdebias.upstream import train_upstream
    from test_upstream import SENTENCES, _config

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 6) + "\n")
    passes = []
    original = sparse_module.accumulate_gradients

    def spy(*args, **kwargs):
        sums, count = original(*args, **kwargs)
        passes.append(count)
        return sums, count

    monkeypatch.setattr(f"peftdebias.methods.{'sparse' if name == 'gps' else 'spt'}"
                        ".accumulate_gradients", spy)  # fmt: skip
    config = _config(
        tiny_bert, corpus, tmp_path / "out", name, method_options={"calibration_batches": 3}
    )
    result = train_upstream(config)
    assert passes == [3]  # the method's batch count, not the preset's calibration run
    meta = json.loads((result.output / "debias.json").read_text())
    assert meta["method"] == name and meta["trainable_parameters"] > 0
    base = _logits(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    loaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), result.output)
    assert not torch.allclose(_logits(loaded), base)


DDP_SCRIPT = """
import sys
import torch
import torch.distributed as dist
from transformers import AutoModelForMaskedLM

sys.path.insert(0, sys.argv[2])
from test_methods import _batch
from peftdebias.methods import get_method
from peftdebias.methods.sparse import linear_weights, per_row_top_k

dist.init_process_group("gloo")
rank = dist.get_rank()
model = AutoModelForMaskedLM.from_pretrained(sys.argv[1])
weights = linear_weights(model)
expected = {n: torch.zeros_like(w) for n, w in weights.items()}
for step in range(3):
    model.zero_grad()
    model(**_batch(10 * rank + step)).loss.backward()
    for n, w in weights.items():
        expected[n] += w.grad
model.zero_grad()
for tensor in expected.values():
    dist.all_reduce(tensor)


def train(m):
    ddp = torch.nn.parallel.DistributedDataParallel(m)
    optimizer = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-1)
    for step in range(3):
        ddp(**_batch(10 * rank + step)).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


gps = get_method("gps", k=3)
gps.calibrate(model, train)
for name, grad in expected.items():
    assert torch.equal(gps._indices[name], per_row_top_k(grad.abs(), 3)), name
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_gps_under_distributed_data_parallel(tiny_bert, tmp_path):
    """Two gloo processes, DDP: DDP writes the all-reduced gradients back after the hook, and
    the optimizer pre-hook must still keep every step a no-op; both processes select the top-k
    of the gradient summed over all their batches at the pretrained weights."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "ddp_gps.py"
    script.write_text(DDP_SCRIPT)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port),
        str(script), str(tiny_bert), str(Path(__file__).parent),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
