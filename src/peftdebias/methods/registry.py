"""Method registry: canonical names -> classes, their metadata, and loading a saved module.

Every concrete method class registers itself (:func:`~peftdebias.methods.base.register_method`)
and carries its metadata (``name``, ``display_name``, ``help``, ``order``); importing its file
below is all the registry needs. ``METHODS``, ``METHOD_HELP`` and ``METHOD_DISPLAY_NAMES`` are
views derived from the classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from . import adapter, bora, ether, full, lightpeft, peft_methods, sparse, spectral, spt  # noqa: F401
from .base import DebiasMethod, read_module_config, register_method, registered_methods

_CLASSES: dict[str, type[DebiasMethod]] = registered_methods()
METHODS: tuple[str, ...] = tuple(_CLASSES)
# One line per method, for --help texts and docs.
METHOD_HELP: dict[str, str] = {name: cls.help for name, cls in _CLASSES.items()}
# Names for reports and tables ("LoRA", "Full-Debias").
METHOD_DISPLAY_NAMES: dict[str, str] = {name: cls.display_name for name, cls in _CLASSES.items()}

__all__ = [
    "METHODS",
    "METHOD_DISPLAY_NAMES",
    "METHOD_HELP",
    "get_method",
    "load_module",
    "method_class",
    "method_display_name",
    "method_of",
    "module_weights_path",
    "register_method",
]


def method_class(name: str) -> type[DebiasMethod]:
    """The registered class of method ``name``; ConfigError listing the valid names if none."""
    classes = registered_methods()
    if name not in classes:
        raise ConfigError(f"unknown debiasing method {name!r}; choose one of: {', '.join(classes)}")
    return classes[name]


def method_display_name(name: str) -> str:
    """How reports and tables name method ``name`` (e.g. ``"LoRA"`` for ``lora``)."""
    return method_class(name).display_name


def get_method(name: str, **overrides: Any) -> DebiasMethod:
    """The method ``name`` with its paper defaults, updated by ``overrides``."""
    return method_class(name)(**overrides)


def method_of(folder: str | os.PathLike) -> DebiasMethod:
    """The method (with its saved config) of the module saved in ``folder``."""
    record = read_module_config(folder)
    try:
        return get_method(record["method"], **record["config"])
    except TypeError as exc:
        raise ConfigError(f"{folder}/module.json: invalid config: {exc}") from exc


def module_weights_path(folder: str | os.PathLike) -> Path:
    """The file holding the tensors of the module saved in ``folder``, whatever its method and
    format (``adapter_model.safetensors``, ``module.safetensors``, ``model.safetensors``)."""
    record = read_module_config(folder)
    return Path(folder) / method_class(record["method"]).weights_name(record)


def load_module(
    model: PreTrainedModel, folder: str | os.PathLike, trainable: bool = False
) -> nn.Module:
    """Attach the module saved in ``folder`` to ``model``, whatever its method.

    Checks the base-model fingerprint first; backbone and head come back frozen (use
    :func:`~peftdebias.methods.base.set_trainable` to choose what to train next).
    """
    return method_of(folder).load(model, folder, trainable=trainable)
