"""Bottleneck adapter with Pfeiffer placement (Pfeiffer et al., 2021), self-contained.

One adapter per transformer layer, on the output of the feed-forward block's down-projection
(the ``Linear(intermediate_size -> hidden_size)``, e.g. ``layer.N.output.dense`` in BERT,
RoBERTa and DeBERTa-v2), before dropout, residual and LayerNorm:

    h = W_out f(W_in x);    h' = h + U relu(D h);    y = LayerNorm(x + dropout(h'))

with D: hidden -> hidden / reduction_factor and U zero-initialised, so the model is unchanged
at the start. The adapter is a child module ``debias_adapter`` of that Linear, applied by a
forward hook, so the backbone's parameter names stay exactly as in the checkpoint.

Adapters stack in sequence (``methods.compose``): attaching to a model that already carries
k adapters adds the child ``debias_adapter_<k>``, whose hook runs after the earlier ones, so
h' = A_k(... A_0(h)) (AdapterHub's ``Stack``). Its tensors are saved and loaded under the names
of a single adapter, so any adapter module loads into any slot.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
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
    ModulePart,
    backbone,
    check_keys,
    read_weights,
    register_method,
)

ADAPTER_ATTR = "debias_adapter"


class BottleneckAdapter(ModulePart):
    """h -> h + U relu(D h), U = 0 at initialisation (identity)."""

    def __init__(self, hidden_size: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck)
        self.up = nn.Linear(bottleneck, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(torch.relu(self.down(hidden)))


def adapter_name(slot: int) -> str:
    """Attribute name of the ``slot``-th adapter of a layer (0: ``debias_adapter``)."""
    return ADAPTER_ATTR if slot == 0 else f"{ADAPTER_ATTR}_{slot}"


def _apply_adapter(name: str, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook of the wrapped Linear (with ``name`` bound): route its output through its
    adapter ``name``."""
    return getattr(module, name)(output)


def ffn_output_layers(model: PreTrainedModel) -> dict[str, nn.Linear]:
    """The feed-forward down-projections of the encoder, by name relative to the backbone.

    Found by shape (``intermediate_size -> hidden_size``), which is architecture-agnostic.
    """
    config = model.config
    intermediate = getattr(config, "intermediate_size", None)
    found = {
        name: module
        for name, module in backbone(model).named_modules()
        if isinstance(module, nn.Linear)
        and module.in_features == intermediate
        and module.out_features == config.hidden_size
    }
    if not found:
        raise ConfigError(
            f"method 'adapter' found no feed-forward output Linear "
            f"({intermediate} -> {config.hidden_size}) in {type(model).__name__}"
        )
    return found


@dataclasses.dataclass
class AdapterSettings(MethodConfig):
    """Pfeiffer adapter: bottleneck = hidden_size // reduction_factor, ReLU."""

    reduction_factor: int = 16


@register_method
class AdapterMethod(DebiasMethod):
    name = "adapter"
    display_name = "Adapter"
    help = "Pfeiffer bottleneck adapter after each FFN (reduction 16)"
    order = 10
    config_class = AdapterSettings
    _slot = 0  # position of this method's adapter in the stack, set by _attach

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        bottleneck = model.config.hidden_size // self.config.reduction_factor
        if bottleneck < 1:
            raise ConfigError(
                f"adapter: reduction_factor {self.config.reduction_factor} exceeds hidden size "
                f"{model.config.hidden_size}"
            )
        layers = list(ffn_output_layers(model).values())
        self._slot = next(k for k in itertools.count() if not hasattr(layers[0], adapter_name(k)))
        name = adapter_name(self._slot)
        for layer in layers:
            adapter = BottleneckAdapter(model.config.hidden_size, bottleneck)
            layer.add_module(name, adapter.to(layer.weight.device, layer.weight.dtype))
            layer.register_forward_hook(functools.partial(_apply_adapter, name))
        return model

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """This slot's tensors, named as those of a single adapter (slot 0)."""
        marker = f".{adapter_name(self._slot)}."
        return {
            n.replace(marker, f".{ADAPTER_ATTR}."): p
            for n, p in backbone(model).named_parameters()
            if marker in n
        }

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        tensors = read_weights(folder)
        model = self._attach(model)
        params = self._state_dict(model)
        check_keys(set(params), set(tensors), folder / MODULE_WEIGHTS)
        with torch.no_grad():
            for name, param in params.items():
                if param.shape != tensors[name].shape:
                    raise ConfigError(
                        f"module weights {folder / MODULE_WEIGHTS}: {name} has shape "
                        f"{tuple(tensors[name].shape)}, the model needs {tuple(param.shape)}"
                    )
                param.copy_(tensors[name])
        return model
