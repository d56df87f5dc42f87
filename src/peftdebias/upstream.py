"""Upstream phase of PEFTDebias: learn a debiasing module with CDA + masked LM.

1. Load the base model with a masked-LM head. If the checkpoint has no trained head (the
   default MiniLM), warm the head up on the ORIGINAL corpus with the encoder frozen, then
   freeze it.
2. Augment the corpus with counterfactual data augmentation along one bias axis (or several,
   ``axis="gender,race"``: every text gets the counterfactuals of each axis it matches, one
   joint module; ``cda.MultiAxisAugmenter``); hold out a slice of the original texts (split
   before augmentation, so no counterfactual of a held-out sentence is trained on).
3. Attach the PEFT module (every backbone weight frozen) and train only the module with the
   masked-LM objective (optionally plus counterfactual consistency), keeping the checkpoint
   with the best held-out loss.
4. Save the module (safetensors + config) and ``debias.json`` metadata, atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset

from .errors import ConfigError, DataError
from .io import owned_entries, prepare_output_dir, remove_entries, write_json
from .methods.base import METADATA_FILE, MODULE_CONFIG, MODULE_WEIGHTS
from .models import load_masked_lm, load_tokenizer, model_fingerprint
from .presets import batch_size_for, upstream_preset
from .training.heads import head_parameters, load_head, save_head
from .training.masking import TextMaskingCollator, premask
from .training.objectives import OBJECTIVES
from .training.trainer import DebiasTrainer, evaluate_mlm, training_arguments
from .validation import validate_upstream

logger = logging.getLogger(__name__)

HEAD_FILE = "mlm_head.safetensors"  # the warmed-up MLM head, when the base model had none
# the artefact's files whatever the method, besides those its debias.json lists (`files`)
ARTEFACT_FILES = (METADATA_FILE, HEAD_FILE, MODULE_CONFIG, MODULE_WEIGHTS)
# what `upstream` writes into its output folder: --overwrite removes these (and the files
# the earlier artefact's debias.json lists) before training, and nothing else
OUTPUTS = (*ARTEFACT_FILES, "checkpoints", ".module.*.tmp")


@dataclass
class UpstreamConfig:
    """Options of ``peftdebias upstream``; ``None`` values come from the preset."""

    axis: str  # a CDA axis or word-list file; several joined by commas ("gender,race")
    corpus: str
    method: str
    output: str
    model: str = "minilm"
    preset: str = "quick"
    data_dir: str | None = None
    corpus_split: str = "train"
    max_steps: int | None = None
    eval_steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    max_length: int | None = None
    head_warmup_steps: int | None = None
    calibration_steps: int | None = None
    max_texts: int | None = None
    objective: str = "mlm"
    consistency_weight: float = 1.0
    keep_original: bool = True
    bf16: bool = False  # train under bfloat16 autocast (fp32 weights; falls back to fp32)
    seed: int = 42
    method_options: dict[str, Any] = field(default_factory=dict)
    overwrite: bool = False
    resume: bool = False


@dataclass
class UpstreamResult:
    output: Path
    metadata: dict[str, Any]


def _word_list_hash(word_lists) -> str:
    """Hash of the word list's tuples (several axes: of the lists of tuples, in axis order)."""
    tuples = [[list(t) for t in word_list.tuples] for word_list in word_lists]
    canonical = json.dumps(tuples[0] if len(tuples) == 1 else tuples, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_corpus(texts: list[str], augmenter, keep_original: bool) -> tuple[list[dict], int]:
    """Rows ``{"text", "counterfactual"}`` for the trainer, and how many texts matched.

    Every original text with at least one attribute word yields one row per counterfactual
    (``text`` = counterfactual, ``counterfactual`` = original, for the consistency pairs);
    originals are kept as rows of their own (paired with their first counterfactual) when
    ``keep_original`` (two-sided CDA), and texts without any attribute word stay as plain
    MLM text.
    """
    rows: list[dict] = []
    matched = 0
    for text in texts:
        counterfactuals = augmenter.counterfactuals(text)
        if counterfactuals:
            matched += 1
            if keep_original:
                rows.append({"text": text, "counterfactual": counterfactuals[0]})
            rows.extend({"text": cf, "counterfactual": text} for cf in counterfactuals)
        elif keep_original:
            rows.append({"text": text, "counterfactual": ""})
    return rows, matched


def _split(texts: list[str], fraction: float, cap: int, seed: int) -> tuple[list[str], list[str]]:
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed)).tolist()
    n_eval = max(1, min(cap, round(len(texts) * fraction)))
    held = set(order[:n_eval])
    train = [t for i, t in enumerate(texts) if i not in held]
    return train, [texts[i] for i in sorted(held)]


def _library_versions() -> dict[str, str]:
    import datasets
    import peft
    import transformers

    from ._version import __version__

    return {
        "peftdebias": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "datasets": datasets.__version__,
    }


def _train(
    model,
    tokenizer,
    rows: list[dict],
    eval_rows: list[dict],
    args,
    *,
    max_length: int,
    mlm_weight: float,
    consistency_weight: float,
    resume_from: bool | None = None,
) -> DebiasTrainer:
    collator = TextMaskingCollator(
        tokenizer, max_length=max_length, mlm=mlm_weight > 0, pairs=consistency_weight > 0
    )
    trainer = DebiasTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        data_collator=collator,
        processing_class=tokenizer,
        mlm_weight=mlm_weight,
        consistency_weight=consistency_weight,
    )
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer


def train_upstream(config: UpstreamConfig) -> UpstreamResult:
    """Run the upstream phase described by ``config``; see the module docstring."""
    config = validate_upstream(config)  # every option and file, before anything is loaded
    from .cda import axis_augmenter, load_axes
    from .data import load_text_corpus
    from .methods import count_parameters, get_method

    if config.objective not in OBJECTIVES:
        raise ConfigError(
            f"unknown --objective {config.objective!r}; valid: {', '.join(OBJECTIVES)}"
        )
    preset = upstream_preset(config.preset)
    method = get_method(config.method, **config.method_options)
    word_lists = load_axes(config.axis, data_dir=config.data_dir)  # "gender,race": joint
    augmenter = axis_augmenter(word_lists)
    output = Path(config.output)
    prepare_output_dir(
        output, config.overwrite, owned=(*OUTPUTS, *_recorded_files(output)), resume=config.resume
    )

    def pick(value, default):
        return default if value is None else value

    max_steps = pick(config.max_steps, preset.max_steps)
    eval_steps = min(pick(config.eval_steps, preset.eval_steps), max_steps)
    batch_size = pick(
        config.batch_size, max(batch_size_for(config.preset, wl.axis) for wl in word_lists)
    )
    learning_rate = pick(config.learning_rate, preset.learning_rate)
    max_length = pick(config.max_length, preset.max_length)
    warmup_steps = pick(config.head_warmup_steps, preset.head_warmup_steps)
    # gradient-only calibrations (gps, spt) ask for a few batches, not the preset's run
    calibration_steps = pick(
        config.calibration_steps, method.calibration_steps or preset.calibration_steps
    )

    started = time.time()
    texts = list(
        load_text_corpus(config.corpus, data_dir=config.data_dir, split=config.corpus_split)
    )
    if config.max_texts:
        texts = texts[: config.max_texts]
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise DataError(f"corpus {config.corpus!r} has no text")
    train_texts, eval_texts = _split(
        texts, preset.eval_fraction, preset.max_eval_texts, config.seed
    )
    rows, matched = build_corpus(train_texts, augmenter, config.keep_original)
    if matched == 0:
        raise DataError(
            f"corpus {config.corpus!r}: none of its {len(train_texts)} training texts contains "
            f"a word of the {augmenter.axis!r} word list, so CDA has nothing to augment"
        )
    eval_rows_text, _ = build_corpus(eval_texts, augmenter, keep_original=True)
    logger.info(
        "corpus %s: %d texts (%d held out); %d contain %s words; %d training rows after CDA",
        config.corpus,
        len(texts),
        len(eval_texts),
        matched,
        augmenter.axis,
        len(rows),
    )

    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    model, missing_head = load_masked_lm(config.model)
    fingerprint = model_fingerprint(model)
    eval_rows = premask(tokenizer, [r["text"] for r in eval_rows_text], max_length, config.seed)
    pad = tokenizer.pad_token_id

    work = output / "checkpoints"

    def run(sub: str, steps: int, lr: float, train_rows, heldout, objective=(1.0, 0.0), **kw):
        args = training_arguments(
            str(work / sub),
            max_steps=steps,
            batch_size=batch_size,
            learning_rate=lr,
            eval_steps=eval_steps if heldout else 0,
            seed=config.seed,
            bf16=config.bf16,
        )
        return _train(
            kw.pop("target", model),
            tokenizer,
            train_rows,
            heldout,
            args,
            max_length=max_length,
            mlm_weight=objective[0],
            consistency_weight=objective[1],
            **kw,
        )

    metadata: dict[str, Any] = {"head_warmup": None}
    before_base = evaluate_mlm(model, eval_rows, pad)

    # 1. MLM head warm-up (only when the checkpoint has no trained head)
    for param in model.parameters():
        param.requires_grad_(False)
    if missing_head and warmup_steps > 0:
        original_rows = [{"text": t, "counterfactual": ""} for t in train_texts]
        for _, param in head_parameters(model):
            param.requires_grad_(True)
        logger.info(
            "warming up the untrained MLM head for %d steps on the original corpus", warmup_steps
        )
        run("head-warmup", warmup_steps, preset.head_learning_rate, original_rows, [])
        for param in model.parameters():
            param.requires_grad_(False)
        after_warmup = evaluate_mlm(model, eval_rows, pad)
        metadata["head_warmup"] = {
            "steps": warmup_steps,
            "learning_rate": preset.head_learning_rate,
            "missing_head_tensors": missing_head,
            "heldout_before": before_base,
            "heldout_after": after_warmup,
        }
        logger.info(
            "head warm-up: held-out masked-token accuracy %.4f -> %.4f (loss %.3f -> %.3f)",
            before_base["accuracy"],
            after_warmup["accuracy"],
            before_base["loss"],
            after_warmup["loss"],
        )
    elif missing_head:
        logger.warning(
            "the MLM head is untrained and --head-warmup-steps is 0: MLM scores are not meaningful"
        )

    # 2. attach the module; sparse methods first calibrate with a full training phase
    mlm_weight = 0.0 if config.objective == "consistency" else 1.0
    consistency_weight = config.consistency_weight if "consistency" in config.objective else 0.0
    objective = (mlm_weight, consistency_weight)

    def train_fn(full_model) -> None:
        run("calibration", calibration_steps, learning_rate, rows, [], objective, target=full_model)

    if method.requires_calibration:
        logger.info("%s: calibration phase of %d steps", method.name, calibration_steps)
        method.calibrate(model, train_fn)
    model = method.attach(model)
    trainable, total, percent = count_parameters(model)
    before = evaluate_mlm(model, eval_rows, pad)

    # 3. train the module
    resume_from = True if config.resume and any((work / "module").glob("checkpoint-*")) else None
    trainer = run(
        "module",
        max_steps,
        learning_rate,
        rows,
        eval_rows,
        objective,
        target=model,
        resume_from=resume_from,
    )
    model = trainer.model
    after = evaluate_mlm(model, eval_rows, pad)

    metadata.update(
        {
            "format": "peftdebias-module/1",
            "base_model": config.model,
            "base_model_fingerprint": fingerprint,
            "base_model_revision": getattr(model.config, "_commit_hash", None),
            "axis": augmenter.axis,
            "axes": [word_list.axis for word_list in word_lists],
            "word_list_hash": _word_list_hash(word_lists),
            "method": method.name,
            "method_config": dataclasses.asdict(method.config),
            "objective": config.objective,
            "consistency_weight": consistency_weight,
            "trainable_parameters": trainable,
            "total_parameters": total,
            "trainable_percent": percent,
            "corpus": {
                "name": config.corpus,
                "split": config.corpus_split,
                "texts": len(texts),
                "train_texts": len(train_texts),
                "heldout_texts": len(eval_texts),
                "texts_with_attribute_words": matched,
                "training_rows_after_cda": len(rows),
                "keep_original": config.keep_original,
            },
            "training": {
                "preset": config.preset,
                "max_steps": max_steps,
                "steps": trainer.state.global_step,
                "eval_steps": eval_steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "max_length": max_length,
                "seed": config.seed,
                "world_size": trainer.args.world_size,
                "bf16_used": trainer.args.bf16,
                "best_checkpoint": trainer.state.best_model_checkpoint,
                "best_heldout_loss": trainer.state.best_metric,
                "curve": loss_curve(trainer.state.log_history),
                "seconds": round(time.time() - started, 1),
            },
            "heldout_before": before,
            "heldout_after": after,
            "masked_token_accuracy_before": before["accuracy"],
            "masked_token_accuracy_after": after["accuracy"],
            "versions": _library_versions(),
        }
    )
    if trainer.is_world_process_zero():
        _save(method, model, tokenizer, output, metadata)
    return UpstreamResult(output, metadata)


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


def _recorded_files(output: Path) -> list[str]:
    """The files the artefact in ``output`` recorded in its ``debias.json`` (plain names)."""
    try:
        files = json.loads((output / METADATA_FILE).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(files, list):
        return []
    return [
        name
        for name in files
        if isinstance(name, str)
        and name not in {"", ".", ".."}
        and not any(char in name for char in "/\\*?[]")
    ]


def _save(method, model, tokenizer, output: Path, metadata: dict[str, Any]) -> None:
    """Write the module and ``debias.json`` so that a reader never sees a partial artefact:
    files go to a temporary folder first, ``debias.json`` is moved in last, and the files of
    an earlier artefact in ``output`` that this one does not have (a warmed-up head, a
    method's weights) are removed, so none is read with the new ``debias.json``. The files
    written are listed in ``debias.json`` (``files``)."""
    tmp = Path(tempfile.mkdtemp(prefix=".module.", suffix=".tmp", dir=output))
    try:
        method.save(model, tmp, overwrite=True)
        tokenizer.save_pretrained(tmp)
        if metadata.get("head_warmup"):
            save_head(model, tmp / HEAD_FILE)
        metadata["files"] = sorted({item.name for item in tmp.iterdir()} | {METADATA_FILE})
        write_json(tmp / METADATA_FILE, metadata)
        earlier = owned_entries(output, (*ARTEFACT_FILES, *_recorded_files(output)))
        (output / METADATA_FILE).unlink(missing_ok=True)
        remove_entries(p for p in earlier if p.name not in metadata["files"] and p != tmp)
        for item in sorted(tmp.iterdir(), key=lambda p: p.name == METADATA_FILE):
            target = output / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_debiased_lm(
    model: str = "minilm",
    debias: str | os.PathLike | list[str | os.PathLike] | None = None,
    full_debias: str | os.PathLike | None = None,
    head_from: str | os.PathLike | None = None,
):
    """``(masked LM, tokenizer, missing MLM-head keys)`` of ``model``, of ``model`` with the
    upstream module in ``debias`` attached (a list: several composed, ``methods.compose``),
    or of the Full-Debias model in ``full_debias``.

    A module trained on a base model without an MLM head carries the head it warmed up
    (``mlm_head.safetensors``); it is loaded too, so intrinsic scores use the same trained
    head the module was trained with, and no head key counts as missing (composed modules:
    at most one may carry a head). ``head_from`` loads only that head from a module folder,
    not the module: the base model's reference row for such modules.
    """
    from .methods.compose import as_folders, load_modules

    folders = as_folders(debias)
    heads = [Path(folder) / HEAD_FILE for folder in folders if (Path(folder) / HEAD_FILE).is_file()]
    if len(heads) > 1:
        raise ConfigError(
            f"--debias {' '.join(folders)}: {len(heads)} modules carry their own warmed-up MLM "
            "head (their base model has no trained one) and a masked LM has one head; compose "
            "modules learned on a model with a trained MLM head (e.g. minilm)"
        )
    source = str(full_debias) if full_debias else model
    lm, missing = load_masked_lm(source)
    if head_from:
        head = Path(head_from) / HEAD_FILE
        if not head.is_file():
            raise ConfigError(f"--head-from {head_from}: no {HEAD_FILE} (the module's base "
                              "model had a trained MLM head, so none was warmed up)")  # fmt: skip
        load_head(lm, head)
        missing = []
    if heads:
        load_head(lm, heads[0])
        missing = []
    if folders:
        lm = load_modules(lm, folders)
    return lm, load_tokenizer(source), missing
