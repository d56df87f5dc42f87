"""Methods that re-parametrise frozen ``nn.Linear`` weights: W' = f_theta(W), theta trainable.

ETHER/ETHER+ (ether.py), BoRA (bora.py), the Spectral Adapter (spectral.py) and SPT (spt.py)
change a target weight W (d_out x d_in, ``y = x W'^T + b``) by a function of W and a few
trainable tensors theta. Each is a ``torch.nn.utils.parametrize`` re-parametrisation, as the
``sft`` method: W itself stays a frozen backbone parameter (``<layer>.parametrizations.weight.
original``), bit-identical through upstream training, and trainable downstream (module frozen,
backbone trainable) under the fixed transformation; f_theta is re-applied on every forward.

Every parameter of a re-parametrisation (a :class:`~peftdebias.methods.base.ModulePart`, which
is how :func:`~peftdebias.methods.base.module_parameters` finds it) is trainable and named
``reparam_*``; frozen tensors that belong to the module (e.g. the Spectral Adapter's singular
vectors) are buffers. ``module.safetensors`` holds
``<weight name relative to the backbone>.<tensor>`` for every parameter and buffer of the
re-parametrisation, so the module transfers between heads.

Why not peft: peft 0.21 has none of these methods, cannot register a new tuner type without
editing its ``PeftType`` enum, and its LoRA/DoRA layers offer no hook for a second magnitude
vector (BoRA) or a multiplicative transform of W (ETHER); a re-parametrisation of the weight
is ~20 lines per method and keeps the backbone's parameter tensors untouched.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from torch import nn
from torch.nn.utils import parametrize
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import MODULE_WEIGHTS, DebiasMethod, ModulePart, backbone, check_keys, read_weights


class Reparametrization(ModulePart):
    """``forward(weight) -> weight'`` for one Linear weight; trainable tensors ``reparam_*``."""


class LowRankDelta(Reparametrization):
    """LoRA as a re-parametrisation: W' = W + (alpha / r) B A, A r x d_in (Kaiming-uniform, as
    peft and Hu et al. 2021, arXiv 2106.09685), B d_out x r (zero), so W' = W at the start."""

    def __init__(self, weight: torch.Tensor, r: int, alpha: float) -> None:
        super().__init__()
        d_out, d_in = weight.shape
        kw = {"device": weight.device, "dtype": weight.dtype}
        self.scaling = alpha / r
        self.reparam_lora_A = nn.Parameter(torch.empty(r, d_in, **kw))
        self.reparam_lora_B = nn.Parameter(torch.zeros(d_out, r, **kw))
        nn.init.kaiming_uniform_(self.reparam_lora_A, a=math.sqrt(5))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scaling * (self.reparam_lora_B @ self.reparam_lora_A)


def default_targets(model: PreTrainedModel) -> list[str]:
    """peft's per-architecture LoRA targets (``query``/``value`` for BERT and RoBERTa)."""
    model_type = model.config.model_type
    if model_type not in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        raise ConfigError(
            f"no default target modules for model type {model_type!r}; "
            "set target_modules to the attention Linear layer names of this architecture"
        )
    return list(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type])


def target_linears(
    model: PreTrainedModel, targets: Iterable[str] | None, method: str
) -> dict[str, nn.Linear]:
    """Linear layers of the encoder whose name equals a target or ends with ``"." + target``
    (peft's rule), by name relative to the backbone; ``None`` = :func:`default_targets`."""
    targets = default_targets(model) if targets is None else list(targets)
    found = {
        name: module
        for name, module in backbone(model).named_modules()
        if isinstance(module, nn.Linear)
        and any(name == t or name.endswith(f".{t}") for t in targets)
    }
    if not found:
        raise ConfigError(
            f"method '{method}' found no Linear layer matching target_modules {targets} in "
            f"{type(model).__name__}"
        )
    return found


def reparametrizations(model: nn.Module) -> dict[str, Reparametrization]:
    """Every re-parametrisation attached to the backbone, by weight name (``<layer>.weight``)."""
    found = {}
    for owner, module in backbone(model).named_modules():
        if parametrize.is_parametrized(module):
            for attr, chain in module.parametrizations.items():
                for item in chain:
                    if isinstance(item, Reparametrization):
                        found[f"{owner}.{attr}" if owner else attr] = item
    return found


def attach_reparametrizations(
    model: PreTrainedModel, built: dict[str, Reparametrization], method: str
) -> None:
    """Register ``built[name]`` on the backbone weight ``name`` (``<layer>.weight``)."""
    encoder = backbone(model)
    for name, reparam in built.items():
        owner, _, attr = name.rpartition(".")
        module = encoder.get_submodule(owner)
        if parametrize.is_parametrized(module, attr):
            raise ConfigError(f"method '{method}': {name} already carries a module")
        parametrize.register_parametrization(module, attr, reparam)


def reparam_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``<weight name>.<tensor>`` for every parameter and buffer of every re-parametrisation."""
    return {
        f"{name}.{key}": tensor
        for name, reparam in reparametrizations(model).items()
        for key, tensor in reparam.state_dict().items()
    }


def load_reparam_tensors(model: nn.Module, tensors: dict[str, torch.Tensor], folder: Path) -> None:
    """Copy saved tensors into the freshly attached re-parametrisations (keys and shapes
    checked, with clear errors)."""
    path = folder / MODULE_WEIGHTS
    own = reparam_state_dict(model)
    check_keys(set(own), set(tensors), path)
    with torch.no_grad():
        for key, tensor in own.items():
            if tensor.shape != tensors[key].shape:
                raise ConfigError(
                    f"module weights {path}: {key} has shape {tuple(tensors[key].shape)}, "
                    f"the model needs {tuple(tensor.shape)}"
                )
            tensor.copy_(tensors[key])


class ReparamMethod(DebiasMethod):
    """A method that re-parametrises the target Linear weights given by its config
    (``target_modules``, default: peft's LoRA targets). Subclasses implement :meth:`build`."""

    @abstractmethod
    def build(self, name: str, weight: torch.Tensor, fresh: bool) -> Reparametrization:
        """The re-parametrisation of ``weight`` (backbone-relative ``name``). ``fresh=False``
        when loading: the tensors are overwritten right after, so skip costly set-up."""

    def _attach_built(self, model: PreTrainedModel, fresh: bool) -> nn.Module:
        layers = target_linears(model, self.config.target_modules, self.name)
        built = {
            f"{name}.weight": self.build(f"{name}.weight", layer.weight.detach(), fresh)
            for name, layer in layers.items()
        }
        attach_reparametrizations(model, built, self.name)
        return model

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        return self._attach_built(model, fresh=True)

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return reparam_state_dict(model)

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        tensors = read_weights(folder)
        model = self._attach_built(model, fresh=False)
        load_reparam_tensors(model, tensors, folder)
        return model
