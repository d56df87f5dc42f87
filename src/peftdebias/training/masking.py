"""Tokenising and masking text for the masked-LM objective.

BERT's recipe (Devlin et al. 2019): choose 15% of the non-special tokens; of those, 80% become
``[MASK]``, 10% a random token and 10% stay unchanged; the loss is taken at the chosen
positions only (labels -100 elsewhere). We reuse transformers' ``DataCollatorForLanguageModeling``
for the masking itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase


@dataclass
class TextMaskingCollator:
    """Collates rows ``{"text": str, "counterfactual": str}`` into a training batch.

    Produces ``input_ids``/``attention_mask``/``labels`` (masked LM over ``text``) when
    ``mlm`` is set, and ``cf_a_*``/``cf_b_*`` token tensors (text and its counterfactual,
    unmasked) for rows with a non-empty counterfactual when ``pairs`` is set.
    """

    tokenizer: PreTrainedTokenizerBase
    max_length: int = 256
    mlm_probability: float = 0.15
    mlm: bool = True
    pairs: bool = False

    def __post_init__(self) -> None:
        self._masker = DataCollatorForLanguageModeling(
            self.tokenizer, mlm=True, mlm_probability=self.mlm_probability
        )

    def _encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
            return_special_tokens_mask=True,
        )

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        if self.mlm:
            encoded = self._encode([row["text"] for row in rows])
            special = encoded.pop("special_tokens_mask").bool()
            special |= encoded["attention_mask"] == 0
            input_ids, labels = self._masker.torch_mask_tokens(
                encoded["input_ids"].clone(), special_tokens_mask=special
            )
            batch.update(
                input_ids=input_ids, attention_mask=encoded["attention_mask"], labels=labels
            )
        if self.pairs:
            paired = [row for row in rows if row.get("counterfactual")]
            if paired:
                for side, key in (("cf_a", "text"), ("cf_b", "counterfactual")):
                    encoded = self._encode([row[key] for row in paired])
                    batch[f"{side}_input_ids"] = encoded["input_ids"]
                    batch[f"{side}_attention_mask"] = encoded["attention_mask"]
        return batch


def premask(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int,
    seed: int,
    mlm_probability: float = 0.15,
) -> list[dict[str, list[int]]]:
    """Mask ``texts`` once with a fixed seed, for a held-out set whose loss is comparable
    across evaluations (a fresh random mask each time would add noise to model selection)."""
    collator = TextMaskingCollator(tokenizer, max_length, mlm_probability)
    rows = []
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for start in range(0, len(texts), 256):
            chunk = [{"text": text} for text in texts[start : start + 256]]
            batch = collator(chunk)
            for ids, mask, labels in zip(
                batch["input_ids"], batch["attention_mask"], batch["labels"], strict=True
            ):
                length = int(mask.sum())
                rows.append(
                    {"input_ids": ids[:length].tolist(), "labels": labels[:length].tolist()}
                )
    finally:
        torch.random.set_rng_state(state)
    return rows


def pad_premasked(rows: list[dict[str, list[int]]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad premasked rows into ``input_ids``/``attention_mask``/``labels`` tensors."""
    length = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), length), -100, dtype=torch.long)
    attention = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        input_ids[i, :n] = torch.tensor(row["input_ids"])
        labels[i, :n] = torch.tensor(row["labels"])
        attention[i, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
