"""A transformers ``Trainer`` for the upstream objectives.

It runs unchanged under ``torchrun``/``accelerate launch`` (the Trainer handles process
groups, samplers and gradient reduction). Held-out evaluation uses a premasked set, so the
loss used for model selection is deterministic, and reports masked-token accuracy too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainingArguments

from .masking import pad_premasked
from .objectives import consistency_loss, masked_lm_loss


@torch.no_grad()
def evaluate_mlm(
    model: nn.Module, rows: Sequence[dict[str, list[int]]], pad_token_id: int, batch_size: int = 64
) -> dict[str, float]:
    """Token-weighted masked-LM loss and accuracy of ``model`` on premasked ``rows``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct, count = 0.0, 0, 0
    for start in range(0, len(rows), batch_size):
        batch = pad_premasked(list(rows[start : start + batch_size]), pad_token_id)
        batch = {key: value.to(device) for key, value in batch.items()}
        result = masked_lm_loss(model, batch)
        total_loss += float(result.loss) * result.count
        correct += result.correct
        count += result.count
    model.train(was_training)
    if count == 0:
        return {"loss": math.nan, "accuracy": math.nan, "tokens": 0}
    return {"loss": total_loss / count, "accuracy": correct / count, "tokens": count}


class DebiasTrainer(Trainer):
    """Trainer whose loss is ``w_mlm * L_mlm + w_cons * L_cons`` (see ``objectives``).

    ``eval_dataset`` must hold premasked rows (``input_ids``, ``labels``).
    """

    def __init__(
        self, *args: Any, mlm_weight: float = 1.0, consistency_weight: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.mlm_weight = mlm_weight
        self.consistency_weight = consistency_weight
        self.model_accepts_loss_kwargs = False  # we average per batch ourselves

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = None
        if self.mlm_weight and "labels" in inputs:
            loss = self.mlm_weight * masked_lm_loss(model, inputs).loss
        if self.consistency_weight:
            cons = consistency_loss(model, inputs)
            if cons is not None:
                term = self.consistency_weight * cons
                loss = term if loss is None else loss + term
        if loss is None:  # a batch without any pair under the consistency-only objective
            loss = sum(p.sum() * 0.0 for p in model.parameters() if p.requires_grad)
        return (loss, None) if return_outputs else loss

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        rows = eval_dataset if eval_dataset is not None else self.eval_dataset
        if hasattr(rows, "to_list"):  # a datasets.Dataset of premasked rows
            rows = rows.to_list()
        pad = self.processing_class.pad_token_id if self.processing_class is not None else 0
        result = evaluate_mlm(self.model, rows, pad, self.args.per_device_eval_batch_size)
        metrics = {
            f"{metric_key_prefix}_loss": result["loss"],
            f"{metric_key_prefix}_accuracy": result["accuracy"],
        }
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics


def training_arguments(
    output_dir: str,
    *,
    max_steps: int,
    batch_size: int,
    learning_rate: float,
    eval_steps: int,
    seed: int,
    logging_steps: int = 10,
    save_total_limit: int = 2,
    disable_tqdm: bool | None = None,
) -> TrainingArguments:
    """Trainer arguments shared by head warm-up, calibration and module training."""
    return TrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 32),
        learning_rate=learning_rate,
        warmup_steps=0,
        weight_decay=0.0,
        eval_strategy="steps" if eval_steps else "no",
        eval_steps=eval_steps or None,
        save_strategy="steps" if eval_steps else "no",
        save_steps=eval_steps or None,
        save_total_limit=save_total_limit,
        load_best_model_at_end=bool(eval_steps),
        metric_for_best_model="loss",
        greater_is_better=False,
        logging_steps=logging_steps,
        report_to=[],
        seed=seed,
        data_seed=seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=disable_tqdm,
    )
