"""The two upstream objectives.

Masked LM (the paper's objective): cross-entropy of the original token at the masked
positions, computed with vocabulary logits at those positions only (see ``heads``).

Counterfactual consistency (``--objective consistency``): for a sentence ``x`` with
counterfactual ``x'`` (CDA swap along the bias axis),

    L_cons = 1 - cos( mean_t h_L(x)_t , mean_t h_L(x')_t )

where ``h_L`` is the module-adapted last hidden layer and the mean runs over real tokens
(attention mask). It pulls a sentence and its counterfactual to the same representation,
the representation-level analogue of counterfactual logit pairing (Garg et al., 2019,
"Counterfactual Fairness in Text Classification through Robustness", AIES) and of the
counterfactual alignment used by FairFil (Cheng et al., 2021, ICLR) and MABEL (He et al.,
2022, EMNLP). Combined with MLM (``L = w_mlm * L_mlm + w_cons * L_cons``), the MLM term keeps
the representation from collapsing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .heads import masked_positions_only

OBJECTIVES = ("mlm", "consistency", "mlm+consistency")


@dataclass(frozen=True)
class MLMResult:
    loss: torch.Tensor  # mean cross-entropy over masked tokens
    correct: int  # masked tokens predicted exactly
    count: int  # masked tokens


def masked_lm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> MLMResult:
    """Cross-entropy at masked positions (``labels != -100``), logits only there."""
    labels = batch["labels"]
    selected = labels != -100
    with masked_positions_only(model, selected):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = labels[selected].to(logits.device)
    if targets.numel() == 0:
        zero = logits.sum() * 0.0
        return MLMResult(zero, 0, 0)
    loss = F.cross_entropy(logits.float(), targets)
    correct = int((logits.argmax(dim=-1) == targets).sum())
    return MLMResult(loss, correct, int(targets.numel()))


def mean_pooled(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Mean of the last hidden layer over real tokens, ``[batch, hidden]``.

    Virtual tokens that a prompt-tuning module prepends are excluded (the last ``length``
    positions are the input's own)."""
    nothing = torch.zeros_like(input_ids, dtype=torch.bool)
    with masked_positions_only(model, nothing):  # skip the vocabulary projection entirely
        out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    hidden = out.hidden_states[-1][:, -input_ids.shape[1] :]
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def consistency_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """``1 - cos`` between mean-pooled representations of sentences and counterfactuals."""
    if "cf_a_input_ids" not in batch:
        return None
    a = mean_pooled(model, batch["cf_a_input_ids"], batch["cf_a_attention_mask"])
    b = mean_pooled(model, batch["cf_b_input_ids"], batch["cf_b_attention_mask"])
    return (1.0 - F.cosine_similarity(a.float(), b.float(), dim=-1)).mean()
