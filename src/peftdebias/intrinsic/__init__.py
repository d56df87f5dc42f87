"""Intrinsic bias benchmarks: CrowS-Pairs, StereoSet intrasentence and SEAT.

Each runner takes an already-loaded ``(model, tokenizer)`` (base model, base + PEFT module, or
a fully fine-tuned model) and scores exactly as McGill-NLP/bias-bench, with batched forward
passes (see ``docs/intrinsic.md``). The benchmarks are declared in
:mod:`peftdebias.intrinsic.registry`, their results typed in
:mod:`peftdebias.intrinsic.results`.
"""

from __future__ import annotations

import importlib
from typing import Any

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

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
