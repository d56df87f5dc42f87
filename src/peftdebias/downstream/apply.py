"""Applying a saved classifier to a labelled file (``peftdebias predict``)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datasets import Dataset

from ..data import load_user_table
from ..errors import ConfigError, DataError, OutputExistsError
from ..io import prepare_output_dir, write_json
from ..metrics import MetricOptions, axis_terms, read_terms
from .classifier import classifier_manifest, load_classifier
from .options import PRECISIONS, PredictConfig
from .prediction import evaluate_datasets

PREDICT_OUTPUTS = ("metrics.json", "predictions.jsonl")
DEFAULT_MAX_LENGTH = 128  # a model folder that does not record its max length


def _check_config(config: PredictConfig) -> None:
    """The inference options, before anything is loaded."""
    if config.precision not in PRECISIONS:
        raise ConfigError(f"--precision {config.precision!r}; valid: {', '.join(PRECISIONS)}")
    if config.inference_batch_size < 1 or config.bootstrap_resamples < 0:
        raise ConfigError("--inference-batch-size must be >= 1 and --bootstrap-resamples >= 0")
    if config.max_length is not None and config.max_length < 2:
        raise ConfigError(f"--max-length must be at least 2, got {config.max_length}")


def _check_output(config: PredictConfig) -> Path:
    """The output folder: not a file, and empty unless ``overwrite``."""
    output = Path(config.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} is a file, not a directory; choose another path")
    if output.is_dir() and any(output.iterdir()) and not config.overwrite:
        raise OutputExistsError(
            f"output directory {output} is not empty; pass --overwrite to write into it"
        )
    return output


def _terms(config: PredictConfig, manifest: dict[str, Any]) -> tuple[list[str], str]:
    """The FPRD identity terms and where they come from (file, else axis)."""
    if config.fprd_terms:
        return read_terms(config.fprd_terms), config.fprd_terms
    axis = config.fprd_axis or manifest.get("fprd_axis") or "group"
    return axis_terms(axis), axis


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


def _load_input(config: PredictConfig, manifest: dict[str, Any]) -> Dataset:
    """The labelled input file, its labels mapped onto the model's classes."""
    dataset = load_user_table(
        config.input,
        text_column=config.text_column,
        label_column=config.label_column,
        attribute_column=config.attribute_column,
        text_pair_column=config.text_pair_column,
        id_column=config.id_column,
        min_classes=1,
    )
    return _file_labels(dataset, manifest, f"{config.input}, column {config.label_column}")


def _neutral_index(manifest: dict[str, Any]) -> int:
    """The model's *neutral* class (from its label names), else 1."""
    names = [str(name).lower() for name in manifest.get("label_names") or []]
    return names.index("neutral") if "neutral" in names else 1


def _max_length(config: PredictConfig, manifest: dict[str, Any], model) -> int:
    """The option's max length, else the training run's, capped at the model's positions
    (a longer input would index past them)."""
    max_length = config.max_length or manifest.get("max_length") or DEFAULT_MAX_LENGTH
    limit = getattr(model.config, "max_position_embeddings", None)
    return limit if limit and max_length > limit else max_length


def predict_file(config: PredictConfig) -> dict[str, Any]:
    """Apply the classifier saved in ``config.model_dir`` (a downstream run's ``model/``) to
    the labelled csv/tsv/jsonl ``config.input``: ``predictions.jsonl`` and ``metrics.json``
    (what ``peftdebias metrics`` computes from that file, the 95 % bootstrap intervals and
    the inference settings) in ``config.output``. Returns the metrics."""
    _check_config(config)
    manifest = classifier_manifest(config.model_dir)
    output = _check_output(config)
    terms, source = _terms(config, manifest)
    dataset = _load_input(config, manifest)
    options = MetricOptions(
        terms=terms, terms_source=source, neutral_index=_neutral_index(manifest)
    )
    model, tokenizer = load_classifier(config.model_dir)
    max_length = _max_length(config, manifest, model)
    prepare_output_dir(output, config.overwrite, owned=PREDICT_OUTPUTS)
    started = time.time()
    results = evaluate_datasets(
        model, tokenizer, {"input": dataset}, output, options, max_length,
        batch_size=config.inference_batch_size, precision=config.precision,
        bootstrap_resamples=config.bootstrap_resamples, seed=config.seed,
        paths={"input": output / "predictions.jsonl"},
    )["input"]  # fmt: skip
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
