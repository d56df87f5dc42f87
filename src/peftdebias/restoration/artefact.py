"""The MLM-restoration artefact: a low-rank encoder delta plus a masked-LM head.

A restoration folder holds

- ``adapter_config.json`` + ``adapter_model.safetensors``: a peft LoRA adapter over the
  encoder's linear layers (opens with ``PeftModel.from_pretrained``); absent in a head-only
  restoration (``--rank 0``);
- ``mlm_head.safetensors``: the head's own tensors (transform and decoder bias; the decoder
  weight is tied to the input embeddings and is not stored);
- ``restoration.json``: what was trained, on which data, and the held-out learning curve.

:func:`apply_restoration` merges the delta into any model of the same architecture
(``*ForMaskedLM``, ``*ForSequenceClassification`` or the bare encoder) exactly as
``peft``'s ``merge_and_unload`` does, ``W <- W + scaling * (B @ A)`` with
``scaling = lora_alpha / r`` (``lora_alpha / sqrt(r)`` with rsLoRA), without importing peft,
and loads the head when the model has one. The result is an ordinary transformers model.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..tensorfile import load_partial_state, read_tensors
from ..validation import read_json_file

RECORD_FILE = "restoration.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
HEAD_WEIGHTS = "mlm_head.safetensors"
FORMAT = "peftdebias-mlm-restoration/1"
ARTEFACT_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS, HEAD_WEIGHTS, RECORD_FILE)
REQUIRED_FILES = (HEAD_WEIGHTS, RECORD_FILE)
_PEFT_PREFIX = "base_model.model."
_SUFFIXES = (".lora_A.weight", ".lora_B.weight")
REWRITE = "write the restoration again with `peftdebias restore-mlm`"


def is_restoration(folder: str | os.PathLike) -> bool:
    """True when ``folder`` is a restoration artefact (has ``restoration.json``)."""
    return (Path(folder) / RECORD_FILE).is_file()


def read_record(folder: str | os.PathLike) -> dict[str, Any]:
    """``restoration.json`` of ``folder``, checked for format and completeness."""
    folder = Path(folder)
    required = [*REQUIRED_FILES]
    if any((folder / name).exists() for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS)):
        required += [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"{folder} is not a complete MLM-restoration folder: {', '.join(missing)} missing "
            "(write one with `peftdebias restore-mlm`)"
        )
    path = folder / RECORD_FILE
    record = read_json_file(path, REWRITE)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ConfigError(f"{path} is not an MLM-restoration record (format {FORMAT})")
    return record


def artefact_digest(folder: str | os.PathLike) -> str:
    """sha256 (16 hex digits) over the adapter and head tensors' files: the identity of a
    restoration, mixed into :func:`peftdebias.models.model_fingerprint`."""
    digest = hashlib.sha256()
    for name in (ADAPTER_WEIGHTS, HEAD_WEIGHTS):
        if (Path(folder) / name).is_file():
            digest.update((Path(folder) / name).read_bytes())
    return digest.hexdigest()[:16]


def _scaling(config: dict[str, Any], path: Path) -> float:
    try:
        rank, alpha = int(config["r"]), float(config["lora_alpha"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: needs integer 'r' and number 'lora_alpha' ({exc})") from exc
    if config.get("peft_type", "LORA") != "LORA" or config.get("use_dora"):
        raise ConfigError(f"{path}: only plain LoRA adapters can be merged as a restoration")
    return alpha / rank**0.5 if config.get("use_rslora") else alpha / rank


def lora_pairs(folder: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{module path in the transformers model: (A, B)}`` from the peft adapter file."""
    tensors = read_tensors(folder / ADAPTER_WEIGHTS)
    pairs: dict[str, list[torch.Tensor | None]] = {}
    for key, tensor in tensors.items():
        suffix = next((s for s in _SUFFIXES if key.endswith(s)), None)
        if suffix is None or not key.startswith(_PEFT_PREFIX):
            raise ConfigError(f"{folder / ADAPTER_WEIGHTS}: unexpected tensor {key!r}")
        path = key[len(_PEFT_PREFIX) : -len(suffix)]
        pairs.setdefault(path, [None, None])[_SUFFIXES.index(suffix)] = tensor
    incomplete = [path for path, (a, b) in pairs.items() if a is None or b is None]
    if incomplete:
        raise ConfigError(f"{folder / ADAPTER_WEIGHTS}: lora_A/lora_B missing for {incomplete[0]}")
    return {path: (a, b) for path, (a, b) in pairs.items()}


def _find_linear(model: nn.Module, path: str) -> nn.Linear:
    """The linear layer at ``path`` (written for a ``*ForMaskedLM`` model) in ``model``,
    which may be the bare encoder (no ``bert.`` prefix) or another head class."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    candidates = [path]
    if path.startswith(prefix) and not hasattr(model, prefix[:-1]):
        candidates.append(path[len(prefix) :])
    for candidate in candidates:
        try:
            module = model.get_submodule(candidate)
        except AttributeError:
            continue
        if isinstance(module, nn.Linear):
            return module
    raise ConfigError(
        f"the restoration's layer {path!r} is not a linear layer of {type(model).__name__}; "
        "was it made for another architecture?"
    )


@torch.no_grad()
def merge_delta(model: nn.Module, folder: str | os.PathLike) -> int:
    """Add the LoRA delta of ``folder`` to ``model``'s weights; returns the layers changed
    (0 for a head-only restoration)."""
    folder = Path(folder)
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        return 0
    config = read_json_file(config_path, REWRITE)
    scaling = _scaling(config, config_path)
    pairs = lora_pairs(folder)
    for path, (lora_a, lora_b) in pairs.items():
        layer = _find_linear(model, path)
        delta = lora_b @ lora_a
        if config.get("fan_in_fan_out"):
            delta = delta.T
        if delta.shape != layer.weight.shape:
            raise ConfigError(
                f"{folder}: delta for {path} has shape {tuple(delta.shape)}, the model's weight "
                f"{tuple(layer.weight.shape)}; the restoration belongs to another model size"
            )
        layer.weight.data += (delta * scaling).to(layer.weight.dtype)
    return len(pairs)


def has_mlm_head(model: nn.Module) -> bool:
    """True for ``*ForMaskedLM`` models (their output embeddings are the vocabulary decoder)."""
    return type(model).__name__.endswith("ForMaskedLM")


def apply_restoration(model: nn.Module, folder: str | os.PathLike) -> dict[str, Any]:
    """Merge the restoration in ``folder`` into ``model`` (in place) and mark its config.

    ``model.config.mlm_restoration`` records the artefact's name and digest, so that
    :func:`peftdebias.models.model_fingerprint` tells the restored model from the raw one and
    a model saved with ``save_pretrained`` keeps the mark.
    """
    record = read_record(folder)
    merge_delta(model, folder)
    if has_mlm_head(model):
        load_partial_state(model, Path(folder) / HEAD_WEIGHTS)
    mark = {"name": record.get("name", Path(folder).name), "digest": artefact_digest(folder)}
    model.config.mlm_restoration = mark
    return mark
