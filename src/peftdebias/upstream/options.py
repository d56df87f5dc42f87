"""The options of the upstream phase, :class:`UpstreamConfig`: the Python API's arguments, the
``peftdebias upstream`` options (generated from the fields) and the experiment YAML's
``upstream.options`` keys. Light on purpose (no torch): ``--help`` reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..fields import (
    data_dir_option,
    fp16_option,
    gradient_accumulation_option,
    key_values,
    model_option,
    option,
    output_option,
    overwrite_option,
    resume_option,
    seed_option,
    warmup_ratio_option,
)


@dataclass
class UpstreamConfig:
    """Options of ``peftdebias upstream``; ``None`` values come from the preset."""

    axis: str = option(
        help="gender, race, religion, group, or a word-list file; several joined by commas "
        "(gender,race) learn one module on the counterfactuals of each"
    )
    corpus: str = option(help="registered data set (its text) or a .txt/.jsonl/.csv file")
    method: str = option(
        help="adapter, prompt, prefix, lora, sft, dora, ia3, miss, hra, oft, vera, "
        "ether, ether+, bora, spectral, gps, spt, lightpeft, or full (Full-Debias)"
    )
    output: str = output_option()
    model: str = model_option()
    preset: str = option("quick", help="quick (CPU, default) or paper")
    data_dir: str | None = data_dir_option()
    corpus_split: str = option("train", help="split of a registered corpus")
    max_steps: int | None = option(None, help="training steps of the module")
    eval_steps: int | None = option(None, help="evaluate (and checkpoint) every N steps")
    batch_size: int | None = option(None, help="texts per batch (default: the preset's)")
    learning_rate: float | None = option(
        None, flags=("--learning-rate", "--lr"), help="learning rate (default: the preset's)"
    )
    max_length: int | None = option(None, help="tokens per text (paper: 256)")
    head_warmup_steps: int | None = option(
        None, help="MLM-head warm-up steps for models without a trained head"
    )
    calibration_steps: int | None = option(
        None, help="full-training steps before sparse fine-tuning picks its weights"
    )
    max_texts: int | None = option(None, help="use only the first N corpus texts")
    objective: str = option("mlm", help="mlm (default), consistency, mlm+consistency")
    consistency_weight: float = option(1.0, help="weight of the consistency loss (default 1)")
    keep_original: bool = option(True, help="train on counterfactuals only (one-sided CDA)")
    # bfloat16 autocast (fp32 weights; falls back to fp32 where not fast)
    bf16: bool = option(
        False, help="train under bfloat16 autocast (about 2x faster on CPUs with avx512_bf16)"
    )
    fp16: bool = fp16_option()
    gradient_accumulation_steps: int = gradient_accumulation_option()
    warmup_ratio: float = warmup_ratio_option()
    seed: int = seed_option()
    method_options: dict[str, Any] = option(
        flags=("--method-option",),
        metavar="KEY=VALUE",
        repeat=True,
        parse=key_values,
        help="method hyper-parameter, e.g. r=16 (JSON values)",
        default_factory=dict,
    )
    overwrite: bool = overwrite_option()
    resume: bool = resume_option()
