"""The options of the downstream phase (:class:`DownstreamConfig`) and of applying a saved
classifier (:class:`PredictConfig`): the Python API's arguments, the ``peftdebias downstream``
and ``predict`` options (generated from the fields) and the experiment YAML's
``downstream.options`` keys. Light on purpose (no torch): ``--help`` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from ..fields import (
    class_weights,
    data_dir_option,
    fp16_option,
    gradient_accumulation_option,
    model_option,
    option,
    output_option,
    overwrite_option,
    resume_option,
    seed_option,
    warmup_ratio_option,
)
from ..tasks import task_help

BASELINES = ("ft", "cda", "clp")
PRECISIONS = ("fp32", "bf16")
# rows per inference batch; batches are also capped at INFERENCE_TOKENS tokens (rows x
# padded length), so long inputs go in smaller batches (measured: bench/bench_inference.py)
INFERENCE_BATCH_SIZE = 256


def _precision() -> str:
    return option(
        "fp32",
        choices=PRECISIONS,
        help="inference precision: fp32 (default) or bf16 autocast (faster on CPUs with "
        "avx512_bf16; see docs/downstream.md for its agreement with fp32)",
    )


def _inference_batch_size() -> int:
    return option(
        INFERENCE_BATCH_SIZE,
        help="rows per inference batch (length-sorted, at most 8,192 tokens; default 256)",
    )


def _bootstrap_resamples() -> int:
    return option(
        1000, help="bootstrap resamples of the 95%% confidence intervals (default 1000; 0: none)"
    )


# the columns of a user task file (``columns``: {"text": ..., ...}; None: the default name)
COLUMNS = {
    "text": "user file: text column (default: text)",
    "text_pair": "user file: second text column",
    "label": "user file: label column (default: label)",
    "attribute": "user file: protected attribute column",
}


@dataclass
class DownstreamConfig:
    """Options of ``peftdebias downstream``; ``None`` values come from the preset."""

    task: str = option(help=task_help())
    output: str = output_option()
    dev_file: str | None = option(
        None,
        metavar="FILE",
        help="with --task FILE: the development split's file (same columns; with --test-file, "
        "instead of carving --task 80/10/10)",
    )
    test_file: str | None = option(
        None, metavar="FILE", help="with --task FILE: the test split's file (see --dev-file)"
    )
    model: str = model_option()
    # one module folder, or several to compose
    debias: str | list[str] | None = option(
        None,
        metavar="DIR",
        repeat=True,
        help="upstream module folder (frozen); repeat to compose modules of different axes "
        "(e.g. two LoRA modules; see docs/methods.md)",
    )
    full_debias: str | None = option(None, metavar="DIR", help="upstream Full-Debias model folder")
    baseline: str | None = option(
        None,
        choices=BASELINES,
        help="ft: plain fine-tuning; cda: on the training set augmented two-sided with "
        "counterfactuals (--cda-axis); clp: with counterfactual logit pairing (--clp-weight)",
    )
    preset: str = option("quick", help="quick (CPU, default) or paper")
    epochs: float | None = option(None, help="training epochs (default: the preset's)")
    batch_size: int | None = option(None, help="examples per batch (default: the preset's)")
    learning_rate: float | None = option(
        None, flags=("--learning-rate", "--lr"), help="learning rate (default: the preset's)"
    )
    max_length: int | None = option(None, help="tokens per input (paper: 128)")
    max_train_examples: int | None = option(None, help="subsample the training split")
    max_eval_examples: int | None = option(
        None, help="seeded subsample of dev and test (default: all)"
    )
    class_weights: dict[int, float] | None = option(
        None,
        parse=class_weights,
        help='JSON, e.g. \'{"0": 1, "1": 10}\' (default: the task\'s)',
    )
    freeze_layernorm: bool = option(False, help="freeze every LayerNorm (reference code)")
    fprd_axis: str = option("group", help="identity terms for FPRD")
    fprd_terms: str | None = option(None, help="file of identity terms (one per line) for FPRD")
    iptts: bool = option(True, help="skip the IPTTS evaluation of hate-speech tasks")
    max_iptts_examples: int | None = option(
        None, help="seeded IPTTS subsample (default: all 76,564)"
    )
    bias_nli: bool = option(True, help="skip the Bias-NLI evaluation of NLI tasks")
    max_bias_nli_examples: int | None = option(
        None, help="seeded sample of the Bias-NLI pairs (quick preset: 10,000; paper: all ~1.06M)"
    )
    cda_axis: str | None = option(
        None,
        help="CDA axis or word-list file of the counterfactuals of --baseline cda/clp and "
        "--clp-weight (default: --fprd-axis when it is a CDA axis, else group)",
    )
    clp_weight: float | None = option(
        None,
        help="counterfactual logit pairing: loss += W * mean |logit(x) - logit(x')| over "
        "training examples with a counterfactual (default 1.0 with --baseline clp, else off; "
        "works with any start)",
    )
    precision: str = _precision()
    # bfloat16 autocast (fp32 weights; falls back to fp32 where not fast)
    bf16: bool = option(
        False,
        help="train under bfloat16 autocast (about 2x faster on CPUs with avx512_bf16; "
        "inference precision is --precision)",
    )
    fp16: bool = fp16_option()
    gradient_accumulation_steps: int = gradient_accumulation_option()
    warmup_ratio: float = warmup_ratio_option()
    group_by_length: bool = option(
        False,
        help="training batches of similar lengths (less padding, faster; changes the order)",
    )
    inference_batch_size: int = _inference_batch_size()
    bootstrap_resamples: int = _bootstrap_resamples()
    columns: dict[str, str | None] = option(
        flags=("--{}-column",),
        parts=COLUMNS,
        metavar="NAME",
        help="user file columns",
        default_factory=dict,
    )
    seed: int = seed_option()
    data_dir: str | None = data_dir_option()
    overwrite: bool = overwrite_option()
    resume: bool = resume_option()


@dataclass
class PredictConfig:
    """Options of ``peftdebias predict``; ``None`` values come from the model's manifest."""

    model_dir: str = option(metavar="DIR", help="a downstream run's model/ folder")
    input: str = option(metavar="FILE", help="labelled .csv/.tsv/.jsonl")
    output: str = output_option()
    text_column: str = option("text", help="text column (default: text)")
    label_column: str = option("label", help="label column (default: label)")
    text_pair_column: str | None = option(None, help="second text column (NLI)")
    attribute_column: str | None = option(None, help="protected attribute column (TPR-GAP)")
    id_column: str | None = option(None, help="id column (default: the row number)")
    fprd_axis: str | None = option(
        None, help="identity terms for FPRD (default: the training run's, else group)"
    )
    fprd_terms: str | None = option(None, help="file of identity terms (one per line) for FPRD")
    max_length: int | None = option(None, help="tokens per input (default: the training run's)")
    inference_batch_size: int = _inference_batch_size()
    precision: str = _precision()
    bootstrap_resamples: int = _bootstrap_resamples()
    seed: int = seed_option()
    overwrite: bool = overwrite_option()
