"""Sparse fine-tuning: LT-SFT (Ansell et al., 2022, arXiv 2110.07560) and GPS (Zhang et al.,
CVPR 2024, arXiv 2312.10136). Both train a fixed sparse set of backbone entries; they differ in
how the set is picked.

LT-SFT (``sft``):

1. :meth:`SftMethod.calibrate`: fine-tune the whole backbone with the upstream objective
   (``train_fn``), keep the ``density`` fraction of backbone entries with the largest
   |theta_trained - theta_0| (one global top-k), and reset every parameter to theta_0. An
   output projection tied to the input embeddings is untied and frozen for this phase (the
   reference's ``--freeze_decoder``): otherwise every vocabulary row gets a gradient through
   the softmax at every step, Adam moves them all, the top-k lands entirely in the word
   embeddings, and the phase-2 difference (input side only) barely changes the model.
2. :meth:`~peftdebias.methods.base.DebiasMethod.attach`: each selected tensor W is
   re-parametrised as W_0 + scatter(idx, v) (``torch.nn.utils.parametrize``) with W_0 frozen and
   only the k values v trainable, so unselected entries stay bit-identical.

GPS (``gps``): :meth:`GpsMethod.calibrate` runs ``train_fn`` as a gradient-only pass (no
weight moves; :func:`accumulate_gradients`) over a few batches of the upstream objective,
G = |sum_batches dL/dW| at the pretrained W, and keeps, for every output neuron (row i of every
target ``Linear`` weight W, d_out x d_in), the ``k`` inputs j with the largest G_ij. Training
then goes through the same sparse difference as LT-SFT. :func:`selection_overlap` compares two
selections (Jaccard).

The module stored on disk is the sparse difference: ``<name>.indices`` (flat int64 positions)
and ``<name>.values`` per tensor, names relative to the backbone, so it transfers between heads.
Layer-norm parameters are excluded by default, as in the reference (``--freeze_layer_norm``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.utils import parametrize
from torch.optim.optimizer import register_optimizer_step_pre_hook
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import (
    MODULE_WEIGHTS,
    DebiasMethod,
    MethodConfig,
    TrainFn,
    backbone,
    check_keys,
    read_weights,
    register_method,
)
from .reparam import Reparametrization


class SparseDelta(Reparametrization):
    """Parametrisation W -> W + scatter(indices, sparse_delta) over the flattened W."""

    def __init__(self, indices: torch.Tensor, dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("indices", indices)
        self.sparse_delta = nn.Parameter(
            torch.zeros(len(indices), dtype=dtype, device=indices.device)
        )

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.flatten().index_add(0, self.indices, self.sparse_delta).view_as(weight)


def maskable_parameters(
    model: PreTrainedModel, include_layer_norm: bool
) -> dict[str, nn.Parameter]:
    """Backbone parameters eligible for sparse fine-tuning, by name relative to the backbone."""
    encoder = backbone(model)
    norms = {
        f"{name}.{pname}" if name else pname
        for name, module in encoder.named_modules()
        if isinstance(module, nn.LayerNorm)
        for pname, _ in module.named_parameters(recurse=False)
    }
    return {n: p for n, p in encoder.named_parameters() if include_layer_norm or n not in norms}


def top_k_indices(deltas: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Flat positions of the ``k`` largest |delta| entries over all tensors, per tensor."""
    flat = torch.cat([d.abs().flatten() for d in deltas.values()])
    chosen = torch.topk(flat, k, sorted=False).indices.sort().values
    result, offset = {}, 0
    for name, delta in deltas.items():
        end = offset + delta.numel()
        mine = chosen[(chosen >= offset) & (chosen < end)] - offset
        if len(mine):
            result[name] = mine
        offset = end
    return result


@dataclasses.dataclass
class SftSettings(MethodConfig):
    """LT-SFT: train the ``density`` fraction (reference: 1%) of backbone entries."""

    density: float = 0.01
    include_layer_norm: bool = False


class SparseMethod(DebiasMethod):
    """A fixed sparse difference on backbone tensors, W = W_0 + scatter(idx, v), v trainable.

    Subclasses pick ``self._indices`` (flat positions per backbone-relative tensor name) in
    :meth:`calibrate`; attaching, saving and loading are shared.
    """

    requires_calibration = True

    def __init__(self, config: MethodConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._indices: dict[str, torch.Tensor] | None = None

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        if self._indices is None:
            raise ConfigError(
                f"method '{self.name}' needs calibrate(model, train_fn) before attach(), "
                "or a saved module to load"
            )
        encoder = backbone(model)
        for name, indices in self._indices.items():
            owner, _, attr = name.rpartition(".")
            module = encoder.get_submodule(owner)
            weight = getattr(module, attr)
            indices = indices.to(weight.device)
            parametrize.register_parametrization(module, attr, SparseDelta(indices, weight.dtype))
        return model

    def _deltas(self, model: nn.Module) -> dict[str, SparseDelta]:
        found = {}
        for owner, module in backbone(model).named_modules():
            if parametrize.is_parametrized(module):
                for attr, chain in module.parametrizations.items():
                    delta = [p for p in chain if isinstance(p, SparseDelta)]
                    if delta:
                        found[f"{owner}.{attr}" if owner else attr] = delta[0]
        return found

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        tensors = {}
        for name, delta in self._deltas(model).items():
            tensors[f"{name}.indices"] = delta.indices
            tensors[f"{name}.values"] = delta.sparse_delta
        return tensors

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        path = folder / MODULE_WEIGHTS
        tensors = read_weights(folder)
        names = {k.rsplit(".", 1)[0] for k in tensors}
        check_keys({f"{n}.{s}" for n in names for s in ("indices", "values")}, set(tensors), path)
        params = dict(backbone(model).named_parameters())
        for name in names:
            indices = tensors[f"{name}.indices"]
            if name not in params:
                raise ConfigError(f"module weights {path}: the model has no parameter {name}")
            if indices.dtype != torch.int64 or len(indices) != len(tensors[f"{name}.values"]):
                raise ConfigError(f"module weights {path}: malformed indices/values for {name}")
            if len(indices) and (indices.min() < 0 or indices.max() >= params[name].numel()):
                raise ConfigError(f"module weights {path}: indices of {name} out of range")
        self._indices = {n: tensors[f"{n}.indices"] for n in names}
        model = self._attach(model)
        with torch.no_grad():
            for name, delta in self._deltas(model).items():
                delta.sparse_delta.copy_(tensors[f"{name}.values"])
        return model


@register_method
class SftMethod(SparseMethod):
    name = "sft"
    display_name = "SFT"
    help = "LT-SFT: 1 percent of the backbone entries, picked by a full training phase"
    order = 50
    config_class = SftSettings
    requires_calibration = True

    def __init__(self, config: SftSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if not 0.0 < self.config.density <= 1.0:
            raise ConfigError(f"sft: density must be in (0, 1], got {self.config.density}")

    def calibrate(self, model: PreTrainedModel, train_fn: TrainFn) -> None:
        """Phase 1: full fine-tuning of the maskable backbone, top-k selection, reset."""
        params = dict(model.named_parameters())
        flags = {n: p.requires_grad for n, p in params.items()}
        initial = {n: p.detach().clone() for n, p in params.items()}
        maskable = maskable_parameters(model, self.config.include_layer_norm)
        encoder_ids = {id(p) for p in backbone(model).parameters()}
        for p in params.values():
            if id(p) in encoder_ids:
                p.requires_grad_(False)
        for p in maskable.values():
            p.requires_grad_(True)
        output, tied = model.get_output_embeddings(), None
        if output is not None and output.weight is model.get_input_embeddings().weight:
            tied = output.weight
            output.weight = nn.Parameter(tied.detach().clone(), requires_grad=False)
        try:
            train_fn(model)
            start = {id(p): initial[n] for n, p in params.items()}
            deltas = {n: p.detach() - start[id(p)] for n, p in maskable.items()}
            total = sum(d.numel() for d in deltas.values())
            self._indices = top_k_indices(deltas, max(1, round(self.config.density * total)))
        finally:
            if tied is not None:
                output.weight = tied
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(initial[n])
                    p.requires_grad_(flags[n])


# -- gradient-only calibration (GPS, SPT) ----------------------------------------------------


def linear_weights(
    model: PreTrainedModel, target_modules: Iterable[str] | None = None
) -> dict[str, nn.Parameter]:
    """Weights of the encoder's ``nn.Linear`` layers, by name relative to the backbone.

    ``target_modules=None`` takes every Linear of the encoder (attention query/key/value/output
    and both feed-forward projections; no embedding, no task head); otherwise a layer is taken
    when its name equals an entry or ends with ``"." + entry`` (peft's matching rule).
    """
    targets = None if target_modules is None else list(target_modules)
    found = {}
    for name, module in backbone(model).named_modules():
        if not isinstance(module, nn.Linear):
            continue
        if targets is None or any(name == t or name.endswith(f".{t}") for t in targets):
            found[f"{name}.weight"] = module.weight
    if not found:
        raise ConfigError(
            f"no Linear layer of {type(model).__name__} matches target_modules {targets}"
        )
    return found


@contextlib.contextmanager
def _only_trainable(model: PreTrainedModel, params: dict[str, nn.Parameter]) -> Iterator[None]:
    """Inside, only ``params`` require grad; on exit their values are restored (gradients
    dropped) and every parameter's ``requires_grad`` flag is as before."""
    all_params = dict(model.named_parameters())
    flags = {n: p.requires_grad for n, p in all_params.items()}
    initial = {n: p.detach().clone() for n, p in params.items()}
    for p in all_params.values():
        p.requires_grad_(False)
    try:
        for p in params.values():
            p.requires_grad_(True)
        yield
    finally:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(initial[name])
                p.grad = None
        for name, p in all_params.items():
            p.requires_grad_(flags[name])


def accumulate_gradients(
    model: PreTrainedModel,
    params: dict[str, nn.Parameter],
    train_fn: TrainFn,
    reduce: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[dict[str, torch.Tensor], int]:
    """Run ``train_fn(model)`` as a gradient-only pass over ``params``; nothing is updated.

    Only ``params`` require grad during the pass. A post-accumulate-grad hook adds
    ``reduce(grad)`` of every backward pass to a per-tensor sum and then drops the gradient,
    and a global optimizer step pre-hook drops any gradient of ``params`` that reappears
    before a step (DistributedDataParallel writes its all-reduced gradients back), so the
    optimizer inside ``train_fn`` finds no gradient and every step is a no-op: each batch's
    gradient is taken at the pretrained weights. The weights are copied back afterwards all the
    same, and the ``requires_grad`` flags restored. Under ``torch.distributed`` the sums are
    all-reduced, so every process selects the same entries.

    Returns the sums (float32, on the weights' device) and the number of backward passes.
    """
    sums = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    calls = dict.fromkeys(params, 0)

    def hook_for(name: str):
        def hook(param: torch.Tensor) -> None:
            if param.grad is not None:
                sums[name] += reduce(param.grad.detach().float())
                calls[name] += 1
                param.grad = None

        return hook

    def drop_gradients(optimizer, args, kwargs) -> None:
        for p in params.values():
            p.grad = None

    with _only_trainable(model, params):
        handles = [register_optimizer_step_pre_hook(drop_gradients)]
        handles += [p.register_post_accumulate_grad_hook(hook_for(n)) for n, p in params.items()]
        try:
            train_fn(model)
        finally:
            for handle in handles:
                handle.remove()
    passes = max(calls.values(), default=0)
    if passes == 0:
        raise ConfigError("gradient calibration: train_fn ran no backward pass (0 steps?)")
    if dist.is_available() and dist.is_initialized():
        for tensor in sums.values():
            dist.all_reduce(tensor)
    return sums, passes


def per_row_top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Sorted flat positions of the ``k`` largest entries of every row of a 2-D ``scores``."""
    rows, cols = scores.shape
    if not 0 < k <= cols:
        raise ConfigError(f"gps: k must be in [1, {cols}] (the layer's inputs), got {k}")
    columns = torch.topk(scores, k, dim=1, sorted=False).indices
    offsets = torch.arange(rows, device=scores.device).unsqueeze(1) * cols
    return (columns + offsets).flatten().sort().values


def selection_overlap(
    first: dict[str, torch.Tensor],
    second: dict[str, torch.Tensor],
    within: Iterable[str] | None = None,
) -> float:
    """Jaccard overlap |A ∩ B| / |A ∪ B| of two sparse selections.

    A selection maps a tensor name (relative to the backbone) to flat positions, as
    ``SparseMethod._indices`` (LT-SFT, GPS). ``within`` restricts both to those tensors (e.g.
    the Linear weights GPS chooses from, where LT-SFT also selects embedding entries).
    """
    names = set(first) | set(second)
    if within is not None:
        names &= set(within)
    empty = torch.empty(0, dtype=torch.int64)
    shared = union = 0
    for name in names:
        a = first.get(name, empty).unique().cpu()
        b = second.get(name, empty).unique().cpu()
        common = int(torch.isin(a, b).sum())
        shared += common
        union += len(a) + len(b) - common
    return shared / union if union else 1.0


@dataclasses.dataclass
class GpsSettings(MethodConfig):
    """GPS: for each output neuron of each target Linear weight, train the ``k`` input weights
    with the largest accumulated |gradient| of the upstream loss over ``calibration_batches``
    batches (gradient-only pass at the pretrained weights). ``target_modules=None`` = every
    Linear of the encoder. k = 4 gives 82,944 entries on MiniLM (LoRA r=8: 73,728).
    """

    k: int = 4
    calibration_batches: int = 32
    target_modules: list[str] | None = None


@register_method
class GpsMethod(SparseMethod):
    name = "gps"
    display_name = "GPS"
    help = "GPS: top-4 inputs per neuron by CDA-MLM gradient, gradient pass only"
    order = 160
    config_class = GpsSettings

    def __init__(self, config: GpsSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if self.config.k < 1:
            raise ConfigError(f"gps: k must be at least 1, got {self.config.k}")
        if self.config.calibration_batches < 1:
            raise ConfigError("gps: calibration_batches must be at least 1")

    @property
    def calibration_steps(self) -> int:
        return self.config.calibration_batches

    def calibrate(self, model: PreTrainedModel, train_fn: TrainFn) -> None:
        """Gradient-only pass, then the per-neuron top-k of G = |sum of gradients|."""
        weights = linear_weights(model, self.config.target_modules)
        sums, _ = accumulate_gradients(model, weights, train_fn, reduce=lambda g: g)
        self._indices = {name: per_row_top_k(g.abs(), self.config.k) for name, g in sums.items()}
