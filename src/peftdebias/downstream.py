"""Downstream phase of PEFTDebias: fine-tune on a task with the debiasing module frozen.

Three starting points, one code path:

- ``debias=DIR``: the base model plus the upstream module from DIR; the module is FROZEN and
  everything else (backbone and classification head) is fine-tuned (the paper's PEFTDebias);
- ``full_debias=DIR``: the whole CDA-MLM model from DIR, fine-tuned (Full-Debias baseline);
- ``baseline="ft"``: the plain base model, fine-tuned (FT baseline).

Model selection on the dev split by the task metric; predictions for dev and test (and, for
hate-speech tasks, the out-of-domain IPTTS set) go to ``predictions-<split>.jsonl`` and all
metrics to ``metrics.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from safetensors.torch import load_model, save_model
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

from .errors import ConfigError, DataError
from .io import atomic_dir, prepare_output_dir, write_json
from .models import load_sequence_classifier, load_tokenizer
from .tasks import TaskSpec, crop_to_mentions, get_task, load_task_splits

logger = logging.getLogger(__name__)

MANIFEST = "downstream.json"


@dataclass(frozen=True)
class DownstreamPreset:
    epochs: float
    batch_size: int
    learning_rate: float
    max_length: int
    max_train_examples: int | None
    max_eval_examples: int | None
    max_bias_nli_examples: int | None  # seeded sample of the ~1.06M Bias-NLI pairs


DOWNSTREAM_PRESETS = {
    # reference code: max length 128, lr 2e-5, batch 32; Bias-NLI on every pair
    "paper": DownstreamPreset(3, 32, 2e-5, 128, None, None, None),
    # 2-core CPU: a subsample of the training set, shorter inputs
    "quick": DownstreamPreset(1, 32, 5e-5, 64, 2000, 1000, 10_000),
}


@dataclass
class DownstreamConfig:
    """Options of ``peftdebias downstream``; ``None`` values come from the preset."""

    task: str
    output: str
    model: str = "minilm"
    debias: str | None = None
    full_debias: str | None = None
    baseline: str | None = None
    preset: str = "quick"
    epochs: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    max_length: int | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    class_weights: dict[int, float] | None = None
    freeze_layernorm: bool = False
    fprd_axis: str = "group"
    fprd_terms: str | None = None
    iptts: bool = True
    max_iptts_examples: int | None = None  # seeded IPTTS subsample (None: all 76,564 rows)
    bias_nli: bool = True  # NLI tasks: score the Bias-NLI template pairs
    max_bias_nli_examples: int | None = None  # seeded sample of the pairs (None: the preset's)
    columns: dict[str, str | None] = field(default_factory=dict)
    seed: int = 42
    data_dir: str | None = None
    overwrite: bool = False
    resume: bool = False


@dataclass
class DownstreamResult:
    output: Path
    metrics: dict[str, Any]


def _start(config: DownstreamConfig) -> str:
    chosen = [
        name
        for name, value in (
            ("debias", config.debias),
            ("full_debias", config.full_debias),
            ("baseline", config.baseline),
        )
        if value
    ]
    if len(chosen) != 1:
        raise ConfigError("give exactly one of --debias DIR, --full-debias DIR, --baseline ft")
    if config.baseline and config.baseline != "ft":
        raise ConfigError(f"unknown --baseline {config.baseline!r}; valid: ft")
    return chosen[0]


def _subsample(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    if limit is None or len(dataset) <= limit:
        return dataset
    return dataset.shuffle(seed=seed).select(range(limit))


def _neutral_index(task: TaskSpec) -> int:
    """Index of the *neutral* class: from the task's label names, else our NLI encoding
    (entailment, neutral, contradiction)."""
    from .data.sources.nli import NLI_LABELS

    names = [name.lower() for name in (task.label_names or NLI_LABELS)]
    if "neutral" not in names:
        raise ConfigError(f"task {task.name}: no 'neutral' label among {', '.join(names)}")
    return names.index("neutral")


def _num_labels(task: TaskSpec, splits: dict[str, Dataset]) -> int:
    labels = set()
    for split in splits.values():
        labels.update(split["label"])
    observed = max(labels) + 1
    if task.num_labels is not None and observed > task.num_labels:
        raise DataError(
            f"task {task.name}: label {observed - 1} exceeds its {task.num_labels} classes"
        )
    return task.num_labels or observed


def build_model(config: DownstreamConfig, num_labels: int):
    """The classifier to fine-tune, with the debiasing module (if any) attached and frozen."""
    from .methods import load_module, set_trainable

    start = _start(config)
    model = load_sequence_classifier(config.model, num_labels=num_labels)
    if start == "debias":
        model = load_module(model, config.debias)
        set_trainable(model, module=False, backbone=True, head=True)
    elif start == "full_debias":  # the whole CDA-MLM encoder, all of it fine-tuned
        model = load_module(model, config.full_debias, trainable=True)
        set_trainable(model, module=True, backbone=True, head=True)
    return model


def _module_checksum(model) -> str | None:
    """sha256 over the frozen parameters that belong to the module (None without a module)."""
    frozen = [(n, p) for n, p in model.named_parameters() if not p.requires_grad]
    if not frozen:
        return None
    digest = hashlib.sha256()
    for name, param in sorted(frozen, key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(param.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()[:16]


class WeightedTrainer(Trainer):
    """Trainer with class-weighted cross-entropy (the reference code's hate-speech weights)."""

    def __init__(self, *args: Any, class_weights: torch.Tensor | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.class_weights = class_weights
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        weight = (
            None if self.class_weights is None else self.class_weights.to(outputs.logits.device)
        )
        loss = F.cross_entropy(outputs.logits.float(), labels, weight=weight)
        return (loss, outputs) if return_outputs else loss


def _tokenize(dataset: Dataset, tokenizer, max_length: int) -> Dataset:
    pair = "text_pair" in dataset.column_names

    def encode(batch):
        return tokenizer(
            batch["text"],
            batch["text_pair"] if pair else None,
            truncation=True,
            max_length=max_length,
        )

    keep = {"input_ids", "attention_mask", "token_type_ids", "label"}
    encoded = dataset.map(encode, batched=True, desc="tokenizing")
    return encoded.remove_columns([c for c in encoded.column_names if c not in keep]).rename_column(
        "label", "labels"
    )


@torch.no_grad()
def predict(
    model, tokenizer, dataset: Dataset, max_length: int, batch_size: int = 64
) -> np.ndarray:
    """Class probabilities ``[n, num_labels]`` of ``model`` on ``dataset`` (text[, text_pair]).

    Inputs are tokenized once and batched in order of length, so a batch carries little
    padding; the rows come back in the dataset's order.
    """
    model.eval()
    device = next(model.parameters()).device
    texts = dataset["text"][:]
    pairs = dataset["text_pair"][:] if "text_pair" in dataset.column_names else None
    encoded = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer.pad(
            [{key: encoded[key][i] for key in encoded} for i in rows], return_tensors="pt"
        ).to(device)
        probs[rows] = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
    return probs


# columns copied into the predictions file: TPR-GAP groups, IPTTS templates, GAP pronouns,
# the Bias-NLI pair's words
_EXTRA_FIELDS = ("attribute", "template", "pronoun", "occupation", "gender_word", "gender")


def prediction_rows(dataset: Dataset, probs: np.ndarray) -> list[dict[str, Any]]:
    """Rows of the predictions file (format in ``peftdebias.metrics.predictions``)."""
    extras = [c for c in _EXTRA_FIELDS if c in dataset.column_names]
    rows = []
    for index, (row, p) in enumerate(zip(dataset, probs, strict=True)):
        record = {
            "id": str(row.get("id", index)),
            "text": row["text"],
            "gold": int(row["label"]),
            "pred": int(p.argmax()),
            "probs": [round(float(x), 6) for x in p],
        }
        if "text_pair" in row:
            record["text_pair"] = row["text_pair"]
        record.update({c: row[c] for c in extras})
        rows.append(record)
    return rows


def save_classifier(model, folder: Path, config: DownstreamConfig, num_labels: int):
    """Save the fine-tuned classifier so that :func:`load_classifier` rebuilds it exactly.

    ``model.safetensors`` holds every tensor of the model as trained (backbone, head and the
    frozen module, under the names the module's wrapper gives them); a copy of the module
    folder (``module/``) and ``downstream.json`` say how to rebuild the wrapper first.
    """
    with atomic_dir(folder) as tmp:
        start = _start(config)
        source = config.debias or config.full_debias
        if source:
            shutil.copytree(source, tmp / "module", ignore=shutil.ignore_patterns("checkpoints"))
        # save_model keeps one copy of tensors that wrappers share (prompt/prefix tuning)
        save_model(model, str(tmp / "model.safetensors"))
        write_json(
            tmp / MANIFEST,
            {"base_model": config.model, "start": start, "num_labels": num_labels},
        )


def load_classifier(folder: str | Path):
    """The classifier saved by :func:`save_classifier` and its tokenizer."""
    from .methods import load_module

    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise DataError(f"{folder} is not a downstream model folder (no {MANIFEST})")
    manifest = json.loads((folder / MANIFEST).read_text())
    model = load_sequence_classifier(manifest["base_model"], num_labels=manifest["num_labels"])
    if manifest["start"] != "baseline":
        model = load_module(model, folder / "module")
    load_model(model, str(folder / "model.safetensors"))
    return model.eval(), load_tokenizer(manifest["base_model"])


def train_downstream(config: DownstreamConfig) -> DownstreamResult:
    """Run the downstream phase described by ``config``; see the module docstring."""
    from .metrics import MetricOptions, axis_terms, compute_metrics, read_predictions, read_terms
    from .metrics.predictions import write_predictions

    start = _start(config)
    task = get_task(config.task)
    try:
        preset = DOWNSTREAM_PRESETS[config.preset]
    except KeyError:
        raise ConfigError(
            f"unknown --preset {config.preset!r}; valid: {', '.join(DOWNSTREAM_PRESETS)}"
        ) from None

    def pick(value, default):
        return default if value is None else value

    epochs = pick(config.epochs, preset.epochs)
    batch_size = pick(config.batch_size, preset.batch_size)
    learning_rate = pick(config.learning_rate, preset.learning_rate)
    max_length = pick(config.max_length, preset.max_length)
    max_train = pick(config.max_train_examples, preset.max_train_examples)
    max_eval = pick(config.max_eval_examples, preset.max_eval_examples)
    max_bias_nli = pick(config.max_bias_nli_examples, preset.max_bias_nli_examples)
    class_weights = config.class_weights if config.class_weights is not None else task.class_weights

    output = Path(config.output)
    if not config.resume:
        prepare_output_dir(output, config.overwrite)
    started = time.time()
    splits = load_task_splits(task, config.data_dir, config.seed, config.columns)
    num_labels = _num_labels(task, splits)
    splits = {
        "train": _subsample(splits["train"], max_train, config.seed),
        "dev": _subsample(splits["dev"], max_eval, config.seed),
        "test": _subsample(splits["test"], max_eval, config.seed),
    }
    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    if task.coreference:  # keep the marked mentions inside max_length
        splits = {
            role: split.map(
                lambda row: {"text": crop_to_mentions(row["text"], tokenizer, max_length)},
                desc=f"cropping {role} to the mentions",
            )
            for role, split in splits.items()
        }
    model = build_model(config, num_labels)
    if config.freeze_layernorm:
        for name, param in model.named_parameters():
            if "layernorm" in name.lower().replace("_", ""):
                param.requires_grad_(False)
    module_before = _module_checksum(model) if start == "debias" else None
    weights = None
    if class_weights:
        weights = torch.tensor([float(class_weights.get(c, 1.0)) for c in range(num_labels)])

    metric = task.metric

    def selection_metrics(prediction) -> dict[str, float]:
        from .metrics.classification import classification_scores

        scores = classification_scores(prediction.label_ids, prediction.predictions.argmax(-1))
        return {"accuracy": scores.accuracy, "macro_f1": scores.macro_f1}

    args = TrainingArguments(
        output_dir=str(output / "checkpoints"),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(64, batch_size),
        learning_rate=learning_rate,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=True,
        logging_steps=10,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    trainer = WeightedTrainer(
        model=model,
        args=args,
        train_dataset=_tokenize(splits["train"], tokenizer, max_length),
        eval_dataset=_tokenize(splits["dev"], tokenizer, max_length),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=selection_metrics,
        class_weights=weights,
    )
    checkpoints = list((output / "checkpoints").glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=bool(config.resume and checkpoints) or None)
    model = trainer.model
    module_after = _module_checksum(model) if start == "debias" else None
    if module_before != module_after:
        raise RuntimeError("the debiasing module changed during fine-tuning; it must stay frozen")

    evaluated = dict(splits)
    if task.hate and config.iptts:
        from .data import load

        # its identity term is not a protected attribute in the TPR-GAP sense
        iptts = load("iptts", "test", config.data_dir).remove_columns("attribute")
        evaluated["iptts"] = _subsample(iptts, config.max_iptts_examples, config.seed)
    neutral_index = _neutral_index(task) if task.nli else 1
    if task.nli and config.bias_nli:
        from .metrics.bias_nli_templates import generate_bias_nli, load_bias_nli_words

        words = load_bias_nli_words(config.data_dir)
        sample = None if max_bias_nli is None or max_bias_nli >= words.size else max_bias_nli
        evaluated["bias-nli"] = generate_bias_nli(words, sample, config.seed, neutral_index)
    if config.fprd_terms:
        terms, source = read_terms(config.fprd_terms), config.fprd_terms
    else:
        terms, source = axis_terms(config.fprd_axis), config.fprd_axis
    options = MetricOptions(terms=terms, terms_source=source, neutral_index=neutral_index)
    metrics: dict[str, Any] = {"task": task.name, "start": start, "splits": {}}
    if trainer.is_world_process_zero():
        for name in [split for split in evaluated if split != "train"]:
            probs = predict(model, tokenizer, evaluated[name], max_length)
            rows = prediction_rows(evaluated[name], probs)
            path = output / f"predictions-{name}.jsonl"
            write_predictions(path, rows, overwrite=True)
            metrics["splits"][name] = compute_metrics(read_predictions(path), options=options)
        metrics.update(
            {
                "config": asdict(config),
                "selection_metric": metric,
                "num_labels": num_labels,
                "train_examples": len(splits["train"]),
                "module_frozen_checksum": module_after,
                "steps": trainer.state.global_step,
                "seconds": round(time.time() - started, 1),
            }
        )
        save_classifier(model, output / "model", config, num_labels)
        write_json(output / "metrics.json", metrics)
    return DownstreamResult(output, metrics)
