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

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> submodule that defines it; imported on first use, so that the light
# ``options`` module (read by ``peftdebias downstream --help``) loads without torch
_API: dict[str, str] = {
    "BASELINES": "options",
    "CounterfactualCollator": "training",
    "DownstreamConfig": "options",
    "DownstreamResult": "config",
    "EVALUATIONS": "evaluations",
    "OUTPUTS": "pipeline",
    "PredictConfig": "options",
    "TaskEvaluation": "evaluations",
    "WeightedTrainer": "training",
    "check_option_values": "config",
    "classifier_manifest": "classifier",
    "clp_penalty": "training",
    "evaluate_datasets": "prediction",
    "length_batches": "prediction",
    "load_classifier": "classifier",
    "predict": "prediction",
    "predict_file": "apply",
    "prediction_rows": "prediction",
    "results_table": "summary",
    "save_classifier": "classifier",
    "train_downstream": "pipeline",
    "validate_downstream": "config",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _API)
