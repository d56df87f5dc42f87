"""Tokenising and masking text for the masked-LM objective.

BERT's recipe (Devlin et al. 2019): choose 15% of the non-special tokens; of those, 80% become
``[MASK]``, 10% a random token and 10% stay unchanged; the loss is taken at the chosen
positions only (labels -100 elsewhere). We reuse transformers' ``DataCollatorForLanguageModeling``
for the masking itself.

The masks are drawn from torch's global CPU generator. A data loader collates ahead of the
training step (accelerate's loader one batch ahead), so when the Trainer saves a checkpoint
the next batch is already masked, from a generator state *before* the one the Trainer saves.
:class:`MaskingRng` records the state before each masking so that a checkpoint can carry the
states of those pending batches and a resumed run can replay them: resuming is then exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase


class MaskingRng:
    """The global CPU generator's state around the masking of a collator, for exact resume.

    ``before_masking`` is called before each batch is masked: it sets the generator to the
    next state of an armed replay script (on resume), then records the state it masks from.
    ``pending_states(n)`` are the states of the last ``n`` batches masked (collated ahead of
    training when a checkpoint is saved); the script of a resumed run is those states followed
    by the state the Trainer saved, which the batch after them was masked from.
    """

    def __init__(self, keep: int = 16) -> None:
        self.calls = 0  # batches masked
        self._before: deque[torch.Tensor] = deque(maxlen=keep)
        self._script: list[torch.Tensor] = []
        self.replayed = 0  # states of the current script already set

    def before_masking(self) -> None:
        if self._script:
            torch.random.set_rng_state(self._script.pop(0))
            self.replayed += 1
        self._before.append(torch.random.get_rng_state())
        self.calls += 1

    def pending_states(self, count: int) -> list[torch.Tensor] | None:
        """States of the last ``count`` batches masked; None when no longer recorded."""
        if count < 0 or count > len(self._before):
            return None
        return list(self._before)[len(self._before) - count :] if count else []

    def arm(self, states: Sequence[torch.Tensor]) -> None:
        """Set the generator to ``states[i]`` before each of the next ``len(states)`` maskings."""
        self._script = [torch.as_tensor(state, dtype=torch.uint8).clone() for state in states]
        self.replayed = 0

    @property
    def armed(self) -> bool:
        return bool(self._script)

    def disarm(self) -> None:
        self._script = []
        self.replayed = 0


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
    masking_rng: MaskingRng = field(default_factory=MaskingRng, repr=False, compare=False)

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
            self.masking_rng.before_masking()
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
