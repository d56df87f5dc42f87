"""Sparse fine-tuning (SFT) in the Lottery-Ticket style (LT-SFT; Ansell et al., 2022).

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

The module stored on disk is the sparse difference: ``<name>.indices`` (flat int64 positions)
and ``<name>.values`` per tensor, names relative to the backbone, so it transfers between heads.
Layer-norm parameters are excluded by default, as in the reference (``--freeze_layer_norm``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
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
)


class SparseDelta(nn.Module):
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


class SftMethod(DebiasMethod):
    name = "sft"
    config_class = SftSettings
    requires_calibration = True

    def __init__(self, config: SftSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if not 0.0 < self.config.density <= 1.0:
            raise ConfigError(f"sft: density must be in (0, 1], got {self.config.density}")
        self._indices: dict[str, torch.Tensor] | None = None

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

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        if self._indices is None:
            raise ConfigError(
                "method 'sft' needs calibrate(model, train_fn) before attach(), "
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
