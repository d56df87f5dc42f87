"""A transformers ``Trainer`` for the upstream objectives.

It runs unchanged under ``torchrun``/``accelerate launch`` (the Trainer handles process
groups, samplers and gradient reduction). Held-out evaluation uses a premasked set, so the
loss used for model selection is deterministic, and reports masked-token accuracy too.

Resuming is exact: an interrupted run continued with ``resume_from_checkpoint=True`` ends
with the same module as an uninterrupted one. It resumes from the last *complete* checkpoint
(one whose ``trainer_state.json``, written last, is readable), and the generator states of
the batches the collator had masked ahead of the checkpoint are saved with it and replayed
(see :class:`~peftdebias.training.masking.MaskingRng`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import Trainer, TrainingArguments

from ..errors import ConfigError
from .masking import MaskingRng, pad_premasked
from .objectives import consistency_loss, masked_lm_loss

logger = logging.getLogger(__name__)

MASKING_RNG_FILE = "masking_rng.safetensors"  # in a checkpoint: see DebiasTrainer
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def is_complete_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether the Trainer finished writing checkpoint ``folder``: ``trainer_state.json`` is
    written last, so a checkpoint interrupted while saving has none or a truncated one."""
    try:
        state = json.loads((Path(folder) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and "global_step" in state


def last_complete_checkpoint(folder: str | os.PathLike) -> str | None:
    """The ``checkpoint-N`` folder in ``folder`` with the highest complete N, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    steps = [
        (int(match.group(1)), path)
        for path in folder.iterdir()
        if (match := _CHECKPOINT.match(path.name)) and path.is_dir()
    ]
    for _, path in sorted(steps, reverse=True):
        if is_complete_checkpoint(path):
            return str(path)
        logger.warning("ignoring %s: the checkpoint was not completely written", path)
    return None


def _read_masking_states(path: Path) -> torch.Tensor | None:
    """The generator states a checkpoint saved for replay (see ``DebiasTrainer``), or None
    (with a warning: the resumed run then masks the next batches differently)."""
    expected = torch.random.get_rng_state().numel()
    try:
        states = load_file(str(path))["states"]
        if states.dtype != torch.uint8 or states.dim() != 2 or states.shape[1] != expected:
            raise ValueError(f"states of shape {tuple(states.shape)}, {states.dtype}")
    except FileNotFoundError:
        logger.warning("%s has no %s: resuming is not exact", path.parent, path.name)
        return None
    except (SafetensorError, KeyError, ValueError, OSError) as exc:
        logger.warning("ignoring %s (%s): resuming is not exact", path, exc)
        return None
    return states


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

    ``eval_dataset`` must hold premasked rows (``input_ids``, ``labels``). With a
    :class:`~peftdebias.training.masking.TextMaskingCollator`, resuming from a checkpoint is
    exact (see the module docstring); ``resume_from_checkpoint=True`` means the last complete
    checkpoint, and starts afresh when there is none.
    """

    def __init__(
        self, *args: Any, mlm_weight: float = 1.0, consistency_weight: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.mlm_weight = mlm_weight
        self.consistency_weight = consistency_weight
        self.model_accepts_loss_kwargs = False  # we average per batch ourselves
        self._batches_trained = 0  # batches this process has trained on in this train() call

    # -- exact resume -------------------------------------------------------------------------
    def _masking_rng(self) -> MaskingRng | None:
        collator = self.data_collator
        rng = getattr(collator, "masking_rng", None)
        return rng if isinstance(rng, MaskingRng) and getattr(collator, "mlm", False) else None

    def _masking_rng_file(self) -> str:
        if self.args.world_size <= 1:
            return MASKING_RNG_FILE
        return f"masking_rng_{self.args.process_index}.safetensors"

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        if resume_from_checkpoint is True:
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                logger.warning(
                    "no complete checkpoint in %s: training from the start", self.args.output_dir
                )
        self._batches_trained = 0
        rng = self._masking_rng()
        if rng is not None and resume_from_checkpoint:
            states = _read_masking_states(Path(resume_from_checkpoint) / self._masking_rng_file())
            if states is not None:
                rng.arm(states)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def training_step(self, model, inputs, num_items_in_batch=None):
        self._batches_trained += 1
        return super().training_step(model, inputs, num_items_in_batch)

    def _save_rng_state(self, output_dir: str) -> None:
        # The Trainer saves the generator state S after the step. The loader has already
        # masked the next batch(es) from earlier states: save those too, then S (the state the
        # batch after them is masked from).
        super()._save_rng_state(output_dir)
        rng = self._masking_rng()
        if rng is None:
            return
        pending = rng.pending_states(rng.calls - self._batches_trained)
        if pending is None:
            logger.warning("no masking state recorded for the batches collated ahead")
            return
        states = torch.stack([*pending, torch.random.get_rng_state()])
        os.makedirs(output_dir, exist_ok=True)
        save_file({"states": states}, os.path.join(output_dir, self._masking_rng_file()))

    def _load_rng_state(self, checkpoint: str | None) -> None:
        # The Trainer restores the saved states after fetching the first batch of the resumed
        # epoch (or before iterating, at an epoch boundary). When the collator has replayed the
        # whole script, the CPU generator already stands where the uninterrupted run's did.
        rng = self._masking_rng()
        replayed = rng is not None and rng.replayed > 0 and not rng.armed
        if rng is not None:
            rng.disarm()
        if not replayed:
            super()._load_rng_state(checkpoint)
            return
        current = torch.random.get_rng_state()
        super()._load_rng_state(checkpoint)  # python, numpy and accelerator generators
        torch.random.set_rng_state(current)

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
    bf16: bool = False,
    fp16: bool = False,
    gradient_accumulation_steps: int = 1,
    warmup_ratio: float = 0.0,
) -> TrainingArguments:
    """Trainer arguments shared by head warm-up, calibration and module training; see
    :func:`mixed_precision` for ``bf16``/``fp16``. ``max_steps`` counts optimizer steps (of
    ``gradient_accumulation_steps`` batches each); the learning rate rises linearly over the
    first ``warmup_ratio`` of them, then decays linearly to 0."""
    return TrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 32),
        gradient_accumulation_steps=gradient_accumulation_steps,
        learning_rate=learning_rate,
        warmup_steps=warmup_ratio,  # below 1: a fraction of the steps (transformers 5)
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
        disable_tqdm=False,  # the bar of training.progress.show_phase (not the log level's)
        **mixed_precision(bf16, fp16),
    )


def check_precision(bf16: bool, fp16: bool) -> None:
    """``fp16`` needs a CUDA GPU, and excludes ``bf16``; :class:`ConfigError` otherwise."""
    if bf16 and fp16:
        raise ConfigError("--bf16 and --fp16 exclude each other; choose one")
    if fp16 and not torch.cuda.is_available():
        raise ConfigError(
            "--fp16 needs a CUDA GPU and none is available; on a CPU use --bf16 (bfloat16 "
            "autocast) or neither"
        )


def mixed_precision(bf16: bool, fp16: bool) -> dict[str, bool]:
    """The Trainer's ``bf16``/``fp16`` arguments: ``bf16`` trains under bfloat16 autocast
    (fp32 weights) where :func:`bf16_available`, else in fp32; ``fp16``, float16 mixed
    precision with loss scaling, on a CUDA GPU only (:func:`check_precision`)."""
    check_precision(bf16, fp16)
    return {"bf16": bf16 and bf16_available(), "fp16": fp16}


def bf16_available() -> bool:
    """Whether bfloat16 autocast is fast here: a GPU, or a CPU with AVX-512 (``avx512_bf16``
    or AMX). Elsewhere ``bf16`` options fall back to fp32 (the metadata records which ran)."""
    return torch.cuda.is_available() or torch.backends.cpu.get_cpu_capability() in (
        "AVX512",
        "AVX512_BF16",
        "AMX",
    )
