"""Loading what the upstream phase wrote: a masked LM with its debiasing module(s)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ..methods.compose import as_folders, load_modules
from ..models import load_masked_lm, load_tokenizer
from ..training.heads import load_head
from .artefact import HEAD_FILE


def _carried_head(folders: list[str]) -> Path | None:
    """The warmed-up MLM head one of the module ``folders`` carries (at most one may)."""
    heads = [Path(folder) / HEAD_FILE for folder in folders if (Path(folder) / HEAD_FILE).is_file()]
    if len(heads) > 1:
        raise ConfigError(
            f"--debias {' '.join(folders)}: {len(heads)} modules carry their own warmed-up MLM "
            "head (their base model has no trained one) and a masked LM has one head; compose "
            "modules learned on a model with a trained MLM head (e.g. minilm)"
        )
    return heads[0] if heads else None


def load_debiased_lm(
    model: str = "minilm",
    debias: str | os.PathLike | list[str | os.PathLike] | None = None,
    full_debias: str | os.PathLike | None = None,
    head_from: str | os.PathLike | None = None,
):
    """``(masked LM, tokenizer, missing MLM-head keys)`` of ``model``, of ``model`` with the
    upstream module in ``debias`` attached (a list: several composed, ``methods.compose``),
    or of the Full-Debias model in ``full_debias``.

    A module trained on a base model without an MLM head carries the head it warmed up
    (``mlm_head.safetensors``); it is loaded too, so intrinsic scores use the same trained
    head the module was trained with, and no head key counts as missing (composed modules:
    at most one may carry a head). ``head_from`` loads only that head from a module folder,
    not the module: the base model's reference row for such modules.
    """
    folders = as_folders(debias)
    carried = _carried_head(folders)
    source = str(full_debias) if full_debias else model
    lm, missing = load_masked_lm(source)
    if head_from:
        head = Path(head_from) / HEAD_FILE
        if not head.is_file():
            raise ConfigError(f"--head-from {head_from}: no {HEAD_FILE} (the module's base "
                              "model had a trained MLM head, so none was warmed up)")  # fmt: skip
        load_head(lm, head)
        missing = []
    if carried:
        load_head(lm, carried)
        missing = []
    if folders:
        lm = load_modules(lm, folders)
    return lm, load_tokenizer(source), missing
