"""Names shared by the metrics and the CLI, in a module light enough to import for
``--help`` (no numpy, pandas or scikit-learn)."""

from __future__ import annotations

# every metric ``compute_metrics`` knows, in report order
METRICS: tuple[str, ...] = ("classification", "tpr-gap", "fprd", "iptts-fprd", "gap", "bias-nli")

# GAP class names in index order (label 0 = the pronoun refers to A, 1 = to B, 2 = neither)
GAP_LABELS: tuple[str, str, str] = ("A", "B", "neither")

# identity-term axes: each names the shipped term files (resources/identity_terms) it unites
AXES: dict[str, tuple[str, ...]] = {
    "gender": ("gender",),
    "race": ("race",),
    "religion": ("religion",),
    "sexuality": ("sexuality",),
    "group": ("race", "religion", "sexuality"),
    "iptts": ("iptts",),
    # the 54 words of the PEFTDebias reference code's FPRD (group_bias_words)
    "reference-code": ("reference_code",),
}
