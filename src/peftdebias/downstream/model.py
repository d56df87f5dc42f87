"""The classifier a downstream run fine-tunes, and the checksums that prove its debiasing
module(s) stayed frozen."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from ..methods import load_module, set_trainable
from ..methods.compose import as_folders, composed_modules, load_modules
from ..models import load_sequence_classifier
from .config import DownstreamConfig, start_of


def build_model(config: DownstreamConfig, num_labels: int):
    """The classifier to fine-tune, with the debiasing module(s) (if any) attached and
    frozen; with ``freeze_layernorm`` its LayerNorm weights are frozen too."""
    start = start_of(config)
    model = load_sequence_classifier(config.model, num_labels=num_labels)
    if start == "debias":
        model = load_modules(model, as_folders(config.debias))
        set_trainable(model, module=False, backbone=True, head=True)
    elif start == "full_debias":  # the whole CDA-MLM encoder, all of it fine-tuned
        model = load_module(model, config.full_debias, trainable=True)
        set_trainable(model, module=True, backbone=True, head=True)
    if config.freeze_layernorm:
        for name, param in model.named_parameters():
            if "layernorm" in name.lower().replace("_", ""):
                param.requires_grad_(False)
    return model


def _checksum(named: list[tuple[str, torch.Tensor]]) -> str | None:
    """sha256 over named tensors, in name order (None for none)."""
    if not named:
        return None
    digest = hashlib.sha256()
    for name, param in sorted(named, key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(param.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()[:16]


def module_checksums(model) -> tuple[str | None, list[dict[str, Any]]]:
    """Checksum over the parameters of every frozen debiasing module (None without one), and
    per module (``methods.compose.load_modules``) its folder, method, axes and checksum."""
    params = dict(model.named_parameters())
    modules = composed_modules(model)
    every = [(name, params[name]) for module in modules for name in module["parameters"]]
    return _checksum(every), [
        {
            **{key: module[key] for key in ("folder", "method", "axes")},
            "checksum": _checksum([(name, params[name]) for name in module["parameters"]]),
        }
        for module in modules
    ]


def check_frozen(
    model, before: tuple[str | None, list[dict[str, Any]]]
) -> tuple[str | None, list[dict[str, Any]]]:
    """The :func:`module_checksums` of the fine-tuned ``model``; RuntimeError when they differ
    from ``before`` (a debiasing module changed)."""
    after = module_checksums(model)
    if after != before:
        raise RuntimeError("a debiasing module changed during fine-tuning; it must stay frozen")
    return after
