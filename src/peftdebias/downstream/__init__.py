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

The steps of :func:`train_downstream` (``pipeline.py``), one module each: ``config``
(check every option once, resolve the preset), ``splits`` (load and subsample the task),
``evaluations`` (the task's own evaluation: IPTTS, Bias-NLI or GAP), ``training``
(counterfactuals, weighted Trainer, model selection on dev by the task metric), ``model``
(the classifier, its modules frozen and checksummed), ``prediction`` (predictions for dev,
test and the evaluation's split go to ``predictions-<split>.jsonl``, all metrics with
bootstrap confidence intervals to ``metrics.json``) and ``classifier`` (save and load the
fine-tuned model). :func:`predict` is the fast inference path (tokenized once,
length-sorted batches, dynamic padding, no autograd, optional bf16 autocast);
:func:`predict_file` (``apply``) applies a saved classifier to any labelled file
(``peftdebias predict``).
"""

from .apply import PredictConfig, predict_file
from .classifier import classifier_manifest, load_classifier, save_classifier
from .config import (
    BASELINES,
    DownstreamConfig,
    DownstreamResult,
    check_option_values,
    validate_downstream,
)
from .evaluations import EVALUATIONS, TaskEvaluation
from .pipeline import OUTPUTS, train_downstream
from .prediction import evaluate_datasets, length_batches, predict, prediction_rows
from .training import CounterfactualCollator, WeightedTrainer, clp_penalty

__all__ = [
    "BASELINES",
    "EVALUATIONS",
    "OUTPUTS",
    "CounterfactualCollator",
    "DownstreamConfig",
    "DownstreamResult",
    "PredictConfig",
    "TaskEvaluation",
    "WeightedTrainer",
    "check_option_values",
    "classifier_manifest",
    "clp_penalty",
    "evaluate_datasets",
    "length_batches",
    "load_classifier",
    "predict",
    "predict_file",
    "prediction_rows",
    "save_classifier",
    "train_downstream",
    "validate_downstream",
]
