"""Intrinsic bias benchmarks: CrowS-Pairs, StereoSet intrasentence and SEAT.

Each runner takes an already-loaded ``(model, tokenizer)`` (base model, base + PEFT module, or
a fully fine-tuned model) and scores exactly as McGill-NLP/bias-bench, with batched forward
passes (see ``docs/intrinsic.md``).
"""

from .crows import CrowSPairsRunner
from .evaluate import BENCHMARKS, IntrinsicConfig, evaluate_intrinsic, markdown_table
from .scoring import BatchedScorer, MaskedQuery, SequentialScorer
from .seat import SEATRunner, SentenceEncoder
from .stereoset import StereoSetRunner

__all__ = [
    "BENCHMARKS",
    "BatchedScorer",
    "CrowSPairsRunner",
    "IntrinsicConfig",
    "MaskedQuery",
    "SEATRunner",
    "SentenceEncoder",
    "SequentialScorer",
    "StereoSetRunner",
    "evaluate_intrinsic",
    "markdown_table",
]
