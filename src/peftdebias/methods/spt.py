"""SPT, sensitivity-aware parameter-efficient fine-tuning (He, Cai, Zhang, Tao, Zhuang,
ICCV 2023, arXiv 2303.08566), with LoRA as the structured module (the paper's SPT-LoRA).

1. Sensitivity (:meth:`SptMethod.calibrate`): a gradient-only pass of the upstream objective over
   ``calibration_batches`` batches at the pretrained weights gives, for every entry n of every
   candidate weight (each Linear of the encoder), s_n = sum_batches g_n^2 (the reference's
   ``grad_dict[name] += param.grad ** 2``: the first-order loss drop of one gradient step).
2. Allocation (:func:`allocate`): take the tau most sensitive entries over all candidates. A
   weight W (d_out x d_in) holding c_W of them is switched to structured tuning, LoRA of rank r
   with r (d_in + d_out) parameters, when c_W >= r (d_in + d_out) / alpha (reference: alpha =
   10, r = 8); the other weights train their c_W entries as a sparse difference (as ``sft``).
   The reference sweeps tau on a grid (steps of 20,000) and keeps the configuration whose total
   is closest to each target; here every tau up to twice the budget is tried and the one whose
   trainable count is closest to ``budget`` x (candidate entries) is kept. The count is a step
   function of tau (it jumps when a weight switches to LoRA), so it rarely hits the budget
   exactly.
3. Training: W' = W + B A on the structured weights (A Kaiming-uniform, B = 0; LoRA scaling
   1), W' = W + scatter(idx, v) on the others (stored as ``indices`` + ``sparse_delta``);
   both are re-parametrisations, so every backbone tensor stays bit-identical.

Not carried over from the reference: its optional structured tuning of bias/LayerNorm vectors
(``--structured_vector``) — here only weight matrices are candidates — and its fully trained
classification head (the head here is the task's, trained downstream).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import (
    MODULE_WEIGHTS,
    DebiasMethod,
    MethodConfig,
    TrainFn,
    backbone,
    read_weights,
    register_method,
)
from .reparam import (
    LowRankDelta,
    Reparametrization,
    attach_reparametrizations,
    load_reparam_tensors,
    reparam_state_dict,
)
from .sparse import SparseDelta, accumulate_gradients, linear_weights


@dataclasses.dataclass
class Allocation:
    """SPT's plan: LoRA on ``structured`` weights, sparse ``unstructured`` positions elsewhere."""

    structured: list[str]
    unstructured: dict[str, torch.Tensor]
    tau: int
    trainable: int


def allocate(scores: dict[str, torch.Tensor], budget: int, r: int, alpha: float) -> Allocation:
    """SPT's allocation for a target trainable count ``budget`` (see the module docstring).

    ``scores`` maps weight names to 2-D sensitivities. For every tau up to 2 * budget:
    c_W = entries of W among the tau largest scores; W is structured iff c_W >= r (d_in +
    d_out) / alpha; trainable = sum of r (d_in + d_out) over structured weights + sum of c_W
    over the others. The tau whose trainable count is closest to ``budget`` wins (the smaller
    tau on ties). The count is updated entry by entry, O(2 * budget).
    """
    names = list(scores)
    flat = torch.cat([scores[n].flatten().float() for n in names])
    sizes = torch.tensor([scores[n].numel() for n in names])
    lora = torch.tensor([r * sum(scores[n].shape) for n in names])
    limit = min(len(flat), max(1, 2 * budget))
    order = torch.topk(flat, limit, sorted=True).indices.cpu()
    owner = torch.searchsorted(sizes.cumsum(0), order, right=True)
    lora_counts = lora.tolist()
    running = [0] * len(names)
    switched = [False] * len(names)
    trainable, best_gap, tau = 0, None, 1
    for step, weight in enumerate(owner.tolist(), start=1):
        if not switched[weight]:
            running[weight] += 1
            if running[weight] * alpha >= lora_counts[weight]:  # the weight goes to LoRA
                switched[weight] = True
                trainable += lora_counts[weight] - (running[weight] - 1)
            else:
                trainable += 1
        if best_gap is None or abs(trainable - budget) < best_gap:
            best_gap, tau = abs(trainable - budget), step
    counts = torch.bincount(owner[:tau], minlength=len(names))
    structured = counts * alpha >= lora
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)[:-1]])
    unstructured = {}
    for i, name in enumerate(names):
        if not structured[i] and counts[i] > 0:
            mine = order[:tau][owner[:tau] == i] - offsets[i]
            unstructured[name] = mine.sort().values
    return Allocation(
        structured=[n for i, n in enumerate(names) if structured[i]],
        unstructured=unstructured,
        tau=tau,
        trainable=int(torch.where(structured, lora, counts).sum()),
    )


@dataclasses.dataclass
class SptSettings(MethodConfig):
    """SPT-LoRA: ``budget`` = trainable parameters as a fraction of the candidate weights'
    entries (0.007: about LoRA r=8's count on MiniLM, 74k of 10.6M); LoRA of rank ``r``
    (scaling 1) on weights holding at least r (d_in + d_out) / ``alpha`` of the top-tau
    sensitive entries (reference r = 8, alpha = 10); sensitivity summed over
    ``calibration_batches`` batches; ``target_modules=None`` = every Linear of the encoder."""

    budget: float = 0.007
    r: int = 8
    alpha: float = 10.0
    calibration_batches: int = 32
    target_modules: list[str] | None = None


@register_method
class SptMethod(DebiasMethod):
    name = "spt"
    display_name = "SPT"
    help = "SPT-LoRA: sensitivity budget, LoRA where a weight has enough sensitive entries"
    order = 170
    config_class = SptSettings
    requires_calibration = True

    def __init__(self, config: SptSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        if not 0.0 < c.budget <= 1.0:
            raise ConfigError(f"spt: budget must be in (0, 1], got {c.budget}")
        if c.r < 1 or c.alpha <= 0 or c.calibration_batches < 1:
            raise ConfigError("spt: r, alpha and calibration_batches must be positive")
        self.allocation: Allocation | None = None

    @property
    def calibration_steps(self) -> int:
        return self.config.calibration_batches

    def calibrate(self, model: PreTrainedModel, train_fn: TrainFn) -> None:
        """Sensitivity s = sum of squared per-batch gradients, then :func:`allocate`."""
        weights = linear_weights(model, self.config.target_modules)
        scores, _ = accumulate_gradients(model, weights, train_fn, reduce=torch.square)
        total = sum(s.numel() for s in scores.values())
        budget = max(1, round(self.config.budget * total))
        self.allocation = allocate(scores, budget, self.config.r, self.config.alpha)

    def _build_all(
        self, model: PreTrainedModel, structured: list[str], unstructured: dict[str, torch.Tensor]
    ) -> nn.Module:
        params = dict(backbone(model).named_parameters())
        built: dict[str, Reparametrization] = {}
        for name in structured:
            built[name] = LowRankDelta(params[name].detach(), self.config.r, self.config.r)
        for name, indices in unstructured.items():
            weight = params[name]
            built[name] = SparseDelta(indices.to(weight.device), weight.dtype)
        attach_reparametrizations(model, built, self.name)
        return model

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        if self.allocation is None:
            raise ConfigError(
                "method 'spt' needs calibrate(model, train_fn) before attach(), "
                "or a saved module to load"
            )
        return self._build_all(model, self.allocation.structured, self.allocation.unstructured)

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return reparam_state_dict(model)

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        path = folder / MODULE_WEIGHTS
        tensors = read_weights(folder)
        params = dict(backbone(model).named_parameters())
        structured, unstructured = [], {}
        for key, tensor in tensors.items():
            name, _, attr = key.rpartition(".")
            if name not in params or params[name].dim() != 2:
                raise ConfigError(f"module weights {path}: the model has no weight {name}")
            if attr == "reparam_lora_A":
                structured.append(name)
            elif attr == "indices":
                if tensor.dtype != torch.int64 or (
                    len(tensor) and (tensor.min() < 0 or tensor.max() >= params[name].numel())
                ):
                    raise ConfigError(f"module weights {path}: malformed indices for {name}")
                unstructured[name] = tensor
        model = self._build_all(model, structured, unstructured)
        load_reparam_tensors(model, tensors, folder)
        return model
