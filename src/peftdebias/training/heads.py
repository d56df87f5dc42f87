"""Locating the encoder and the masked-LM head of any ``*ForMaskedLM`` model, and computing
vocabulary logits only where they are needed.

The masked-LM cost is dominated by the vocabulary projection (hidden x |V|) at every
position. With 15% masking, 85% of that work is thrown away. :func:`masked_positions_only`
installs a forward pre-hook on the head that keeps only the selected positions, so the head
returns logits of shape ``[num_selected, |V|]``. It works for BERT (``cls``), RoBERTa
(``lm_head``), DeBERTa (``cls``/``lm_predictions``) and any PEFT wrapper around them, because
it hooks the head module itself rather than re-implementing the model's forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..methods.base import unwrap as unwrap_module
from ..tensorfile import load_partial_state


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside the DDP and PEFT wrappers."""
    if isinstance(model, DistributedDataParallel):
        model = model.module
    return unwrap_module(model)


def _head_name(inner: nn.Module) -> str:
    prefix = getattr(inner, "base_model_prefix", None)
    names = [name for name, _ in inner.named_children() if name != prefix]
    if len(names) != 1:
        children = [name for name, _ in inner.named_children()]
        raise ValueError(
            f"cannot identify the masked-LM head of {type(inner).__name__} (children: {children})"
        )
    return names[0]


def mlm_head(model: nn.Module) -> nn.Module:
    """The masked-LM head of ``model``: the top-level child that is not the encoder."""
    inner = unwrap(model)
    return inner.get_submodule(_head_name(inner))


def head_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Parameters of the MLM head that are not shared with the encoder.

    The decoder weight is tied to the input embeddings in BERT-style models; it belongs to the
    encoder and is excluded, so warming the head up never changes the embeddings.
    """
    inner = unwrap(model)
    head = mlm_head(inner)
    encoder_ids = {id(p) for p in inner.get_submodule(inner.base_model_prefix).parameters()}
    return [(n, p) for n, p in head.named_parameters() if id(p) not in encoder_ids]


def save_head(model: nn.Module, path: str | Path) -> None:
    """Write the head's own parameters (see :func:`head_parameters`) to a safetensors file,
    named as in the unwrapped model (``cls.predictions.transform.dense.weight``, ...)."""
    prefix = _head_name(unwrap(model)) + "."
    tensors = {prefix + n: p.detach().cpu().contiguous() for n, p in head_parameters(model)}
    save_file(tensors, str(path))


def load_head(model: nn.Module, path: str | Path) -> None:
    """Load a head saved by :func:`save_head` into ``model``; every tensor must fit."""
    load_partial_state(unwrap(model), path)


@contextlib.contextmanager
def masked_positions_only(model: nn.Module, selected: torch.Tensor) -> Iterator[None]:
    """Within the block, the MLM head of ``model`` sees only ``selected`` positions.

    ``selected`` is a boolean ``[batch, length]`` mask over the input tokens. When the model
    prepends virtual tokens (prompt tuning), the hidden states are longer than the input; the
    mask is then left-padded with ``False`` so the virtual positions are never scored.
    """

    def keep_selected(_module, args, kwargs):
        hidden = args[0] if args else kwargs.pop("features", kwargs.pop("sequence_output", None))
        mask = selected.to(hidden.device)
        extra = hidden.shape[1] - mask.shape[1]
        if extra > 0:
            mask = torch.nn.functional.pad(mask, (extra, 0), value=False)
        return (hidden[mask], *args[1:]), kwargs

    handle = mlm_head(model).register_forward_pre_hook(keep_selected, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
