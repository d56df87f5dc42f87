"""The training steps of the upstream phase: load the base model, warm up a missing MLM
head, calibrate and attach the module, train it, and describe the result."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .._version import library_versions
from ..methods import count_parameters
from ..models import as_masked_lm, load_masked_lm, load_tokenizer, model_fingerprint
from ..training.heads import head_parameters
from ..training.masking import TextMaskingCollator, premask
from ..training.progress import show_phase
from ..training.trainer import DebiasTrainer, evaluate_mlm, training_arguments
from .config import UpstreamConfig, UpstreamPlan
from .corpus import Corpus, word_list_hash

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseModel:
    """The base masked LM (MLM head keys it lacks: ``missing_head``) and its tokenizer."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    missing_head: list[str]
    fingerprint: str


def load_base(config: UpstreamConfig) -> BaseModel:
    """Seed torch and load ``config.model`` with a masked-LM head."""
    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    model, missing_head = load_masked_lm(config.model)
    return BaseModel(model, tokenizer, missing_head, model_fingerprint(model))


def base_from_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, seed: int
) -> BaseModel:
    """Seed torch and take a masked LM of the loaded ``model`` (a copy: see
    :func:`~peftdebias.models.as_masked_lm`), as :func:`load_base` loads one."""
    torch.manual_seed(seed)
    lm, missing_head = as_masked_lm(model)
    return BaseModel(lm, tokenizer, missing_head, model_fingerprint(lm))


@dataclass(frozen=True)
class Phases:
    """What the training phases of one run share: options, tokenizer, premasked held-out
    rows, the folder of their checkpoints (``<output>/checkpoints/<phase>``) and the
    ``TrainingArguments`` values that replace the phases' own (``overrides``: the Python
    API's ``training_args``; none from the command line)."""

    config: UpstreamConfig
    plan: UpstreamPlan
    tokenizer: PreTrainedTokenizerBase
    heldout: list[dict[str, list[int]]]
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        config: UpstreamConfig,
        plan: UpstreamPlan,
        base: BaseModel,
        corpus: Corpus,
        overrides: Mapping[str, Any] | None = None,
    ) -> Phases:
        """Phases with the held-out rows of ``corpus`` masked once (seeded)."""
        texts = [row["text"] for row in corpus.heldout_rows]
        heldout = premask(base.tokenizer, texts, plan.max_length, config.seed)
        return cls(config, plan, base.tokenizer, heldout, dict(overrides or {}))

    @property
    def work(self) -> Path:
        return Path(self.config.output) / "checkpoints"

    def evaluate(self, model) -> dict[str, float]:
        """Masked-token loss and accuracy of ``model`` on the held-out rows."""
        return evaluate_mlm(model, self.heldout, self.tokenizer.pad_token_id)

    def train(
        self,
        phase: str,
        model,
        *,
        steps: int,
        learning_rate: float,
        rows: list[dict],
        heldout: list[dict] | None = None,
        objective: tuple[float, float] = (1.0, 0.0),
        resume_from: bool | None = None,
    ) -> DebiasTrainer:
        """Train ``model``'s trainable parameters on ``rows`` for ``steps`` steps, with the
        objective ``(masked-LM weight, consistency weight)``; with ``heldout``, evaluated
        every ``eval_steps`` and the best checkpoint kept."""
        mlm_weight, consistency_weight = objective
        args = training_arguments(
            str(self.work / phase),
            max_steps=steps,
            batch_size=self.plan.batch_size,
            learning_rate=learning_rate,
            eval_steps=self.plan.eval_steps if heldout else 0,
            seed=self.config.seed,
            bf16=self.config.bf16,
            fp16=self.config.fp16,
            gradient_accumulation_steps=self.config.gradient_accumulation_steps,
            warmup_ratio=self.config.warmup_ratio,
        )
        if self.overrides:
            args = dataclasses.replace(args, **self.overrides)
        collator = TextMaskingCollator(
            self.tokenizer,
            max_length=self.plan.max_length,
            mlm=mlm_weight > 0,
            pairs=consistency_weight > 0,
        )
        trainer = DebiasTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            eval_dataset=Dataset.from_list(heldout) if heldout else None,
            data_collator=collator,
            processing_class=self.tokenizer,
            mlm_weight=mlm_weight,
            consistency_weight=consistency_weight,
        )
        show_phase(trainer, f"upstream {phase}").train(resume_from_checkpoint=resume_from)
        return trainer


def _freeze(model) -> None:
    for param in model.parameters():
        param.requires_grad_(False)


def warm_up_head(
    phases: Phases, base: BaseModel, train_texts: list[str], before: dict[str, float]
) -> dict[str, Any] | None:
    """Freeze the base model; when its MLM head is untrained, first train only the head on
    the ORIGINAL training texts. Returns the ``head_warmup`` record (None: no warm-up)."""
    model, steps, rate = base.model, phases.plan.head_warmup_steps, phases.plan.head_learning_rate
    _freeze(model)
    if not base.missing_head:
        return None
    if steps <= 0:
        logger.warning(
            "the MLM head is untrained and --head-warmup-steps is 0: MLM scores are not meaningful"
        )
        return None
    for _, param in head_parameters(model):
        param.requires_grad_(True)
    logger.info("warming up the untrained MLM head for %d steps on the original corpus", steps)
    original = [{"text": text, "counterfactual": ""} for text in train_texts]
    phases.train("head-warmup", model, steps=steps, learning_rate=rate, rows=original)
    _freeze(model)
    after = phases.evaluate(model)
    logger.info(
        "head warm-up: held-out masked-token accuracy %.4f -> %.4f (loss %.3f -> %.3f)",
        before["accuracy"], after["accuracy"], before["loss"], after["loss"],
    )  # fmt: skip
    return {
        "steps": steps,
        "learning_rate": rate,
        "missing_head_tensors": base.missing_head,
        "heldout_before": before,
        "heldout_after": after,
    }


def attach_module(phases: Phases, model, rows: list[dict]):
    """The model with a fresh module attached (only the module trainable); sparse methods
    first calibrate with a training phase of the whole model."""
    plan = phases.plan
    method = plan.method
    if method.requires_calibration:
        logger.info("%s: calibration phase of %d steps", method.name, plan.calibration_steps)
        train_fn = partial(
            phases.train,
            "calibration",
            steps=plan.calibration_steps,
            learning_rate=plan.learning_rate,
            rows=rows,
            objective=plan.objective,
        )
        method.calibrate(model, train_fn)
    return method.attach(model)


@dataclass(frozen=True)
class ModuleTraining:
    """The module's training: its trainer, parameter counts and held-out scores."""

    trainer: DebiasTrainer
    parameters: tuple[int, int, float]  # trainable, total, trainable percent
    before: dict[str, float]
    after: dict[str, float]

    @property
    def model(self):
        return self.trainer.model


def train_module(phases: Phases, model, rows: list[dict]) -> ModuleTraining:
    """Train the attached module (continuing the last checkpoint with ``resume``), keeping
    the checkpoint with the best held-out loss."""
    parameters = count_parameters(model)
    before = phases.evaluate(model)
    resume = phases.config.resume and any((phases.work / "module").glob("checkpoint-*"))
    trainer = phases.train(
        "module",
        model,
        steps=phases.plan.max_steps,
        learning_rate=phases.plan.learning_rate,
        rows=rows,
        heldout=phases.heldout,
        objective=phases.plan.objective,
        resume_from=True if resume else None,
    )
    return ModuleTraining(trainer, parameters, before, phases.evaluate(trainer.model))


def loss_curve(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Held-out loss per evaluation step with the mean training loss logged since the
    previous one: ``[{"step", "heldout_loss", "train_loss"}]`` (from ``Trainer`` logs)."""
    curve: list[dict[str, float]] = []
    train: list[float] = []
    for entry in log_history:
        if "loss" in entry:
            train.append(float(entry["loss"]))
        if "eval_loss" in entry:
            curve.append(
                {
                    "step": int(entry["step"]),
                    "heldout_loss": float(entry["eval_loss"]),
                    "train_loss": sum(train) / len(train) if train else None,
                }
            )
            train = []
    return curve


def _training_record(
    config: UpstreamConfig, plan: UpstreamPlan, trainer: DebiasTrainer, started: float
) -> dict[str, Any]:
    """The ``training`` entry of ``debias.json``."""
    return {
        "preset": config.preset,
        "max_steps": plan.max_steps,
        "steps": trainer.state.global_step,
        "eval_steps": plan.eval_steps,
        "batch_size": plan.batch_size,
        "learning_rate": plan.learning_rate,
        "max_length": plan.max_length,
        "seed": config.seed,
        "world_size": trainer.args.world_size,
        "bf16_used": trainer.args.bf16,
        "fp16_used": trainer.args.fp16,
        "gradient_accumulation_steps": trainer.args.gradient_accumulation_steps,
        "warmup_ratio": config.warmup_ratio,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_heldout_loss": trainer.state.best_metric,
        "curve": loss_curve(trainer.state.log_history),
        "seconds": round(time.time() - started, 1),
    }


def artefact_metadata(
    phases: Phases,
    base: BaseModel,
    corpus: Corpus,
    warmup: dict[str, Any] | None,
    training: ModuleTraining,
    started: float,
) -> dict[str, Any]:
    """``debias.json``: how the module was trained and how it scores on the held-out rows.
    The method's options and the base-model fingerprint are stored once, in ``module.json``
    (:mod:`peftdebias.methods.base`)."""
    config, plan = phases.config, phases.plan
    trainable, total, percent = training.parameters
    return {
        "head_warmup": warmup,
        "base_model": config.model,
        "base_model_revision": getattr(training.model.config, "_commit_hash", None),
        "axis": corpus.axis,
        "axes": [word_list.axis for word_list in plan.word_lists],
        "word_list_hash": word_list_hash(plan.word_lists),
        "method": plan.method.name,
        "objective": config.objective,
        "consistency_weight": plan.consistency_weight,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_percent": percent,
        "corpus": corpus.record(config),
        "training": _training_record(config, plan, training.trainer, started),
        "heldout_before": training.before,
        "heldout_after": training.after,
        "masked_token_accuracy_before": training.before["accuracy"],
        "masked_token_accuracy_after": training.after["accuracy"],
        "versions": library_versions(),
    }
