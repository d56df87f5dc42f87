"""``peftdebias downstream``: fine-tune on a task with the debiasing module frozen."""

from __future__ import annotations

import argparse
import json

from .common import (
    add_data_dir,
    add_model,
    add_output,
    add_seed,
    config_from_args,
    single_or_list,
)


def add_inference(parser: argparse.ArgumentParser) -> None:
    """Inference and confidence-interval options (shared with ``peftdebias predict``)."""
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="inference precision: fp32 (default) or bf16 autocast (faster on CPUs with "
        "avx512_bf16; see docs/downstream.md for its agreement with fp32)",
    )
    parser.add_argument(
        "--inference-batch-size",
        type=int,
        default=256,
        help="rows per inference batch (length-sorted, at most 8,192 tokens; default 256)",
    )
    parser.add_argument(
        "--bootstrap-resamples",
        type=int,
        default=1000,
        help="bootstrap resamples of the 95%% confidence intervals (default 1000; 0: none)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "downstream",
        help="fine-tune on a task with a frozen debiasing module (or a baseline)",
        description="Insert the upstream module, freeze it, fine-tune the rest on the task; "
        "or run the FT / Full-Debias baselines.",
    )
    add_model(parser)
    parser.add_argument(
        "--task",
        required=True,
        help="bias-in-bios, ghc, stormfront, founta, mnli, snli, gap, or a .csv/.tsv/.jsonl file",
    )
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--debias",
        metavar="DIR",
        action="append",
        help="upstream module folder (frozen); repeat to compose modules of different axes "
        "(e.g. two LoRA modules; see docs/methods.md)",
    )
    start.add_argument("--full-debias", metavar="DIR", help="upstream Full-Debias model folder")
    start.add_argument(
        "--baseline",
        choices=["ft", "cda", "clp"],
        help="ft: plain fine-tuning; cda: on the training set augmented two-sided with "
        "counterfactuals (--cda-axis); clp: with counterfactual logit pairing (--clp-weight)",
    )
    add_output(parser)
    parser.add_argument("--preset", default="quick", help="quick (CPU, default) or paper")
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", "--lr", type=float, dest="learning_rate")
    parser.add_argument("--max-length", type=int, help="tokens per input (paper: 128)")
    parser.add_argument("--max-train-examples", type=int, help="subsample the training split")
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="train under bfloat16 autocast (about 2x faster on CPUs with avx512_bf16; "
        "inference precision is --precision)",
    )
    parser.add_argument(
        "--group-by-length",
        action="store_true",
        help="training batches of similar lengths (less padding, faster; changes the order)",
    )
    parser.add_argument(
        "--max-eval-examples", type=int, help="seeded subsample of dev and test (default: all)"
    )
    parser.add_argument(
        "--class-weights", help='JSON, e.g. \'{"0": 1, "1": 10}\' (default: the task\'s)'
    )
    parser.add_argument(
        "--freeze-layernorm", action="store_true", help="freeze every LayerNorm (reference code)"
    )
    parser.add_argument("--fprd-axis", default="group", help="identity terms for FPRD")
    parser.add_argument("--fprd-terms", help="file of identity terms (one per line) for FPRD")
    parser.add_argument(
        "--no-iptts",
        dest="iptts",
        action="store_false",
        help="skip the IPTTS evaluation of hate-speech tasks",
    )
    parser.add_argument(
        "--max-iptts-examples", type=int, help="seeded IPTTS subsample (default: all 76,564)"
    )
    parser.add_argument(
        "--no-bias-nli",
        dest="bias_nli",
        action="store_false",
        help="skip the Bias-NLI evaluation of NLI tasks",
    )
    parser.add_argument(
        "--max-bias-nli-examples",
        type=int,
        help="seeded sample of the Bias-NLI pairs (quick preset: 10,000; paper: all ~1.06M)",
    )
    parser.add_argument(
        "--cda-axis",
        help="CDA axis or word-list file of the counterfactuals of --baseline cda/clp and "
        "--clp-weight (default: --fprd-axis when it is a CDA axis, else group)",
    )
    parser.add_argument(
        "--clp-weight",
        type=float,
        help="counterfactual logit pairing: loss += W * mean |logit(x) - logit(x')| over "
        "training examples with a counterfactual (default 1.0 with --baseline clp, else off; "
        "works with any start)",
    )
    add_inference(parser)
    parser.add_argument("--text-column", help="user file: text column (default: text)")
    parser.add_argument("--text-pair-column", help="user file: second text column")
    parser.add_argument("--label-column", help="user file: label column (default: label)")
    parser.add_argument("--attribute-column", help="user file: protected attribute column")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    add_data_dir(parser)
    add_seed(parser)
    parser.set_defaults(func=_run)


def _class_weights(text: str | None) -> dict[int, float] | None:
    from ..errors import ConfigError

    if not text:
        return None
    try:
        return {int(key): float(value) for key, value in json.loads(text).items()}
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"--class-weights must be a JSON object of label: weight ({exc})"
        ) from exc


def _run(args: argparse.Namespace) -> int:
    from ..downstream import DownstreamConfig, train_downstream

    columns = {
        "text": args.text_column,
        "text_pair": args.text_pair_column,
        "label": args.label_column,
        "attribute": args.attribute_column,
    }
    config = config_from_args(
        DownstreamConfig,
        args,
        class_weights=_class_weights(args.class_weights),
        columns=columns,
        debias=single_or_list(args.debias),
    )
    result = train_downstream(config)
    splits = result.metrics["splits"]
    test = splits["test"]["metrics"]["classification"]
    line = f"{config.task}: test accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}"
    interval = splits["test"].get("intervals", {}).get("classification.macro_f1")
    if interval and interval.get("low") is not None:
        line += f" [{interval['low']:.4f}, {interval['high']:.4f}]"
    if "bias-nli" in splits:
        nli = splits["bias-nli"]["metrics"]["bias-nli"]
        line += f"; Bias-NLI FN {nli['fraction_neutral']:.4f}, NN {nli['net_neutral']:.4f}"
    print(f"{line}; metrics in {result.output / 'metrics.json'}")
    return 0
