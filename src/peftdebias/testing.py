"""Tiny randomly initialised models for fast tests (seconds, not minutes).

They use the real MiniLM (bert-base-uncased) vocabulary and tokenizer, so text goes through
the same tokenization as the default model, but have a 2-layer, 32-wide encoder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertConfig,
    PretrainedConfig,
    PreTrainedTokenizerBase,
    RobertaConfig,
)

from .models import resolve_model


def tiny_config(architecture: str = "bert", **overrides) -> PretrainedConfig:
    """A 2-layer, hidden-size-32 config of ``architecture`` ('bert' or 'roberta')."""
    tokenizer = minilm_tokenizer()
    common = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=300,
        pad_token_id=tokenizer.pad_token_id,
    )
    common.update(overrides)
    if architecture == "bert":
        return BertConfig(**common)
    if architecture == "roberta":
        # RoBERTa offsets positions by pad_token_id + 1; keep room for that.
        common["max_position_embeddings"] += tokenizer.pad_token_id + 2
        return RobertaConfig(type_vocab_size=1, **common)
    raise ValueError(f"unknown tiny architecture {architecture!r}; use 'bert' or 'roberta'")


def minilm_tokenizer() -> PreTrainedTokenizerBase:
    """The tokenizer of the packaged default model (uncased WordPiece, 30,522 tokens)."""
    return AutoTokenizer.from_pretrained(
        resolve_model("minilm-raw").location, local_files_only=True
    )


def save_tiny_model(
    folder: str | Path, architecture: str = "bert", seed: int = 0, head: bool = True
) -> Path:
    """Write a tiny masked-LM checkpoint plus the MiniLM tokenizer to ``folder``.

    The result loads with every ``--model`` code path (``from_pretrained(folder)``), with a
    trained-looking (complete) MLM head, so no head warm-up is triggered; ``head=False``
    writes the bare encoder instead, a model shipped without an MLM head (like MiniLM).
    """
    folder = Path(folder)
    torch.manual_seed(seed)
    loader = AutoModelForMaskedLM if head else AutoModel
    model = loader.from_config(tiny_config(architecture))
    model.save_pretrained(folder)
    minilm_tokenizer().save_pretrained(folder)
    return folder
