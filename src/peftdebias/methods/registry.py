"""Method registry: canonical names -> classes, and loading a saved module by its name."""

from __future__ import annotations

import os
from typing import Any

from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .adapter import AdapterMethod
from .base import DebiasMethod, read_module_config
from .full import FullMethod
from .peft_methods import PEFT_METHODS
from .sparse import SftMethod

_CLASSES: dict[str, type[DebiasMethod]] = {
    cls.name: cls for cls in (AdapterMethod, *PEFT_METHODS, SftMethod, FullMethod)
}
METHODS: tuple[str, ...] = (
    "adapter", "prompt", "prefix", "lora", "sft", "dora",
    "ia3", "miss", "hra", "oft", "vera", "full",
)  # fmt: skip
assert set(METHODS) == set(_CLASSES)


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
