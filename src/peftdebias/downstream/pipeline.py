"""The downstream phase as one sequence of steps (see the package docstring)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset

from ..io import prepare_output_dir, write_json
from ..metrics import MetricOptions, axis_terms, read_terms
from ..models import load_tokenizer
from .classifier import save_classifier
from .config import (
    DownstreamConfig,
    DownstreamPlan,
    DownstreamResult,
    resolve_plan,
    validate_downstream,
)
from .evaluations import EVALUATIONS
from .model import build_model, check_frozen, module_checksums
from .prediction import evaluate_datasets
from .splits import load_splits
from .training import add_counterfactuals, fine_tune

logger = logging.getLogger(__name__)

# the splits whose predictions train_downstream writes (predictions-<split>.jsonl): dev,
# test and the extra split of each task evaluation
PREDICTION_SPLITS = ("dev", "test", *(e.split for e in EVALUATIONS.values() if e.split))
# what train_downstream writes into its output folder: --overwrite removes these (and
# nothing else) first, so no file of an earlier run is left beside the new metrics
OUTPUTS = (
    "metrics.json",
    "model",
    "checkpoints",
    *(f"predictions-{split}.jsonl" for split in PREDICTION_SPLITS),
)


def train_downstream(config: DownstreamConfig) -> DownstreamResult:
    """Run the downstream phase described by ``config``: fine-tune on the task (any module
    frozen), then predict and score the dev, test and task-specific splits."""
    config = validate_downstream(config)  # every option and file, before anything is trained
    plan = resolve_plan(config)
    output = prepare_output_dir(
        config.output, config.overwrite, owned=OUTPUTS, resume=config.resume
    )
    started = time.time()
    splits, num_labels = load_splits(config, plan)
    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    splits = plan.evaluation.prepare(splits, tokenizer, plan.max_length)
    splits["train"], counterfactuals = add_counterfactuals(config, plan, splits["train"])
    model = build_model(config, num_labels)
    modules_before = module_checksums(model)
    trainer = fine_tune(config, plan, model, tokenizer, splits, num_labels)
    module_after, modules = check_frozen(trainer.model, modules_before)
    metrics: dict[str, Any] = {"task": plan.task.name, "start": plan.start, "splits": {}}
    if config.baseline:
        metrics["baseline"] = config.baseline
    if not trainer.is_world_process_zero():
        return DownstreamResult(output, metrics)
    evaluation_started = time.time()
    metrics["splits"] = evaluate_splits(config, plan, trainer.model, tokenizer, splits)
    metrics.update(
        {
            "config": asdict(config),
            "selection_metric": plan.task.metric,
            "num_labels": num_labels,
            "train_examples": len(splits["train"]),
            "counterfactuals": counterfactuals,
            "module_frozen_checksum": module_after,
            "modules": modules or None,
            "steps": trainer.state.global_step,
            "bf16_used": trainer.args.bf16,
            "fp16_used": trainer.args.fp16,
            "evaluation_seconds": round(time.time() - evaluation_started, 1),
            "seconds": round(time.time() - started, 1),
        }
    )
    save_classifier(
        trainer.model, output / "model", config, num_labels, _manifest(config, plan, splits)
    )
    write_json(output / "metrics.json", metrics)
    return DownstreamResult(output, metrics)


def metric_options(config: DownstreamConfig, plan: DownstreamPlan) -> MetricOptions:
    """The FPRD identity terms (``fprd_terms`` file, else ``fprd_axis``) and the task's
    neutral class."""
    if config.fprd_terms:
        terms, source = read_terms(config.fprd_terms), config.fprd_terms
    else:
        terms, source = axis_terms(config.fprd_axis), config.fprd_axis
    neutral_index = plan.evaluation.neutral_index(plan.task)
    return MetricOptions(terms=terms, terms_source=source, neutral_index=neutral_index)


def evaluate_splits(
    config: DownstreamConfig, plan: DownstreamPlan, model, tokenizer, splits: dict[str, Dataset]
) -> dict[str, Any]:
    """Predict and score the dev and test splits and the task evaluation's extra split."""
    evaluation = plan.evaluation
    evaluated = {"dev": splits["dev"], "test": splits["test"]}
    extra = evaluation.extra_split(config, plan)
    if extra is not None:
        evaluated[evaluation.split] = extra
    if evaluation.metrics and (extra is not None or evaluation.split is None):
        logger.info(
            "task %s: %s evaluation (%s on %s): %s", plan.task.name, evaluation.display,
            ", ".join(evaluation.metrics), evaluation.split or "dev and test", evaluation.help,
        )  # fmt: skip
    return evaluate_datasets(
        model, tokenizer, evaluated, Path(config.output), metric_options(config, plan),
        plan.max_length, batch_size=config.inference_batch_size, precision=config.precision,
        bootstrap_resamples=config.bootstrap_resamples, seed=config.seed,
    )  # fmt: skip


def _manifest(
    config: DownstreamConfig, plan: DownstreamPlan, splits: dict[str, Dataset]
) -> dict[str, Any]:
    """What the saved classifier's manifest records for ``predict_file``."""
    label_feature = splits["test"].features.get("label")
    label_names = getattr(label_feature, "names", None) or plan.task.label_names or []
    return {
        "task": plan.task.name,
        "max_length": plan.max_length,
        "fprd_axis": None if config.fprd_terms else config.fprd_axis,
        "label_names": list(label_names),
    }
