"""Downstream phase of PEFTDebias: fine-tune on a task with the debiasing module frozen.

Three starting points, one code path:

- ``debias=DIR``: the base model plus the upstream module from DIR; the module is FROZEN and
  everything else (backbone and classification head) is fine-tuned (the paper's PEFTDebias);
  ``debias=[DIR1, DIR2, ...]`` composes several modules, all frozen (``methods.compose``);
- ``full_debias=DIR``: the whole CDA-MLM model from DIR, fine-tuned (Full-Debias baseline);
- ``baseline="ft"``: the plain base model, fine-tuned (FT baseline); ``baseline="cda"``: the
  same on the task's training set augmented two-sided with counterfactuals along
  ``cda_axis`` (downstream CDA); ``baseline="clp"``: FT with counterfactual logit pairing
  (Garg et al. 2019), ``loss += clp_weight * mean |logits(x) - logits(x')|`` over the
  training examples that have a counterfactual x' (``clp_weight`` also works with any
  other start).

Model selection on the dev split by the task metric; predictions for dev and test (and, for
hate-speech tasks, the out-of-domain IPTTS set) go to ``predictions-<split>.jsonl`` and all
metrics, with bootstrap confidence intervals, to ``metrics.json``. :func:`predict` is the
fast inference path (tokenized once, length-sorted batches, dynamic padding, no autograd,
optional bf16 autocast); :func:`predict_file` applies a saved classifier to any labelled
file (``peftdebias predict``).
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
from .training.trainer import bf16_available, last_complete_checkpoint
from .validation import validate_downstream

logger = logging.getLogger(__name__)

MANIFEST = "downstream.json"
# the splits whose predictions train_downstream writes (predictions-<split>.jsonl); a new
# one belongs here, or --overwrite would leave its file of an earlier run behind
PREDICTION_SPLITS = ("dev", "test", "iptts", "bias-nli")
# what train_downstream writes into its output folder: --overwrite removes these (and
# nothing else) first, so no file of an earlier run is left beside the new metrics
OUTPUTS = (
    "metrics.json",
    "model",
    "checkpoints",
    *(f"predictions-{split}.jsonl" for split in PREDICTION_SPLITS),
)


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
    # (dev and test: whole splits; IPTTS: all 76,564 sentences unless max_iptts_examples)
    "quick": DownstreamPreset(1, 32, 5e-5, 64, 2000, None, 10_000),
}
BASELINES = ("ft", "cda", "clp")
DEFAULT_CLP_WEIGHT = 1.0  # --baseline clp without --clp-weight
PRECISIONS = ("fp32", "bf16")
# rows per inference batch; batches are also capped at INFERENCE_TOKENS tokens (rows x
# padded length), so long inputs go in smaller batches (measured: bench/bench_inference.py)
INFERENCE_BATCH_SIZE = 256
INFERENCE_TOKENS = 8192
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class DownstreamConfig:
    """Options of ``peftdebias downstream``; ``None`` values come from the preset."""

    task: str
    output: str
    model: str = "minilm"
    debias: str | list[str] | None = None  # one module folder, or several to compose
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
    # counterfactuals for --baseline cda / clp and clp_weight: a CDA axis or word-list file
    # (None: fprd_axis when it is a CDA axis, else group)
    cda_axis: str | None = None
    clp_weight: float | None = None  # counterfactual logit pairing (None: 1.0 for clp, else 0)
    precision: str = "fp32"  # inference: fp32 or bf16 (autocast)
    bf16: bool = False  # training under bfloat16 autocast (fp32 weights; falls back to fp32)
    group_by_length: bool = False  # training batches of similar lengths (less padding)
    inference_batch_size: int = INFERENCE_BATCH_SIZE
    bootstrap_resamples: int = 1000  # confidence intervals of the metrics (0: none)
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
        raise ConfigError(
            "give exactly one of --debias DIR, --full-debias DIR, --baseline " + "|".join(BASELINES)
        )
    if config.baseline and config.baseline not in BASELINES:
        raise ConfigError(f"unknown --baseline {config.baseline!r}; valid: {', '.join(BASELINES)}")
    return chosen[0]


def clp_weight(config: DownstreamConfig) -> float:
    """The counterfactual logit pairing weight of ``config`` (0: no CLP)."""
    if config.clp_weight is not None:
        return float(config.clp_weight)
    return DEFAULT_CLP_WEIGHT if config.baseline == "clp" else 0.0


def counterfactual_axis(config: DownstreamConfig) -> str:
    """The CDA axis (or word-list file) of the counterfactuals of ``config``."""
    from .cda import AXES

    if config.cda_axis:
        return config.cda_axis
    return config.fprd_axis if config.fprd_axis in AXES else "group"


def check_option_values(values: dict[str, Any], label=lambda key: f"--{key.replace('_', '-')}"):
    """Values of the options this module adds (CLP weight, inference, intervals); a
    :class:`ConfigError` naming the option (``label(field)``) for a bad one. Also used by the
    experiment config's validation."""
    import math

    weight = values.get("clp_weight")
    if weight is not None and not (
        isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0
    ):
        raise ConfigError(f"{label('clp_weight')} must be a number >= 0, got {weight!r}")
    if values.get("precision", "fp32") not in PRECISIONS:
        raise ConfigError(
            f"{label('precision')}: {values['precision']!r}; valid: {', '.join(PRECISIONS)}"
        )
    if values.get("inference_batch_size", 1) < 1:
        raise ConfigError(
            f"{label('inference_batch_size')} must be at least 1, "
            f"got {values['inference_batch_size']}"
        )
    if values.get("bootstrap_resamples", 0) < 0:
        raise ConfigError(
            f"{label('bootstrap_resamples')} must be >= 0 (0: no intervals), "
            f"got {values['bootstrap_resamples']}"
        )


def check_options(config: DownstreamConfig) -> None:
    """The options this module adds (baselines, CLP, inference, intervals), checked before
    anything is loaded; :class:`ConfigError` naming the option."""
    from .cda import load_word_list

    _start(config)
    check_option_values(asdict(config))
    if config.baseline == "cda" or clp_weight(config) > 0:
        try:
            load_word_list(counterfactual_axis(config), config.data_dir)
        except (ConfigError, DataError) as exc:
            raise ConfigError(f"--cda-axis: {exc}") from None


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
    """The classifier to fine-tune, with the debiasing module(s) (if any) attached and frozen."""
    from .methods import load_module, set_trainable
    from .methods.compose import as_folders, load_modules

    start = _start(config)
    model = load_sequence_classifier(config.model, num_labels=num_labels)
    if start == "debias":
        model = load_modules(model, as_folders(config.debias))
        set_trainable(model, module=False, backbone=True, head=True)
    elif start == "full_debias":  # the whole CDA-MLM encoder, all of it fine-tuned
        model = load_module(model, config.full_debias, trainable=True)
        set_trainable(model, module=True, backbone=True, head=True)
    return model


def _checksum(named: list[tuple[str, torch.Tensor]]) -> str | None:
    """sha256 over named tensors, in name order (None for none)."""
    if not named:
        return None
    digest = hashlib.sha256()
    for name, param in sorted(named, key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(param.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()[:16]


def module_checksums(model) -> tuple[str | None, list[dict[str, Any]]]:
    """Checksum over the parameters of every frozen debiasing module (None without one), and
    per module (``methods.compose.load_modules``) its folder, method, axes and checksum."""
    from .methods.compose import composed_modules

    params = dict(model.named_parameters())
    modules = composed_modules(model)
    every = [(name, params[name]) for module in modules for name in module["parameters"]]
    return _checksum(every), [
        {
            **{key: module[key] for key in ("folder", "method", "axes")},
            "checksum": _checksum([(name, params[name]) for name in module["parameters"]]),
        }
        for module in modules
    ]


# prefix of the counterfactual's columns in a tokenized training set (CLP)
CF = "cf_"


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


def _tokenize(dataset: Dataset, tokenizer, max_length: int) -> Dataset:
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


def length_batches(
    lengths: np.ndarray, batch_size: int = INFERENCE_BATCH_SIZE, max_tokens: int = INFERENCE_TOKENS
) -> list[np.ndarray]:
    """Row indices in batches of similar length: sorted by length (stable), at most
    ``batch_size`` rows and ``max_tokens`` padded tokens (rows x longest row) per batch."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = max(int(lengths[order[min(start + batch_size, len(order)) - 1]]), 1)
        size = max(1, min(batch_size, max_tokens // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def _pad_rows(encoded: dict[str, list], rows: np.ndarray, pad_id: int, device) -> dict:
    """The tensors of ``rows`` padded on the right to the longest of them."""
    width = max(len(encoded["input_ids"][i]) for i in rows)
    batch = {}
    for key, values in encoded.items():
        array = np.full((len(rows), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
        for j, i in enumerate(rows):
            array[j, : len(values[i])] = values[i]
        batch[key] = torch.from_numpy(array).to(device)
    return batch


def predict(
    model,
    tokenizer,
    dataset: Dataset,
    max_length: int,
    batch_size: int = INFERENCE_BATCH_SIZE,
    precision: str = "fp32",
    max_tokens: int = INFERENCE_TOKENS,
) -> np.ndarray:
    """Class probabilities ``[n, num_labels]`` of ``model`` on ``dataset`` (text[, text_pair]).

    Inputs are tokenized once (one fast-tokenizer call) and run in batches of similar length
    (:func:`length_batches`) padded only to their longest row, under ``torch.inference_mode``;
    ``precision="bf16"`` runs the model under bfloat16 autocast (CPU or GPU; see
    docs/downstream.md for its agreement with fp32). The rows come back in the dataset's
    order.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    model.eval()
    device = next(model.parameters()).device
    texts = dataset["text"][:]
    pairs = dataset["text_pair"][:] if "text_pair" in dataset.column_names else None
    encoded = tokenizer(
        texts, pairs, truncation=True, max_length=max_length, return_attention_mask=True
    )
    encoded = {key: encoded[key] for key in MODEL_INPUTS if key in encoded}
    lengths = np.fromiter(map(len, encoded["input_ids"]), dtype=np.int64, count=len(texts))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    with torch.inference_mode(), autocast:
        for rows in length_batches(lengths, batch_size, max_tokens):
            logits = model(**_pad_rows(encoded, rows, pad_id, device)).logits.float()
            probs[rows] = torch.softmax(logits, dim=-1).cpu().numpy()
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


def evaluate_datasets(
    model,
    tokenizer,
    datasets: dict[str, Dataset],
    output: Path,
    options,
    max_length: int,
    *,
    batch_size: int = INFERENCE_BATCH_SIZE,
    precision: str = "fp32",
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    paths: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Predict every data set, write ``predictions-<name>.jsonl`` into ``output`` and compute
    from that file exactly what ``peftdebias metrics`` computes, plus the 95 % bootstrap
    intervals of the headline numbers (``intervals``; see
    :func:`peftdebias.metrics.intervals.prediction_intervals`). ``paths`` may name other
    predictions files. Returns name -> results."""
    from .metrics import compute_metrics, read_predictions
    from .metrics.intervals import prediction_intervals
    from .metrics.predictions import write_predictions

    results: dict[str, Any] = {}
    for name, dataset in datasets.items():
        started = time.time()
        probs = predict(model, tokenizer, dataset, max_length, batch_size, precision)
        predicted = time.time()
        path = (paths or {}).get(name) or output / f"predictions-{name}.jsonl"
        write_predictions(path, prediction_rows(dataset, probs), overwrite=True)
        predictions = read_predictions(path)
        result = compute_metrics(predictions, options=options)
        if bootstrap_resamples:
            result["intervals"] = prediction_intervals(
                predictions, result, options, n_resamples=bootstrap_resamples, seed=seed
            )
        result["inference"] = {
            "precision": precision,
            "seconds": round(predicted - started, 2),
            "sentences_per_second": round(len(dataset) / max(predicted - started, 1e-9), 1),
        }
        results[name] = result
    return results


def save_classifier(
    model,
    folder: Path,
    config: DownstreamConfig,
    num_labels: int,
    extra: dict[str, Any] | None = None,
):
    """Save the fine-tuned classifier so that :func:`load_classifier` rebuilds it exactly.

    ``model.safetensors`` holds every tensor of the model as trained (backbone, head and the
    frozen module, under the names the module's wrapper gives them); a copy of the module
    folder (``module/``; composed modules: ``modules/0``, ``modules/1``, ... in the order
    given, listed in the manifest's ``modules``) and ``downstream.json`` say how to rebuild
    the wrapper first (``extra``: more manifest fields, e.g. the task, label names and max
    length that :func:`predict_file` reuses).
    """
    from .methods.compose import as_folders

    sources = as_folders(config.debias) or as_folders(config.full_debias)
    copies = ["module"] if len(sources) == 1 else [f"modules/{i}" for i in range(len(sources))]
    manifest = {"base_model": config.model, "start": _start(config), "num_labels": num_labels}
    if len(sources) > 1:
        manifest["modules"] = copies
    with atomic_dir(folder) as tmp:
        for source, copy in zip(sources, copies, strict=True):
            shutil.copytree(source, tmp / copy, ignore=shutil.ignore_patterns("checkpoints"))
        # save_model keeps one copy of tensors that wrappers share (prompt/prefix tuning)
        save_model(model, str(tmp / "model.safetensors"))
        write_json(tmp / MANIFEST, {**manifest, **(extra or {})})


def classifier_manifest(folder: str | Path) -> dict[str, Any]:
    """``downstream.json`` of a model folder written by :func:`save_classifier`."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise DataError(f"{folder} is not a downstream model folder (no {MANIFEST})")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder / MANIFEST}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not {"base_model", "start", "num_labels"} <= set(manifest):
        raise DataError(f"{folder / MANIFEST}: not a downstream model manifest")
    return manifest


def load_classifier(folder: str | Path):
    """The classifier saved by :func:`save_classifier` and its tokenizer."""
    from .methods.compose import load_modules

    folder = Path(folder)
    manifest = classifier_manifest(folder)
    model = load_sequence_classifier(manifest["base_model"], num_labels=manifest["num_labels"])
    if manifest["start"] != "baseline":
        model = load_modules(model, [folder / name for name in manifest.get("modules", ["module"])])
    load_model(model, str(folder / "model.safetensors"))
    return model.eval(), load_tokenizer(manifest["base_model"])


def train_downstream(config: DownstreamConfig) -> DownstreamResult:
    """Run the downstream phase described by ``config``; see the module docstring."""
    config = validate_downstream(config)  # every option and file, before anything is trained
    from .metrics import MetricOptions, axis_terms, read_terms

    start = _start(config)
    check_options(config)
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
    prepare_output_dir(output, config.overwrite, owned=OUTPUTS, resume=config.resume)
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
    weight_clp = clp_weight(config)
    counterfactuals: dict[str, Any] = {}
    if config.baseline == "cda" or weight_clp > 0:
        from .cda import CounterfactualAugmenter, load_word_list
        from .tasks import attach_counterfactuals, cda_augment

        axis = counterfactual_axis(config)
        augmenter = CounterfactualAugmenter(load_word_list(axis, config.data_dir))
        counterfactuals["axis"] = axis
        if config.baseline == "cda":  # two-sided: originals and their counterfactuals
            splits["train"], added = cda_augment(splits["train"], augmenter)
            counterfactuals["cda_added"] = added
        if weight_clp > 0:
            splits["train"], paired = attach_counterfactuals(
                splits["train"], augmenter, config.seed
            )
            counterfactuals.update({"clp_weight": weight_clp, "clp_pairs": paired})
        logger.info("counterfactuals along %s: %s", axis, counterfactuals)
    model = build_model(config, num_labels)
    if config.freeze_layernorm:
        for name, param in model.named_parameters():
            if "layernorm" in name.lower().replace("_", ""):
                param.requires_grad_(False)
    modules_before = module_checksums(model)
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
        bf16=config.bf16 and bf16_available(),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        # the counterfactual inputs (cf_*) are not arguments of forward: keep them
        remove_unused_columns=weight_clp == 0,
    )
    trainer = WeightedTrainer(
        model=model,
        args=args,
        train_dataset=_tokenize(splits["train"], tokenizer, max_length),
        eval_dataset=_tokenize(splits["dev"], tokenizer, max_length),
        data_collator=CounterfactualCollator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=selection_metrics,
        class_weights=weights,
        clp_weight=weight_clp,
    )
    # the last checkpoint the Trainer finished writing (a Ctrl-C may cut one short)
    checkpoint = last_complete_checkpoint(output / "checkpoints") if config.resume else None
    trainer.train(resume_from_checkpoint=checkpoint)
    model = trainer.model
    module_after, modules = module_checksums(model)
    if modules_before != (module_after, modules):
        raise RuntimeError("a debiasing module changed during fine-tuning; it must stay frozen")

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
    if config.baseline:
        metrics["baseline"] = config.baseline
    if trainer.is_world_process_zero():
        evaluation_started = time.time()
        metrics["splits"] = evaluate_datasets(
            model,
            tokenizer,
            {name: data for name, data in evaluated.items() if name != "train"},
            output,
            options,
            max_length,
            batch_size=config.inference_batch_size,
            precision=config.precision,
            bootstrap_resamples=config.bootstrap_resamples,
            seed=config.seed,
        )
        metrics.update(
            {
                "config": asdict(config),
                "selection_metric": metric,
                "num_labels": num_labels,
                "train_examples": len(splits["train"]),
                "counterfactuals": counterfactuals or None,
                "module_frozen_checksum": module_after,
                "modules": modules or None,
                "steps": trainer.state.global_step,
                "bf16_used": trainer.args.bf16,
                "evaluation_seconds": round(time.time() - evaluation_started, 1),
                "seconds": round(time.time() - started, 1),
            }
        )
        label_feature = splits["test"].features.get("label")
        extra = {
            "task": task.name,
            "max_length": max_length,
            "fprd_axis": None if config.fprd_terms else config.fprd_axis,
            "label_names": list(getattr(label_feature, "names", None) or task.label_names or []),
        }
        save_classifier(model, output / "model", config, num_labels, extra)
        write_json(output / "metrics.json", metrics)
    return DownstreamResult(output, metrics)


# --- applying a saved classifier to a labelled file (peftdebias predict) ---------------------

PREDICT_OUTPUTS = ("metrics.json", "predictions.jsonl")
DEFAULT_MAX_LENGTH = 128  # a model folder that does not record its max length


@dataclass
class PredictConfig:
    """Options of ``peftdebias predict``; ``None`` values come from the model's manifest."""

    model_dir: str
    input: str
    output: str
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str | None = None
    attribute_column: str | None = None
    id_column: str | None = None
    fprd_axis: str | None = None  # default: the model's training run's, else group
    fprd_terms: str | None = None
    max_length: int | None = None  # default: the model's training max length
    inference_batch_size: int = INFERENCE_BATCH_SIZE
    precision: str = "fp32"
    bootstrap_resamples: int = 1000
    seed: int = 42
    overwrite: bool = False


def _file_labels(dataset: Dataset, manifest: dict[str, Any], where: str) -> Dataset:
    """Map the file's labels onto the model's classes: integer labels are class ids; names
    are looked up (case-insensitively) among the label names the model was trained with."""
    num_labels = int(manifest["num_labels"])
    names = list(dataset.features["label"].names)
    known = [str(name) for name in manifest.get("label_names") or []]
    if all(name.isascii() and name.isdigit() for name in names):
        mapping = [int(name) for name in names]
    elif known:
        lookup = {name.casefold(): index for index, name in enumerate(known)}
        unknown = [name for name in names if name.casefold() not in lookup]
        if unknown:
            raise DataError(
                f"{where}: label(s) {', '.join(map(repr, unknown))} are not classes of the "
                f"model (its classes: {', '.join(known)}); use those names or the ids "
                f"0..{num_labels - 1}"
            )
        mapping = [lookup[name.casefold()] for name in names]
    else:
        raise DataError(
            f"{where}: labels {', '.join(map(repr, names))} are names, but the model does not "
            f"record its class names; give class ids 0..{num_labels - 1}"
        )
    if max(mapping) >= num_labels:
        raise DataError(
            f"{where}: label {max(mapping)} is not a class of the model (classes "
            f"0..{num_labels - 1})"
        )
    labels = [mapping[label] for label in dataset["label"]]
    return dataset.remove_columns("label").add_column("label", labels)


def predict_file(config: PredictConfig) -> dict[str, Any]:
    """Apply the classifier saved in ``config.model_dir`` (a downstream run's ``model/``) to
    the labelled csv/tsv/jsonl ``config.input``: ``predictions.jsonl`` and ``metrics.json``
    (what ``peftdebias metrics`` computes from that file, the 95 % bootstrap intervals and
    the inference settings) in ``config.output``. Returns the metrics."""
    from .data import load_user_table
    from .errors import OutputExistsError
    from .metrics import MetricOptions, axis_terms, read_terms

    if config.precision not in PRECISIONS:
        raise ConfigError(f"--precision {config.precision!r}; valid: {', '.join(PRECISIONS)}")
    if config.inference_batch_size < 1 or config.bootstrap_resamples < 0:
        raise ConfigError("--inference-batch-size must be >= 1 and --bootstrap-resamples >= 0")
    if config.max_length is not None and config.max_length < 2:
        raise ConfigError(f"--max-length must be at least 2, got {config.max_length}")
    manifest = classifier_manifest(config.model_dir)
    output = Path(config.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} is a file, not a directory; choose another path")
    if output.is_dir() and any(output.iterdir()) and not config.overwrite:
        raise OutputExistsError(
            f"output directory {output} is not empty; pass --overwrite to write into it"
        )
    if config.fprd_terms:
        terms, source = read_terms(config.fprd_terms), config.fprd_terms
    else:
        axis = config.fprd_axis or manifest.get("fprd_axis") or "group"
        terms, source = axis_terms(axis), axis
    dataset = load_user_table(
        config.input,
        text_column=config.text_column,
        label_column=config.label_column,
        attribute_column=config.attribute_column,
        text_pair_column=config.text_pair_column,
        id_column=config.id_column,
        min_classes=1,
    )
    dataset = _file_labels(dataset, manifest, f"{config.input}, column {config.label_column}")
    names = [str(name).lower() for name in manifest.get("label_names") or []]
    options = MetricOptions(
        terms=terms,
        terms_source=source,
        neutral_index=names.index("neutral") if "neutral" in names else 1,
    )
    max_length = config.max_length or manifest.get("max_length") or DEFAULT_MAX_LENGTH
    model, tokenizer = load_classifier(config.model_dir)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and max_length > limit:  # a longer input would index past the positions
        max_length = limit
    prepare_output_dir(output, config.overwrite, owned=PREDICT_OUTPUTS)
    started = time.time()
    results = evaluate_datasets(
        model,
        tokenizer,
        {"input": dataset},
        output,
        options,
        max_length,
        batch_size=config.inference_batch_size,
        precision=config.precision,
        bootstrap_resamples=config.bootstrap_resamples,
        seed=config.seed,
        paths={"input": output / "predictions.jsonl"},
    )["input"]
    metrics = {
        "model_dir": str(config.model_dir),
        "model": {key: manifest.get(key) for key in ("base_model", "start", "task")},
        "input": str(config.input),
        "max_length": max_length,
        **results,
        "config": asdict(config),
        "seconds": round(time.time() - started, 1),
    }
    write_json(output / "metrics.json", metrics)
    return metrics
