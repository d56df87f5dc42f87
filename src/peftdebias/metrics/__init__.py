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

from .bias_nli import BiasNliResult, bias_nli_scores
from .bias_nli_templates import BiasNliWords, generate_bias_nli, load_bias_nli_words
from .classification import ClassificationResult, classification_scores
from .common import MetricWarning
from .fprd import FprdResult, ReferenceFprdResult, fprd, fprd_reference_code, iptts_fprd
from .gap import GapResult, gap_scores
from .predictions import Predictions, read_predictions, write_predictions
from .report import METRICS, MetricOptions, compute_metrics
from .terms import AXES, axis_terms, read_terms, term_matrix
from .tpr_gap import TprGapResult, tpr_gap

__all__ = [
    "AXES",
    "METRICS",
    "BiasNliResult",
    "BiasNliWords",
    "ClassificationResult",
    "FprdResult",
    "GapResult",
    "MetricOptions",
    "MetricWarning",
    "Predictions",
    "ReferenceFprdResult",
    "TprGapResult",
    "axis_terms",
    "bias_nli_scores",
    "classification_scores",
    "compute_metrics",
    "fprd",
    "fprd_reference_code",
    "gap_scores",
    "generate_bias_nli",
    "iptts_fprd",
    "load_bias_nli_words",
    "read_predictions",
    "read_terms",
    "term_matrix",
    "tpr_gap",
    "write_predictions",
]
