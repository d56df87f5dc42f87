"""SEAT (May et al. 2019), as McGill-NLP/bias-bench runs it.

Each sentence is encoded alone: the last hidden states, averaged over all its tokens (special
tokens included; ``pooling="mean"``, the default) or taken at the first token
(``pooling="cls"``), then L2-normalised. Repeated sentences within a set count once (bias-bench
keys encodings by text). Effect size and p-value: :mod:`peftdebias.intrinsic.weat`.

Encoding is batched: all distinct sentences of all requested tests go through the model once,
in batches of equal length (no padding, so the encodings are those of one pass per
sentence), and the masked-LM output projection is skipped
(:func:`~peftdebias.intrinsic.scoring.head_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.sources.intrinsic import SEAT_ROLES
from ..errors import ConfigError, DataError
from . import weat
from .options import POOLINGS
from .scoring import eval_mode, head_rows, length_batches, model_device, pad_batch

Pooling = Literal["mean", "cls"]

SEAT_TESTS_BY_BIAS = {
    "gender": tuple(f"sent-weat{n}" for n in ("6", "6b", "7", "7b", "8", "8b")),
    "race": (
        "sent-angry_black_woman_stereotype",
        "sent-angry_black_woman_stereotype_b",
        *(f"sent-weat{n}" for n in ("3", "3b", "4", "5", "5b")),
    ),
    "religion": tuple(f"sent-religion{n}" for n in ("1", "1b", "2", "2b")),
}


def default_tests(bias_type: str | None) -> tuple[str, ...]:
    """The bias-bench tests of ``bias_type``; gender and race when it is ``None``."""
    if bias_type is None:
        return SEAT_TESTS_BY_BIAS["gender"] + SEAT_TESTS_BY_BIAS["race"]
    return SEAT_TESTS_BY_BIAS[bias_type]


class SentenceEncoder:
    """Batched, L2-normalised sentence encodings from a model's last hidden states."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        pooling: Pooling = "mean",
        batch_size: int = 64,
    ) -> None:
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown SEAT pooling {pooling!r}; use {', '.join(POOLINGS)}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.batch_size = max(batch_size, 1)
        self.forward_calls = 0

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """text -> unit-norm float32 encoding, for each distinct text."""
        distinct = list(dict.fromkeys(texts))
        encoded = [self.tokenizer.encode(text) for text in distinct]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        device = model_device(self.model)
        out: dict[str, np.ndarray] = {}
        nothing = (torch.empty(0, dtype=torch.long, device=device),) * 2
        with eval_mode(self.model):
            for batch in length_batches([len(ids) for ids in encoded], self.batch_size):
                input_ids, mask = pad_batch([encoded[i] for i in batch], pad_id, device)
                assert bool(mask.all()), "length_batches yields equal-length batches"
                self.forward_calls += 1
                with head_rows(self.model, nothing, input_ids.shape[1]):
                    output = self.model(
                        input_ids=input_ids, attention_mask=mask, output_hidden_states=True
                    )
                # drop positions a module prepends (prompt tuning's virtual tokens)
                hidden = output.hidden_states[-1][:, -input_ids.shape[1] :].float()
                # equal-length batches: no padding, so a plain mean is bias-bench's mean
                pooled = hidden.mean(dim=1) if self.pooling == "mean" else hidden[:, 0]
                pooled = pooled.cpu().numpy()
                for row, index in enumerate(batch):
                    vector = pooled[row]
                    out[distinct[index]] = vector / np.linalg.norm(vector)
        return out


def test_sets(name: str, rows: Sequence[Mapping]) -> dict[str, dict]:
    """role -> {category, examples (distinct, in file order)} for one SEAT test's rows."""
    sets: dict[str, dict] = {}
    for row in rows:
        entry = sets.setdefault(row["role"], {"category": row["category"], "examples": {}})
        entry["examples"][row["text"]] = None
    for role in SEAT_ROLES:
        if not sets.get(role, {}).get("examples"):
            raise DataError(f"SEAT test {name}: field {role!r} has no examples")
        sets[role]["examples"] = list(sets[role]["examples"])
    if len(sets["targ1"]["examples"]) != len(sets["targ2"]["examples"]):
        raise DataError(
            f"SEAT test {name}: target sets targ1 and targ2 differ in size "
            f"({len(sets['targ1']['examples'])} vs {len(sets['targ2']['examples'])})"
        )
    return sets


class SEATRunner:
    """Run SEAT tests: ``runner({name: rows})`` -> one result per test."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        pooling: Pooling = "mean",
        batch_size: int = 64,
        n_samples: int = 100_000,
        seed: int = 0,
    ) -> None:
        self.encoder = SentenceEncoder(model, tokenizer, pooling, batch_size)
        self.n_samples = n_samples
        self.seed = seed

    def __call__(self, tests: Mapping[str, Sequence[Mapping]]) -> list[dict]:
        """Effect size and p-value per test (each test's permutations seeded with ``seed``)."""
        parsed = {name: test_sets(name, list(rows)) for name, rows in tests.items()}
        texts = [text for sets in parsed.values() for s in sets.values() for text in s["examples"]]
        encodings = self.encoder(texts)
        results = []
        for name, sets in parsed.items():
            x, y, a, b = (
                np.stack([encodings[text] for text in sets[role]["examples"]])
                for role in SEAT_ROLES
            )
            s_x, s_y = weat.association(x, a, b), weat.association(y, a, b)
            results.append(
                {
                    "test": name,
                    "categories": {role: sets[role]["category"] for role in SEAT_ROLES},
                    "sizes": {role: len(sets[role]["examples"]) for role in SEAT_ROLES},
                    "effect_size": weat.effect_size(s_x, s_y),
                    **weat.p_value(s_x, s_y, self.n_samples, self.seed),
                }
            )
        return results
