"""Fine-tuning of the downstream phase: counterfactuals of the training split (downstream
CDA, counterfactual logit pairing), the weighted Trainer and its collator, and the training
run with model selection on the dev split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

from ..cda import CounterfactualAugmenter, load_word_list
from ..metrics.classification import classification_scores
from ..tasks import attach_counterfactuals, cda_augment
from ..training.progress import show_phase
from ..training.trainer import last_complete_checkpoint, mixed_precision
from .config import DownstreamConfig, DownstreamPlan, counterfactual_axis

logger = logging.getLogger(__name__)

# prefix of the counterfactual's columns in a tokenized training set (CLP)
CF = "cf_"


def add_counterfactuals(
    config: DownstreamConfig, plan: DownstreamPlan, train: Dataset
) -> tuple[Dataset, dict[str, Any] | None]:
    """The training split with its counterfactuals for ``--baseline cda`` (two-sided: the
    originals and their counterfactuals) and CLP (``cf_*`` partners), and what was added
    (None: neither applies)."""
    if config.baseline != "cda" and plan.clp_weight <= 0:
        return train, None
    axis = counterfactual_axis(config)
    augmenter = CounterfactualAugmenter(load_word_list(axis, config.data_dir))
    added: dict[str, Any] = {"axis": axis}
    if config.baseline == "cda":
        train, added["cda_added"] = cda_augment(train, augmenter)
    if plan.clp_weight > 0:
        train, paired = attach_counterfactuals(train, augmenter, config.seed)
        added.update({"clp_weight": plan.clp_weight, "clp_pairs": paired})
    logger.info("counterfactuals along %s: %s", axis, added)
    return train, added


def clp_penalty(logits: torch.Tensor, counterfactual_logits: torch.Tensor) -> torch.Tensor:
    """Counterfactual logit pairing (Garg et al. 2019): mean over the pairs (and classes) of
    ``|logits(x) - logits(x')|``; 0 for no pair."""
    if logits.numel() == 0:
        return logits.new_zeros(())
    return (logits.float() - counterfactual_logits.float()).abs().mean()


class WeightedTrainer(Trainer):
    """Trainer with class-weighted cross-entropy (the reference code's hate-speech weights)
    and, with ``clp_weight > 0``, counterfactual logit pairing on the batch's examples that
    carry a counterfactual (``cf_*`` inputs, ``cf_has`` = 1)."""

    def __init__(
        self,
        *args: Any,
        class_weights: torch.Tensor | None = None,
        clp_weight: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.class_weights = class_weights
        self.clp_weight = clp_weight
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        counterfactual = {k[len(CF) :]: inputs.pop(k) for k in list(inputs) if k.startswith(CF)}
        outputs = model(**inputs)
        weight = (
            None if self.class_weights is None else self.class_weights.to(outputs.logits.device)
        )
        loss = F.cross_entropy(outputs.logits.float(), labels, weight=weight)
        has = counterfactual.pop("has", None)
        if self.clp_weight > 0 and has is not None and bool(has.any()):
            rows = has.bool()
            other = model(**{key: value[rows] for key, value in counterfactual.items()})
            loss = loss + self.clp_weight * clp_penalty(outputs.logits[rows], other.logits)
        return (loss, outputs) if return_outputs else loss


class CounterfactualCollator:
    """Pads a batch and, when its rows carry them, their counterfactuals (``cf_*``)."""

    def __init__(self, tokenizer):
        self.pad = DataCollatorWithPadding(tokenizer)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        counterfactuals = [
            {key[len(CF) :]: row.pop(key) for key in list(row) if key.startswith(CF)}
            for row in features
        ]
        batch = self.pad(features)
        if counterfactuals[0]:
            has = torch.tensor([bool(row.pop("has")) for row in counterfactuals])
            padded = self.pad(counterfactuals)
            batch.update({f"{CF}{key}": value for key, value in padded.items()})
            batch[f"{CF}has"] = has
        return batch


def tokenize_split(dataset: Dataset, tokenizer, max_length: int) -> Dataset:
    """Model inputs and ``labels``; rows with ``cf_text`` also get ``cf_*`` inputs."""
    pair = "text_pair" in dataset.column_names
    counterfactual = f"{CF}text" in dataset.column_names

    def encode(batch):
        encoded = tokenizer(
            batch["text"],
            batch["text_pair"] if pair else None,
            truncation=True,
            max_length=max_length,
        )
        if counterfactual:
            other = tokenizer(
                batch[f"{CF}text"],
                batch[f"{CF}text_pair"] if pair else None,
                truncation=True,
                max_length=max_length,
            )
            encoded.update({f"{CF}{key}": value for key, value in other.items()})
        return encoded

    keep = {"input_ids", "attention_mask", "token_type_ids", "label"}
    keep |= {f"{CF}{key}" for key in keep} | {f"{CF}has"}
    encoded = dataset.map(encode, batched=True, desc="tokenizing")
    return encoded.remove_columns([c for c in encoded.column_names if c not in keep]).rename_column(
        "label", "labels"
    )


def selection_metrics(prediction) -> dict[str, float]:
    """Accuracy and macro-F1 on the dev split, for model selection."""
    scores = classification_scores(prediction.label_ids, prediction.predictions.argmax(-1))
    return {"accuracy": scores.accuracy, "macro_f1": scores.macro_f1}


def training_arguments(
    config: DownstreamConfig, plan: DownstreamPlan, output: Path
) -> TrainingArguments:
    """One evaluation and checkpoint per epoch; the best by the task's metric is kept."""
    return TrainingArguments(
        output_dir=str(output / "checkpoints"),
        num_train_epochs=plan.epochs,
        per_device_train_batch_size=plan.batch_size,
        per_device_eval_batch_size=max(64, plan.batch_size),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=plan.learning_rate,
        warmup_steps=config.warmup_ratio,  # below 1: a fraction of the steps (transformers 5)
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model=plan.task.metric,
        greater_is_better=True,
        logging_steps=10,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=False,  # the bar of training.progress.show_phase (not the log level's)
        **mixed_precision(config.bf16, config.fp16),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        # the counterfactual inputs (cf_*) are not arguments of forward: keep them
        remove_unused_columns=plan.clp_weight == 0,
    )


def fine_tune(
    config: DownstreamConfig,
    plan: DownstreamPlan,
    model,
    tokenizer,
    splits: dict[str, Any],
    num_labels: int,
) -> WeightedTrainer:
    """Fine-tune ``model`` on the training split, selecting on the dev split; with
    ``resume``, continue from the last checkpoint the Trainer finished writing."""
    weights = None
    if plan.class_weights:
        weights = torch.tensor([float(plan.class_weights.get(c, 1.0)) for c in range(num_labels)])
    output = Path(config.output)
    trainer = WeightedTrainer(
        model=model,
        args=training_arguments(config, plan, output),
        train_dataset=tokenize_split(splits["train"], tokenizer, plan.max_length),
        eval_dataset=tokenize_split(splits["dev"], tokenizer, plan.max_length),
        data_collator=CounterfactualCollator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=selection_metrics,
        class_weights=weights,
        clp_weight=plan.clp_weight,
    )
    # the last checkpoint the Trainer finished writing (a Ctrl-C may cut one short)
    checkpoint = last_complete_checkpoint(output / "checkpoints") if config.resume else None
    show_phase(trainer, f"fine-tuning {plan.task.name}").train(resume_from_checkpoint=checkpoint)
    return trainer
