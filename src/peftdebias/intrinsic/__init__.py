"""Intrinsic bias benchmarks: CrowS-Pairs, StereoSet intrasentence and SEAT.

Each runner takes an already-loaded ``(model, tokenizer)`` (base model, base + PEFT module, or
a fully fine-tuned model) and scores exactly as McGill-NLP/bias-bench, with batched forward
passes (see ``docs/intrinsic.md``). The benchmarks are declared in
:mod:`peftdebias.intrinsic.registry`, their results typed in
:mod:`peftdebias.intrinsic.results`.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> submodule that defines it; imported on first use so that reading results
# (the report) does not pull in torch and transformers.
_API: dict[str, str] = {
    "BENCHMARKS": "registry",
    "BatchedScorer": "scoring",
    "CrowSPairsRunner": "crows",
    "IntrinsicConfig": "evaluate",
    "IntrinsicJob": "options",
    "IntrinsicOutput": "job",
    "MaskedQuery": "scoring",
    "SEATRunner": "seat",
    "SentenceEncoder": "seat",
    "SequentialScorer": "scoring",
    "StereoSetRunner": "stereoset",
    "evaluate_intrinsic": "evaluate",
    "markdown_table": "evaluate",
    "run_intrinsic": "job",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _API)
