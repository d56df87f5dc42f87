"""The Python API on objects (docs/api.md): learn a debiasing module from a loaded model,
tokenizer, texts and word list; save and load it in the folder format of ``peftdebias
upstream``; insert it, frozen, into any transformers model to train with your own
``Trainer``; load a task's own train/dev/test files; score predictions held in arrays.

    module = learn_module(model, tokenizer, texts, "gender", method="lora")
    module.save_pretrained("debias-lora")                # = peftdebias upstream's folder
    classifier = attach_frozen(AutoModelForSequenceClassification.from_pretrained(name), module)
    ...                                                  # Trainer(classifier, ...).train()
    result = evaluate_predictions(labels, predictions, texts=texts, attributes=genders)
    result.metrics.fprd.fprd, result.metrics.tpr_gap.tpr_gap_rms

The steps are those of the command line (``upstream.pipeline.learn``,
``methods.compose.load_modules``, ``tasks.user_task_splits``, ``metrics.compute_metrics``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from peft import PeftConfig
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainingArguments

from .cda.wordlists import WordListLike, as_word_lists
from .errors import ConfigError, DataError
from .methods import DebiasMethod, get_method, method_of, read_module_config, set_trainable
from .methods.base import METADATA_FILE, read_json_object
from .methods.compose import load_modules
from .methods.peft_methods import method_for_peft_config
from .metrics import MetricOptions, Predictions, axis_terms, compute_metrics, read_terms
from .metrics.intervals import prediction_intervals
from .metrics.predictions import validate_row
from .metrics.results import SplitResult
from .models import clamp_max_length
from .tasks import user_task_splits
from .upstream.artefact import recorded_files, save_artefact
from .upstream.config import UpstreamConfig, check_values, resolve_plan
from .upstream.corpus import augment_corpus, usable_texts
from .upstream.pipeline import learn
from .upstream.steps import base_from_model

logger = logging.getLogger(__name__)

TEXTS = "(texts given)"  # the corpus name debias.json records for texts given in memory
# TrainingArguments fields that set the run's own numbers: -> the UpstreamConfig field
_CONFIG_ARGUMENTS = {
    "max_steps": "max_steps",
    "per_device_train_batch_size": "batch_size",
    "learning_rate": "learning_rate",
    "eval_steps": "eval_steps",
    "seed": "seed",
    "bf16": "bf16",
    "fp16": "fp16",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
}
# TrainingArguments fields the phases set themselves (checkpoints, best checkpoint, columns)
_PHASE_ARGUMENTS = frozenset(
    {
        "output_dir", "eval_strategy", "do_eval", "save_strategy", "save_steps",
        "load_best_model_at_end", "metric_for_best_model", "greater_is_better",
        "remove_unused_columns",
    }
)  # fmt: skip
# UpstreamConfig fields that learn_module takes as keywords (the others name files)
SETTINGS = tuple(
    f.name
    for f in dataclasses.fields(UpstreamConfig)
    if f.name
    not in {"axis", "corpus", "method", "output", "model", "corpus_split", "method_options",
            "overwrite", "resume"}
)  # fmt: skip


@dataclass
class DebiasModule:
    """A debiasing module: its method (with its options) and its ``debias.json`` record;
    ``model`` and ``tokenizer``: the masked LM it was learned in (with the module attached)
    and its tokenizer, when learned in this process; ``path``: the folder it was saved to or
    loaded from."""

    method: DebiasMethod
    metadata: dict[str, Any]
    model: nn.Module | None = None
    tokenizer: PreTrainedTokenizerBase | None = None
    path: Path | None = None

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write the module into ``directory`` (created), as ``peftdebias upstream`` writes
        its output: the method's files (a peft method's: ``adapter_config.json`` +
        ``adapter_model.safetensors``, which ``PeftModel.from_pretrained`` opens),
        ``module.json``, the tokenizer and ``debias.json``; a module there is replaced."""
        self.path = self._write(Path(directory))
        return self.path

    def _write(self, output: Path) -> Path:
        """Write the module into ``output`` (learned here: its files; loaded: a copy of the
        files of its folder)."""
        output.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            metadata = dict(self.metadata)
            save_artefact(self.method, self.model, self.tokenizer, output, metadata)
            self.metadata = metadata
        elif self.path is not None and self.path.resolve() != output.resolve():
            names = recorded_files(self.path) or [p.name for p in self.path.iterdir()]
            for name in names:
                if (self.path / name).is_file():
                    shutil.copy2(self.path / name, output / name)
        return output

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> DebiasModule:
        """The module saved in ``directory`` (by :meth:`save_pretrained` or ``peftdebias
        upstream``); :class:`ConfigError` for a folder that holds no complete module."""
        folder = Path(directory)
        method = method_of(folder)
        record = folder / METADATA_FILE
        metadata = read_json_object(record) if record.is_file() else {}
        return cls(method, metadata, path=folder)


def load_module(directory: str | os.PathLike) -> DebiasModule:
    """The module saved in ``directory``: :meth:`DebiasModule.from_pretrained`."""
    return DebiasModule.from_pretrained(directory)


# --- learning a module ------------------------------------------------------------------------


def as_method(method: str | DebiasMethod | PeftConfig) -> DebiasMethod:
    """A method given by name (paper defaults), as an object, or as a peft config (the
    registered peft method of its type, with the config used as given)."""
    if isinstance(method, DebiasMethod):
        return method
    if isinstance(method, PeftConfig):
        return method_for_peft_config(method)
    if isinstance(method, str):
        return get_method(method)
    raise ConfigError(
        f"method must be a method name, a DebiasMethod or a peft PeftConfig, not "
        f"{type(method).__name__}"
    )


def training_values(
    training_args: TrainingArguments | Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(settings, overrides)`` of ``training_args``: the values that set the run's numbers
    (:data:`_CONFIG_ARGUMENTS`, as UpstreamConfig fields), and the other TrainingArguments
    values, which replace those of every training phase. A TrainingArguments object gives
    the values that differ from the defaults; those the phases set themselves are ignored
    (with a warning)."""
    if training_args is None:
        return {}, {}
    if isinstance(training_args, TrainingArguments):
        default = TrainingArguments(output_dir=training_args.output_dir)
        values = {
            f.name: getattr(training_args, f.name)
            for f in dataclasses.fields(training_args)
            if f.init and getattr(training_args, f.name) != getattr(default, f.name)
        }
    else:
        values = dict(training_args)
        known = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"training_args: no TrainingArguments field {', '.join(unknown)}")
    ignored = sorted(set(values) & _PHASE_ARGUMENTS - {"output_dir"})
    if ignored:
        logger.warning("training_args: %s set by the training phases; ignored", ", ".join(ignored))
    settings = {_CONFIG_ARGUMENTS[k]: v for k, v in values.items() if k in _CONFIG_ARGUMENTS}
    overrides = {
        k: v for k, v in values.items() if k not in _CONFIG_ARGUMENTS and k not in _PHASE_ARGUMENTS
    }
    return settings, overrides


def _texts(texts: Iterable[str] | Dataset, column: str) -> list[str]:
    """The texts of an iterable of strings, or of ``column`` of a Dataset."""
    if isinstance(texts, Dataset):
        if column not in texts.column_names:
            raise DataError(
                f"texts: the Dataset has no column {column!r} (text_column); "
                f"columns: {', '.join(texts.column_names)}"
            )
        texts = texts[column][:]
    elif isinstance(texts, str | bytes):
        raise ConfigError("texts: give an iterable of texts (or a Dataset), not one string")
    texts = list(texts)
    bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
    if bad is not None:
        raise DataError(f"texts: item {bad} is a {type(texts[bad]).__name__}, not a string")
    return texts


@contextlib.contextmanager
def _work_folder(output_dir: str | os.PathLike | None) -> Iterator[Path]:
    """``output_dir`` (created), or a temporary folder removed afterwards."""
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        yield Path(output_dir)
        return
    with tempfile.TemporaryDirectory(prefix="peftdebias-upstream-") as tmp:
        yield Path(tmp)


def _config(
    model: PreTrainedModel, method: DebiasMethod, work: Path, values: dict[str, Any]
) -> UpstreamConfig:
    """The UpstreamConfig of a :func:`learn_module` run, its values checked."""
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"learn_module: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(SETTINGS)}"
        )
    name = getattr(model.config, "name_or_path", "") or type(model).__name__
    config = UpstreamConfig(
        axis="", corpus=TEXTS, method=method.name, output=str(work), model=name, **values
    )
    check_values(config, label=str)  # errors name the Python argument
    return config


def learn_module(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Iterable[str] | Dataset,
    word_list: WordListLike,
    method: str | DebiasMethod | PeftConfig = "lora",
    *,
    axis: str | None = None,
    training_args: TrainingArguments | Mapping[str, Any] | None = None,
    max_steps: int | None = None,
    seed: int | None = None,
    text_column: str = "text",
    output_dir: str | os.PathLike | None = None,
    **settings: Any,
) -> DebiasModule:
    """Learn a debiasing module as ``peftdebias upstream`` does, from objects.

    ``model``: a masked LM, or an encoder without MLM head (a head is initialised and warmed
    up first, as for ``--model minilm-raw``); it is copied, never changed. ``texts``: strings
    or a Dataset (``text_column``). ``word_list``: an ``--axis`` value (``"gender"``,
    ``"gender,race"``, a file; ``axis`` picks a JSON file's key), or in memory: tuples of one
    axis (named ``axis``), ``{axis: tuples}``, WordList objects. ``method``: a name, a
    :class:`DebiasMethod` or a peft ``PeftConfig``. ``max_steps``, ``seed`` and the other
    ``settings`` (:data:`SETTINGS`: ``preset``, ``batch_size``, ``learning_rate``,
    ``max_length``, ``objective``, ...) are the command's options (default: the ``quick``
    preset's; None: as ``training_args`` says); ``training_args`` (TrainingArguments or a
    dict) may set them too (``per_device_train_batch_size``, ...) and any other Trainer
    argument (for every training phase). With
    ``output_dir`` the checkpoints and, at the end, the module are written there.
    """
    chosen = as_method(method)
    from_args, overrides = training_values(training_args)
    given = {**settings, "max_steps": max_steps, "seed": seed}
    values = {**from_args, **{k: v for k, v in given.items() if v is not None}}
    word_lists = as_word_lists(word_list, axis, values.get("data_dir"))
    with _work_folder(output_dir) as work:
        config = _config(model, chosen, work, values)
        config = dataclasses.replace(config, axis=",".join(w.axis for w in word_lists))
        plan = resolve_plan(config, chosen, word_lists)
        length = clamp_max_length(
            plan.max_length, model.config, chosen.virtual_tokens, "max_length"
        )
        plan = dataclasses.replace(plan, max_length=length)
        started = time.time()
        corpus = augment_corpus(
            usable_texts(_texts(texts, text_column), TEXTS, config.max_texts), config, plan
        )
        base = base_from_model(model, tokenizer, config.seed)
        training, metadata = learn(config, plan, base, corpus, started, overrides)
    module = DebiasModule(plan.method, metadata, training.model, tokenizer)
    if output_dir is not None:
        module.save_pretrained(output_dir)
    return module


# --- using a module ---------------------------------------------------------------------------


def attach_frozen(
    model: PreTrainedModel,
    module: DebiasModule | str | os.PathLike | Sequence[DebiasModule | str | os.PathLike],
    *,
    train_backbone: bool = True,
) -> nn.Module:
    """Insert ``module`` (a :class:`DebiasModule` or module folder; a list: several composed,
    as ``downstream --debias DIR1 --debias DIR2``) into ``model``, any transformers model of
    the module's base model (its fingerprint is checked), FROZEN: no module parameter
    requires gradients, so a ``Trainer``, whose optimizer takes only parameters that do,
    leaves them bit-identical. The head, and with ``train_backbone`` the backbone, stay
    trainable, as in ``peftdebias downstream --debias``. Returns the model to train (for a
    peft method a ``PeftModel`` around ``model``, which is changed in place)."""
    items = list(module) if isinstance(module, list | tuple) else [module]
    with tempfile.TemporaryDirectory(prefix="peftdebias-module-") as tmp:
        folders = []
        for index, item in enumerate(items):
            if isinstance(item, DebiasModule):  # one learned here: its files, for the loader
                item = item.path or item._write(Path(tmp) / str(index))
            if read_module_config(item)["method"] == "full":
                raise ConfigError(
                    f"attach_frozen: {item} holds a Full-Debias model (method full), a whole "
                    "model to fine-tune, not a module to freeze: load it with from_pretrained"
                )
            folders.append(os.fspath(item))
        model = load_modules(model, folders, option="attach_frozen")
    return set_trainable(model, module=False, backbone=train_backbone, head=True)


def task_splits(
    train: str | os.PathLike | Dataset,
    dev: str | os.PathLike | Dataset | None = None,
    test: str | os.PathLike | Dataset | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    attribute_column: str | None = None,
    text_pair_column: str | None = None,
    seed: int = 42,
) -> dict[str, Dataset]:
    """``{"train", "dev", "test"}`` Datasets of your task (csv/tsv/jsonl files or Datasets),
    as ``peftdebias downstream --task FILE [--dev-file FILE --test-file FILE]`` loads them:
    columns renamed to ``text``, ``label`` (a ClassLabel, one mapping for every split),
    ``attribute``, ``text_pair``; only ``train`` given: carved 80/10/10 (seeded). A split
    missing a column is a :class:`DataError` naming its file and the column."""
    if (dev is None) != (test is None):
        raise ConfigError(
            "task_splits: give dev and test together, or neither (train is then carved 80/10/10)"
        )
    tables = {"train": train} if dev is None else {"train": train, "dev": dev, "test": test}
    columns = {
        "text": text_column,
        "label": label_column,
        "attribute": attribute_column,
        "text_pair": text_pair_column,
    }
    return user_task_splits(tables, columns, seed)


# --- metrics from arrays ----------------------------------------------------------------------


def _class_ids(values: Any, name: str) -> np.ndarray:
    """A 1-d array of class ids; :class:`DataError` naming ``name`` otherwise."""
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise DataError(
            f"{name} must be a 1-d array of integer class ids, got shape {array.shape} of "
            f"{array.dtype}"
        )
    return array


def _probabilities(gold: np.ndarray, pred: np.ndarray | None, probs: Any) -> np.ndarray:
    """``[n, classes]`` probabilities: ``probs``, else one-hot rows of ``pred`` (at least two
    classes)."""
    if probs is not None:
        array = np.asarray(probs, dtype=float)
        if array.ndim != 2:
            raise DataError(f"probabilities must be 2-d [rows, classes], got {array.shape}")
        return array
    if pred is None:
        raise ConfigError("evaluate_predictions: give predictions or probabilities")
    classes = max(2, int(max(gold.max(initial=0), pred.max(initial=0))) + 1)
    return np.eye(classes)[pred]


def _prediction_rows(
    labels: Any, predictions: Any, probabilities: Any, texts: Any, attributes: Any
) -> Predictions:
    """Validated rows of the predictions-file format (``metrics.predictions``) of arrays."""
    gold = _class_ids(labels, "labels")
    pred = None if predictions is None else _class_ids(predictions, "predictions")
    probs = _probabilities(gold, pred, probabilities)
    pred = probs.argmax(axis=1) if pred is None else pred
    columns = {
        "predictions": pred,
        "probabilities": probs,
        "texts": texts,
        "attributes": attributes,
    }
    for name, column in columns.items():
        if column is not None and len(column) != len(gold):
            raise DataError(f"{name} has {len(column)} rows but labels has {len(gold)}")
    rows = []
    for index in range(len(gold)):
        row = {"id": str(index), "gold": int(gold[index]), "pred": int(pred[index])}
        row["probs"] = [float(p) for p in probs[index]]
        if texts is not None:
            row["text"] = texts[index]
        if attributes is not None:
            row["attribute"] = attributes[index]
        problem = validate_row(row)
        if problem:
            raise DataError(f"row {index}: {problem}")
        rows.append(row)
    return Predictions(rows, list(range(1, len(rows) + 1)))


def _term_options(terms: str | os.PathLike | Sequence[str]) -> tuple[list[str], str]:
    """FPRD identity terms and their source: an axis's, a term file's, or a list."""
    if isinstance(terms, str | os.PathLike):
        source = os.fspath(terms)
        return (read_terms(source) if Path(source).is_file() else axis_terms(source)), source
    return list(terms), "(terms given)"


def evaluate_predictions(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray | None = None,
    *,
    probabilities: Sequence[Sequence[float]] | np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    attributes: Sequence[Any] | None = None,
    terms: str | os.PathLike | Sequence[str] = "group",
    groups: tuple[str, str] = ("male", "female"),
    metrics: Sequence[str] | None = None,
    bootstrap_resamples: int = 0,
    seed: int = 42,
) -> SplitResult:
    """Task and bias metrics of predictions held in arrays, as ``peftdebias metrics``
    computes them from a predictions file (:func:`peftdebias.metrics.compute_metrics`).

    ``labels``, ``predictions``: class ids (``predictions`` default: the argmax of
    ``probabilities``). Accuracy and macro-F1 always; FPRD (binary tasks, class 1 positive)
    with ``texts``, over the identity ``terms`` (an axis: ``group``, ``gender``, ...; a term
    file; or a list); TPR-GAP with ``attributes`` holding both ``groups``; ``metrics``
    chooses (default: all that apply). ``bootstrap_resamples`` > 0 adds 95 % intervals.
    Returns the typed record: ``result.metrics.classification.macro_f1``,
    ``result.metrics.fprd.fprd``, ``result.metrics.tpr_gap.tpr_gap_rms``, ``result.interval``.
    """
    rows = _prediction_rows(labels, predictions, probabilities, texts, attributes)
    term_list, source = _term_options(terms)
    options = MetricOptions(terms=term_list, terms_source=source, groups=tuple(groups))
    result = compute_metrics(rows, metrics, options)
    result["predictions"] = None
    if bootstrap_resamples:
        result["intervals"] = prediction_intervals(
            rows, result, options, n_resamples=bootstrap_resamples, seed=seed
        )
    return SplitResult.from_json(result, "evaluate_predictions")
