"""Training text and the held-out evaluation of MLM restoration.

Text comes from corpus specs ``NAME[:SPLIT]`` (a registered data set; several splits as
``gap:dev+validation``) or files (see :func:`peftdebias.data.load_text_corpus`). WikiText's
tokenization is undone where it would create tokens of its own (``@-@`` -> ``-``, ``<unk>`` ->
the tokenizer's unknown token, which is never a masked-LM target).

Training examples are *packed* (as in BERT pre-training and transformers' ``run_mlm``): the
tokenized texts, shuffled, each followed by the separator token, are concatenated and cut into
blocks of ``max_length - 2`` tokens wrapped in ``[CLS] ... [SEP]``; no padding is computed.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from ..errors import ConfigError

_WIKITEXT_JOINERS = re.compile(r" @([-.,])@ ")
HELDOUT = ("wikitext-2", "test")  # the standard held-out set of every restoration record


def parse_corpus_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"gap:dev+validation"`` -> ``("gap", ("dev", "validation"))``; a file -> ``(path, ())``."""
    if os.path.exists(spec):
        return spec, ()
    name, _, splits = spec.partition(":")
    parsed = tuple(s for s in splits.split("+") if s) if splits else ("train",)
    if not name or not parsed:
        raise ConfigError(f"--corpus {spec!r}: expected NAME[:SPLIT[+SPLIT...]] or a file")
    return name, parsed


def clean_text(text: str, unk_token: str | None) -> str:
    """Undo WikiText's ``@-@`` joiners and map ``<unk>`` to the tokenizer's unknown token."""
    text = _WIKITEXT_JOINERS.sub(r"\1", text)
    return text.replace("<unk>", unk_token or "")


def load_texts(
    specs: Sequence[str], data_dir: str | os.PathLike | None, unk_token: str | None
) -> dict[str, list[str]]:
    """``{spec: cleaned non-empty texts}`` for every corpus spec."""
    from ..data import load_text_corpus

    texts: dict[str, list[str]] = {}
    for spec in specs:
        name, splits = parse_corpus_spec(spec)
        if (name, *splits) == HELDOUT or (name == HELDOUT[0] and HELDOUT[1] in splits):
            raise ConfigError(
                f"--corpus {spec!r}: WikiText-2 test is the held-out evaluation set of every "
                "restoration; train on other text"
            )
        chunks = [load_text_corpus(name, data_dir, split) for split in splits or ("train",)]
        texts[spec] = [clean_text(t, unk_token) for chunk in chunks for t in chunk]
    return texts


def pack_blocks(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, seed: int
) -> list[list[int]]:
    """Shuffle ``texts`` (seeded), tokenize, concatenate with separators and cut into blocks
    ``[CLS] + block + [SEP]`` of exactly ``max_length`` tokens (the short tail is dropped)."""
    if max_length < 8:
        raise ConfigError(f"--max-length {max_length} is too short for packed blocks (>= 8)")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    encoded = tokenizer([texts[i] for i in order], add_special_tokens=False)["input_ids"]
    stream: list[int] = []
    for ids in encoded:
        stream.extend(ids)
        stream.append(tokenizer.sep_token_id)
    width = max_length - 2
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    return [
        [cls, *stream[start : start + width], sep]
        for start in range(0, len(stream) - width + 1, width)
    ]


@dataclass
class BlockMaskingCollator:
    """BERT masking (15 %, 80/10/10) of packed blocks; special and unknown tokens are never
    chosen as targets."""

    tokenizer: PreTrainedTokenizerBase
    mlm_probability: float = 0.15

    def __post_init__(self) -> None:
        self._masker = DataCollatorForLanguageModeling(
            self.tokenizer, mlm=True, mlm_probability=self.mlm_probability
        )
        self._excluded = torch.tensor(
            sorted({*self.tokenizer.all_special_ids, self.tokenizer.unk_token_id} - {None})
        )

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids = torch.tensor([row["input_ids"] for row in rows], dtype=torch.long)
        excluded = torch.isin(ids, self._excluded)
        input_ids, labels = self._masker.torch_mask_tokens(
            ids.clone(), special_tokens_mask=excluded
        )
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def heldout_rows(
    tokenizer: PreTrainedTokenizerBase,
    data_dir: str | os.PathLike | None,
    max_length: int = 128,
    seed: int = 0,
    limit: int | None = None,
) -> list[dict[str, list[int]]]:
    """The standard held-out set: WikiText-2 test paragraphs (cleaned), each truncated to
    ``max_length`` tokens and masked once (15 %, seed ``seed``); unknown tokens are not
    scored. ``limit`` keeps the first N paragraphs (for a cheap learning curve)."""
    from ..data import load_text_corpus
    from ..training.masking import premask

    name, split = HELDOUT
    texts = [clean_text(t, tokenizer.unk_token) for t in load_text_corpus(name, data_dir, split)]
    rows = premask(tokenizer, texts[:limit] if limit else texts, max_length, seed)
    unk = tokenizer.unk_token_id
    for row in rows:
        row["labels"] = [-100 if label == unk else label for label in row["labels"]]
    return rows
