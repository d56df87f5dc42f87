"""Full-Debias baseline: no module; the whole model (backbone + head) is trained and saved.

The folder is a regular ``save_pretrained`` checkpoint plus ``module.json``, so it also loads
with ``AutoModel*.from_pretrained``. :meth:`FullMethod.load` copies its weights into a fresh
model of the same base wherever names and shapes match: the whole encoder, and the head when
the heads agree (an MLM head is skipped for a classifier, whose pooler and classifier stay as
initialised).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import (
    DebiasMethod,
    MethodConfig,
    read_weights,
    register_method,
    set_trainable,
    unwrap,
    write_atomic,
)

logger = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"


@dataclasses.dataclass
class FullSettings(MethodConfig):
    """No hyper-parameters: every weight is trained."""


@register_method
class FullMethod(DebiasMethod):
    name = "full"
    display_name = "Full-Debias"
    help = "Full-Debias baseline: every weight"
    order = 1000
    config_class = FullSettings

    def attach(self, model: PreTrainedModel) -> nn.Module:
        """Nothing to attach; every parameter (backbone and head) is made trainable."""
        model = super().attach(model)
        return set_trainable(model, module=True, head=True, backbone=True)

    def load(self, model: PreTrainedModel, folder: str | os.PathLike, trainable: bool = False):
        """Copy the saved weights into ``model``; all of it is trainable iff ``trainable``."""
        model = super().load(model, folder, trainable)
        return set_trainable(model, module=False, head=trainable, backbone=trainable)

    @classmethod
    def weights_name(cls, record: dict[str, Any]) -> str:
        return WEIGHTS

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        return model

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return unwrap(model).state_dict()

    def _write_weights(self, model: nn.Module, folder: Path) -> None:
        write_atomic(folder, unwrap(model).save_pretrained)

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        tensors = read_weights(folder, WEIGHTS)
        own = model.state_dict()
        usable = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
        if not any(k.startswith(model.base_model_prefix + ".") for k in usable):
            raise ConfigError(f"full model {folder / WEIGHTS} holds no tensor of this backbone")
        kept = sorted(set(own) - set(usable))
        if kept:  # e.g. a classifier's pooler and head, absent from an MLM checkpoint
            logger.info("kept %d tensors not in %s: %s", len(kept), folder / WEIGHTS, kept)
        model.load_state_dict(usable, strict=False)
        return model
