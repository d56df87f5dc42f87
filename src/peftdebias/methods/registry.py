"""Method registry: canonical names -> classes, and loading a saved module by its name."""

from __future__ import annotations

import os
from typing import Any

from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .adapter import AdapterMethod
from .base import DebiasMethod, read_module_config
from .bora import BoraMethod
from .ether import EtherMethod, EtherPlusMethod
from .full import FullMethod
from .lightpeft import LightPeftMethod
from .peft_methods import PEFT_METHODS
from .sparse import GpsMethod, SftMethod
from .spectral import SpectralMethod
from .spt import SptMethod

_CLASSES: dict[str, type[DebiasMethod]] = {
    cls.name: cls
    for cls in (
        AdapterMethod, *PEFT_METHODS, SftMethod, FullMethod, EtherMethod, EtherPlusMethod,
        BoraMethod, SpectralMethod, GpsMethod, SptMethod, LightPeftMethod,
    )
}  # fmt: skip
METHODS: tuple[str, ...] = (
    "adapter", "prompt", "prefix", "lora", "sft", "dora",
    "ia3", "miss", "hra", "oft", "vera",
    "ether", "ether+", "bora", "spectral", "gps", "spt", "lightpeft", "full",
)  # fmt: skip
# One line per method, for --help texts and docs.
METHOD_HELP: dict[str, str] = {
    "adapter": "Pfeiffer bottleneck adapter after each FFN (reduction 16)",
    "prompt": "prompt tuning, 30 virtual tokens",
    "prefix": "flat prefix tuning, 30 virtual tokens",
    "lora": "LoRA r=8 on query/value",
    "sft": "LT-SFT: 1 percent of the backbone entries, picked by a full training phase",
    "dora": "DoRA: LoRA r=8 + magnitude per output unit",
    "ia3": "IA3: learned rescaling of key, value and FFN input",
    "miss": "MiSS (Bone) r=16",
    "hra": "HRA: chain of 8 Householder reflections",
    "oft": "OFT: block-diagonal orthogonal (Cayley), blocks of 32",
    "vera": "VeRA r=256: shared frozen random A/B, trained scalings",
    "ether": "ETHER: one Householder reflection per block of query/value weights",
    "ether+": "ETHER+: I - uu^T + vv^T per block (identity at start)",
    "bora": "BoRA: LoRA r=8 + magnitudes per output unit and per input feature",
    "spectral": "Spectral Adapter: top-8 singular vectors (variant additive|rotational)",
    "gps": "GPS: top-4 inputs per neuron by CDA-MLM gradient, gradient pass only",
    "spt": "SPT-LoRA: sensitivity budget, LoRA where a weight has enough sensitive entries",
    "lightpeft": "Light-PEFT: LoRA r=8 + early pruning of heads, FFN dims and LoRA ranks",
    "full": "Full-Debias baseline: every weight",
}
assert set(METHODS) == set(_CLASSES) == set(METHOD_HELP)


def get_method(name: str, **overrides: Any) -> DebiasMethod:
    """The method ``name`` with its paper defaults, updated by ``overrides``."""
    if name not in _CLASSES:
        raise ConfigError(f"unknown debiasing method {name!r}; choose one of: {', '.join(METHODS)}")
    return _CLASSES[name](**overrides)


def method_of(folder: str | os.PathLike) -> DebiasMethod:
    """The method (with its saved config) of the module saved in ``folder``."""
    record = read_module_config(folder)
    try:
        return get_method(record["method"], **record["config"])
    except TypeError as exc:
        raise ConfigError(f"{folder}/module.json: invalid config: {exc}") from exc


def load_module(
    model: PreTrainedModel, folder: str | os.PathLike, trainable: bool = False
) -> nn.Module:
    """Attach the module saved in ``folder`` to ``model``, whatever its method.

    Checks the base-model fingerprint first; backbone and head come back frozen (use
    :func:`~peftdebias.methods.base.set_trainable` to choose what to train next).
    """
    return method_of(folder).load(model, folder, trainable=trainable)
