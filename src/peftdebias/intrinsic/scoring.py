"""Masked-token scoring shared by CrowS-Pairs and StereoSet, batched or one query at a time.

A :class:`MaskedQuery` is an already-masked token sequence, the masked position and the token
whose probability is wanted there. Both scorers return, per query, the float32 log-softmax
(or softmax) value of the target token at that position, as a float64 array:

- :class:`BatchedScorer` (the fast path) runs every *distinct* masked sequence once:
  queries that share a sequence (the two sides of a one-token CrowS-Pairs edit, the three
  StereoSet candidates' first sub-token) share its forward pass. Sequences of equal length
  go ``batch_size`` at a time into one pass (no padding, so the values are those of one
  pass per sequence), and the output head is applied only at the queried positions (see
  :func:`head_rows`).
- :class:`SequentialScorer` is the reference loop of bias-bench: one forward pass per query,
  full logits, no padding.

Both run the model in eval mode under ``torch.inference_mode`` and count ``forward_calls``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

Kind = Literal["log_prob", "prob"]


@dataclass(frozen=True)
class MaskedQuery:
    """``input_ids`` (with the mask token at ``position``) and the ``target`` token id."""

    input_ids: tuple[int, ...]
    position: int
    target: int


def model_device(model: torch.nn.Module) -> torch.device:
    """Device of the first parameter (CPU for a parameter-less module)."""
    return next(model.parameters(), torch.empty(0)).device


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Evaluate ``model`` without dropout and gradients, restoring its mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


MIN_HEAD_ROWS = 8


@contextlib.contextmanager
def head_rows(
    model: PreTrainedModel, rows: tuple[torch.Tensor, torch.Tensor], width: int
) -> Iterator[dict]:
    """Apply the output projection only at ``rows`` = (batch indices, input positions).

    A forward pre-hook on ``model.get_output_embeddings()`` (the vocabulary projection of any
    masked-LM head: BERT, RoBERTa, DeBERTa, ALBERT, ...) replaces its ``(B, L, H)`` input by the
    ``(1, K, H)`` rows asked for, so the first ``K`` logits rows that come back are those
    rows'; the head's layers before the projection are position-wise, so the values equal
    full-logit indexing. Positions that a module prepends (prompt tuning's virtual tokens:
    the hidden states are longer than the input's ``width``) are skipped. Fewer than
    ``MIN_HEAD_ROWS`` rows are padded by repeating the last one (a product of 1-3 rows takes
    another CPU kernel, off by ~1e-6). The yielded dict's ``"applied"`` says whether the hook
    ran (otherwise the logits are full).
    """
    state = {"applied": False}
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not isinstance(head, torch.nn.Module):
        yield state
        return

    def gather(_module: torch.nn.Module, args: tuple) -> tuple:
        hidden = args[0]
        if hidden.dim() != 3:
            return args
        state["applied"] = True
        picked = hidden[rows[0], rows[1] + hidden.shape[1] - width]
        if 0 < len(picked) < MIN_HEAD_ROWS:
            picked = torch.cat([picked, picked[-1:].expand(MIN_HEAD_ROWS - len(picked), -1)])
        return (picked.unsqueeze(0), *args[1:])

    handle = head.register_forward_pre_hook(gather)
    try:
        yield state
    finally:
        handle.remove()


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped by equal length, in chunks of at most ``batch_size``.

    Equal lengths mean no padding, and then a batched forward pass gives bit-for-bit the
    values of one pass per sequence (padding would shift them by ~1e-6).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    groups: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        groups.setdefault(length, []).append(index)
    return [
        group[start : start + batch_size]
        for _, group in sorted(groups.items())
        for start in range(0, len(group), batch_size)
    ]


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``sequences`` to one tensor; return (input_ids, attention_mask)."""
    width = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids.to(device), mask.to(device)


def _pick(logits: torch.Tensor, targets: torch.Tensor, kind: Kind) -> torch.Tensor:
    """Per row of ``logits`` (K, V): log-softmax or softmax value at ``targets`` (K,)."""
    logits = logits.float()
    values = logits.log_softmax(-1) if kind == "log_prob" else logits.softmax(-1)
    return values.gather(1, targets[:, None])[:, 0]


class BatchedScorer:
    """The fast path: distinct masked sequences, equal-length batches, head at masks only."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int = 64,
        head_only_at_masks: bool = True,
    ) -> None:
        self.model = model
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.batch_size = batch_size
        self.head_only_at_masks = head_only_at_masks
        self.forward_calls = 0

    def score(self, queries: Sequence[MaskedQuery], kind: Kind = "log_prob") -> np.ndarray:
        """Value of each query's target token at its masked position (float64 array)."""
        sequences: dict[tuple[int, ...], int] = {}
        owner = [sequences.setdefault(query.input_ids, len(sequences)) for query in queries]
        distinct = list(sequences)
        by_sequence: list[list[int]] = [[] for _ in distinct]
        for index, sequence in enumerate(owner):
            by_sequence[sequence].append(index)
        out = np.empty(len(queries), dtype=np.float64)
        device = model_device(self.model)
        with eval_mode(self.model):
            for batch in length_batches([len(seq) for seq in distinct], self.batch_size):
                members = [(row, q) for row, seq in enumerate(batch) for q in by_sequence[seq]]
                rows = torch.tensor([row for row, _ in members], device=device)
                positions = torch.tensor([queries[q].position for _, q in members], device=device)
                targets = torch.tensor([queries[q].target for _, q in members], device=device)
                logits = self._masked_logits([distinct[seq] for seq in batch], rows, positions)
                values = _pick(logits, targets, kind).cpu().numpy().astype(np.float64)
                out[[q for _, q in members]] = values
        return out

    def _masked_logits(
        self, sequences: list[tuple[int, ...]], rows: torch.Tensor, positions: torch.Tensor
    ) -> torch.Tensor:
        """Logits (K, V) at (rows, positions) of one forward pass."""
        input_ids, attention_mask = pad_batch(sequences, self.pad_id, rows.device)
        self.forward_calls += 1
        gather = (
            head_rows(self.model, (rows, positions), input_ids.shape[1])
            if self.head_only_at_masks
            else contextlib.nullcontext({"applied": False})
        )
        with gather as state:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        if state["applied"]:
            return logits[0, : len(rows)]
        return logits[rows, positions + logits.shape[1] - input_ids.shape[1]]


class SequentialScorer:
    """The reference loop (as bias-bench): one unpadded forward pass per query, full logits."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.model = model
        self.forward_calls = 0

    def score(self, queries: Sequence[MaskedQuery], kind: Kind = "log_prob") -> np.ndarray:
        """Value of each query's target token at its masked position (float64 array)."""
        out = np.empty(len(queries), dtype=np.float64)
        device = model_device(self.model)
        with eval_mode(self.model):
            for index, query in enumerate(queries):
                input_ids = torch.tensor([query.input_ids], device=device)
                self.forward_calls += 1
                logits = self.model(input_ids=input_ids).logits[0]
                logits = logits[query.position + len(logits) - len(query.input_ids)]
                target = torch.tensor([query.target], device=device)
                out[index] = _pick(logits[None], target, kind).item()
        return out


Scorer = BatchedScorer | SequentialScorer


def make_scorer(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64
) -> Scorer:
    """``batch_size`` 0 selects the one-forward-per-query reference loop."""
    if batch_size == 0:
        return SequentialScorer(model, tokenizer)
    return BatchedScorer(model, tokenizer, batch_size=batch_size)
