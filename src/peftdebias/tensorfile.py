"""Reading safetensors files into (parts of) a model, with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .errors import ConfigError


def read_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of the safetensors file ``path``; ConfigError if missing or corrupt."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable safetensors file ({exc})") from exc


def load_partial_state(model: nn.Module, path: str | os.PathLike) -> None:
    """Load the tensors of ``path`` into ``model`` by name; every tensor must fit a
    parameter or buffer of the same shape (the others stay as they are)."""
    tensors = read_tensors(path)
    own = model.state_dict()
    wrong = [k for k, v in tensors.items() if k not in own or own[k].shape != v.shape]
    if wrong:
        raise ConfigError(f"{Path(path)}: tensors {wrong[:3]} do not fit this model")
    model.load_state_dict(tensors, strict=False)
