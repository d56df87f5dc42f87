"""Bottleneck adapter with Pfeiffer placement (Pfeiffer et al., 2021), self-contained.

One adapter per transformer layer, on the output of the feed-forward block's down-projection
(the ``Linear(intermediate_size -> hidden_size)``, e.g. ``layer.N.output.dense`` in BERT,
RoBERTa and DeBERTa-v2), before dropout, residual and LayerNorm:

    h = W_out f(W_in x);    h' = h + U relu(D h);    y = LayerNorm(x + dropout(h'))

with D: hidden -> hidden / reduction_factor and U zero-initialised, so the model is unchanged
at the start. The adapter is a child module ``debias_adapter`` of that Linear, applied by a
forward hook, so the backbone's parameter names stay exactly as in the checkpoint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import MODULE_WEIGHTS, DebiasMethod, MethodConfig, backbone, check_keys, read_weights

ADAPTER_ATTR = "debias_adapter"


class BottleneckAdapter(nn.Module):
    """h -> h + U relu(D h), U = 0 at initialisation (identity)."""

    def __init__(self, hidden_size: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck)
        self.up = nn.Linear(bottleneck, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(torch.relu(self.down(hidden)))


def _apply_adapter(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook of the wrapped Linear: route its output through its adapter."""
    return getattr(module, ADAPTER_ATTR)(output)


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


class AdapterMethod(DebiasMethod):
    name = "adapter"
    config_class = AdapterSettings

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        bottleneck = model.config.hidden_size // self.config.reduction_factor
        if bottleneck < 1:
            raise ConfigError(
                f"adapter: reduction_factor {self.config.reduction_factor} exceeds hidden size "
                f"{model.config.hidden_size}"
            )
        for layer in ffn_output_layers(model).values():
            if hasattr(layer, ADAPTER_ATTR):
                raise ConfigError("adapter: the model already carries an adapter")
            adapter = BottleneckAdapter(model.config.hidden_size, bottleneck)
            layer.add_module(ADAPTER_ATTR, adapter.to(layer.weight.device, layer.weight.dtype))
            layer.register_forward_hook(_apply_adapter)
        return model

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        marker = f".{ADAPTER_ATTR}."
        return {n: p for n, p in backbone(model).named_parameters() if marker in n}

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
