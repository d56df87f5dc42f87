"""``peftdebias restore-mlm``: give an encoder without a trained masked-LM head (e.g. a
sentence-transformers model such as all-MiniLM-L6-v2) its masked-LM skill back.

Trained: the MLM head's own tensors (transform and decoder bias; the decoder weight stays
tied to the frozen input embeddings) plus a LoRA delta (Hu et al. 2022, arXiv 2106.09685) on
every linear layer of the encoder, with the masked-LM loss on packed general text (see
``corpus``), logits at masked positions only. When the head was missing, its decoder bias
starts at the log unigram frequency of the training tokens, ``b_v = log((n_v + 1) / (N + |V|))``,
so training starts from the unigram model instead of a uniform one. Evaluated before, during
and after on the standard held-out set (WikiText-2 test, fixed masking). The artefact is
described in ``artefact``; docs/restoration.md has the design and the measured curve.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import library_versions
from ..errors import ConfigError, OutputExistsError
from ..io import apply_umask, write_json
from .artefact import (
    ADAPTER_CONFIG,
    ARTEFACT_FILES,
    FORMAT,
    HEAD_WEIGHTS,
    RECORD_FILE,
    apply_restoration,
)
from .corpus import HELDOUT, BlockMaskingCollator, heldout_rows, load_texts, pack_blocks
from .options import RestoreConfig


@dataclass
class RestoreResult:
    output: Path
    record: dict[str, Any]


def encoder_targets(model: nn.Module) -> str:
    """A peft ``target_modules`` regex for every linear layer inside the encoder (not the
    head, not a pooler), e.g. ``bert\\..*\\.(dense|key|query|value)``."""
    prefix = model.base_model_prefix
    leaves = sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in getattr(model, prefix).named_modules()
            if isinstance(module, nn.Linear) and ".pooler" not in f".{name}"
        }
    )
    if not leaves:
        raise ConfigError(f"{type(model).__name__} has no linear layers to restore")
    return rf"{re.escape(prefix)}\..*\.({'|'.join(map(re.escape, leaves))})"


def init_decoder_bias(model: nn.Module, blocks: list[list[int]]) -> None:
    """Set the decoder bias to the log unigram frequencies of ``blocks`` (add-one)."""
    bias = model.get_output_embeddings().bias
    counts = torch.bincount(torch.tensor([t for b in blocks for t in b]), minlength=bias.numel())
    counts = counts[: bias.numel()].to(torch.float32)
    with torch.no_grad():
        bias.copy_(torch.log((counts + 1) / (counts.sum() + bias.numel())))


def _attach(model: nn.Module, config: RestoreConfig):
    """The model to train: LoRA on the encoder plus the head (``rank`` 0: the head only)."""
    from peft import LoraConfig, get_peft_model

    from ..training.heads import head_parameters

    if config.rank == 0:
        for param in model.parameters():
            param.requires_grad_(False)
        for _, param in head_parameters(model):
            param.requires_grad_(True)
        return model

    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=0.0,
        target_modules=encoder_targets(model),
        bias="none",
    )
    wrapped = get_peft_model(model, lora)
    for _, param in head_parameters(wrapped):
        param.requires_grad_(True)
    return wrapped


def _arguments(config: RestoreConfig, folder: str):
    from transformers import TrainingArguments

    from ..training.trainer import bf16_available

    bf16 = config.bf16 and bf16_available()
    return TrainingArguments(
        output_dir=folder,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_steps,
        weight_decay=0.0,
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="no",
        logging_steps=min(50, config.eval_steps),
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,  # the bar of training.progress.show_phase (not the log level's)
        use_cpu=not torch.cuda.is_available(),
    )


def _curve(log_history: list[dict[str, Any]], start: dict[str, float]) -> list[dict[str, Any]]:
    points = [{"step": 0, "accuracy": start["accuracy"], "loss": start["loss"]}]
    for entry in log_history:
        if "eval_accuracy" in entry:
            points.append(
                {
                    "step": entry["step"],
                    "accuracy": entry["eval_accuracy"],
                    "loss": entry["eval_loss"],
                }
            )
    return points


def _check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not output.is_dir():
        raise OutputExistsError(f"--output {output} exists and is not a folder")
    present = [name for name in ARTEFACT_FILES if (output / name).exists()]
    if present and not overwrite:
        raise OutputExistsError(
            f"--output {output} already holds a restoration ({', '.join(present)}); "
            "pass --overwrite to replace it"
        )


def _write(model, output: Path, record: dict[str, Any], base_name: str) -> Path:
    """Write the artefact to a temporary sibling folder (adapter, head, record)."""
    from ..training.heads import save_head

    output.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".restoration.", dir=output))
    if hasattr(model, "peft_config"):
        model.save_pretrained(tmp)
        adapter_config = json.loads((tmp / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        adapter_config["base_model_name_or_path"] = base_name  # not this machine's path
        write_json(tmp / ADAPTER_CONFIG, adapter_config)
    save_head(model, tmp / HEAD_WEIGHTS)
    write_json(tmp / RECORD_FILE, record)
    return tmp


def _move_in(tmp: Path, output: Path) -> None:
    """Replace the artefact files in ``output`` by those in ``tmp``, the record last."""
    try:
        (output / RECORD_FILE).unlink(missing_ok=True)
        for name in sorted(ARTEFACT_FILES, key=lambda n: n == RECORD_FILE):
            if (tmp / name).is_file():
                apply_umask(tmp / name)
                os.replace(tmp / name, output / name)
            else:  # a head-only restoration replacing one with an adapter
                (output / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def restore_mlm(config: RestoreConfig) -> RestoreResult:
    """Train and write an MLM restoration; see the module docstring."""
    from ..models import load_masked_lm, load_tokenizer, model_fingerprint
    from ..training.trainer import evaluate_mlm

    output = Path(config.output)
    _check_output(output, config.overwrite)
    started = time.time()
    tokenizer = load_tokenizer(config.model)
    texts, blocks = _training_blocks(config, tokenizer)
    heldout = heldout_rows(tokenizer, config.data_dir, max_length=128, limit=config.heldout_texts)
    pad = tokenizer.pad_token_id
    model, missing = load_masked_lm(config.model)
    fingerprint = model_fingerprint(model)
    before = evaluate_mlm(model, heldout, pad)
    if missing:
        init_decoder_bias(model, blocks)
    wrapped = _attach(model, config)
    curve_rows = heldout[: config.curve_texts]
    curve_start = evaluate_mlm(wrapped, curve_rows, pad)
    trainer = _train(wrapped, tokenizer, blocks, curve_rows, config)
    record = {
        "format": FORMAT, "name": config.name or output.name, "base_model": config.model,
        "base_model_fingerprint": fingerprint, "architecture": type(model).__name__,
        "missing_head_tensors": len(missing),
        "trainable_parameters": sum(p.numel() for p in wrapped.parameters() if p.requires_grad),
        "corpora": {spec: {"texts": len(t)} for spec, t in texts.items()},
        "packed_blocks": len(blocks),
        "training": _training_record(config, model, trainer, len(blocks), time.time() - started),
        "train_loss": [{"step": e["step"], "loss": e["loss"]}
                       for e in trainer.state.log_history if "loss" in e],
        "heldout": {
            "set": f"{HELDOUT[0]} {HELDOUT[1]}: {len(heldout)} paragraphs, <= 128 tokens, "
            "15% masked once with seed 0, unknown tokens not scored",
            "before": before,
            "curve_set": f"the first {len(curve_rows)} of those paragraphs",
            "curve": _curve(trainer.state.log_history, curve_start),
        },
        "command": config.command,
        "versions": library_versions(),
    }  # fmt: skip
    tmp = _write(wrapped, output, record, config.model)
    restored, _ = load_masked_lm(config.model)
    apply_restoration(restored, tmp)
    record["heldout"]["after"] = evaluate_mlm(restored, heldout, pad)
    record["restored_fingerprint"] = model_fingerprint(restored)
    write_json(tmp / RECORD_FILE, record)
    _move_in(tmp, output)
    return RestoreResult(output, record)


def _training_blocks(config: RestoreConfig, tokenizer) -> tuple[dict[str, list[str]], list]:
    """The corpora's texts and their packed blocks (at least one batch of them)."""
    texts = load_texts(config.corpora, config.data_dir, tokenizer.unk_token)
    blocks = pack_blocks(tokenizer, [t for c in texts.values() for t in c], config.max_length,
                         config.seed)  # fmt: skip
    if len(blocks) < config.batch_size:
        raise ConfigError(f"--corpus gives only {len(blocks)} blocks of {config.max_length} "
                          f"tokens, fewer than one batch of {config.batch_size}")  # fmt: skip
    return texts, blocks


def _train(wrapped, tokenizer, blocks: list, curve_rows: list, config: RestoreConfig):
    """Train the head and adapter on the packed blocks; returns the finished Trainer."""
    from datasets import Dataset

    from ..training.progress import show_phase
    from ..training.trainer import DebiasTrainer

    with tempfile.TemporaryDirectory() as work:
        trainer = DebiasTrainer(
            model=wrapped,
            args=_arguments(config, work),
            train_dataset=Dataset.from_dict({"input_ids": blocks}),
            eval_dataset=Dataset.from_list(curve_rows),
            data_collator=BlockMaskingCollator(tokenizer),
            processing_class=tokenizer,
        )
        show_phase(trainer, "restoring the MLM head").train()
    return trainer


def _training_record(config: RestoreConfig, model, trainer, blocks: int, seconds: float):
    """The options, steps, epochs and time of the training, for ``restoration.json``."""
    return {
        **{k: v for k, v in asdict(config).items() if k not in ("output", "overwrite", "command")},
        "bf16_used": trainer.args.bf16,
        "target_modules": encoder_targets(model) if config.rank else None,
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.global_step * config.batch_size / blocks, 2),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(seconds, 1),
    }
