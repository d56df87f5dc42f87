"""Extrinsic bias and task metrics, each computed from predictions (see docs/metrics.md).

- :func:`classification_scores`: accuracy, macro-F1, per-class F1;
- :func:`tpr_gap`: TPR-GAP per class and its RMS (De-Arteaga et al. 2019);
- :func:`fprd`, :func:`iptts_fprd`: false positive rate difference over identity terms,
  in domain and on IPTTS (Dixon et al. 2018); :func:`fprd_reference_code`: the PEFTDebias
  reference code's variant, for comparison only;
- :func:`gap_scores`: GAP coreference F1 per pronoun gender and F/M bias (Webster et al. 2018);
- :func:`generate_bias_nli`, :func:`bias_nli_scores`: Bias-NLI pairs and NN/FN/T:tau
  (Dev et al. 2020);
- :func:`read_predictions`, :func:`write_predictions`, :func:`compute_metrics`: the
  predictions file and everything computable from it.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> submodule that defines it; imported on first use so that the light parts
# (e.g. the CLI's option choices) do not pull in scikit-learn and datasets.
_API: dict[str, str] = {
    "AXES": "terms",
    "BiasNliResult": "bias_nli",
    "BiasNliWords": "bias_nli_templates",
    "ClassificationResult": "classification",
    "FprdResult": "fprd",
    "GapResult": "gap",
    "METRICS": "report",
    "MetricOptions": "report",
    "MetricWarning": "common",
    "Predictions": "predictions",
    "ReferenceFprdResult": "fprd",
    "TprGapResult": "tpr_gap",
    "axis_terms": "terms",
    "bias_nli_scores": "bias_nli",
    "classification_scores": "classification",
    "compute_metrics": "report",
    "fprd": "fprd",
    "fprd_reference_code": "fprd",
    "gap_scores": "gap",
    "generate_bias_nli": "bias_nli_templates",
    "iptts_fprd": "fprd",
    "load_bias_nli_words": "bias_nli_templates",
    "read_predictions": "predictions",
    "read_terms": "terms",
    "term_matrix": "terms",
    "tpr_gap": "tpr_gap",
    "write_predictions": "predictions",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _API)
