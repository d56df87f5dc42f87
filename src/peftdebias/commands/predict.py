"""``peftdebias predict``: apply a trained downstream classifier to any labelled file."""

from __future__ import annotations

import argparse

from .common import add_output, add_seed, config_from_args
from .downstream import add_inference


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="score a labelled csv/tsv/jsonl with a trained downstream classifier",
        description="Apply the classifier of a downstream run (RUN/model) to a labelled file "
        "and write predictions.jsonl and metrics.json (the metrics and per-term tables "
        "`peftdebias downstream` computes, with 95% bootstrap intervals), so a classifier "
        "trained on one data set can be scored on another without retraining.",
    )
    parser.add_argument(
        "--model-dir", required=True, metavar="DIR", help="a downstream run's model/ folder"
    )
    parser.add_argument("--input", required=True, metavar="FILE", help="labelled .csv/.tsv/.jsonl")
    parser.add_argument("--text-column", default="text", help="text column (default: text)")
    parser.add_argument("--label-column", default="label", help="label column (default: label)")
    parser.add_argument("--text-pair-column", help="second text column (NLI)")
    parser.add_argument("--attribute-column", help="protected attribute column (TPR-GAP)")
    parser.add_argument("--id-column", help="id column (default: the row number)")
    parser.add_argument(
        "--fprd-axis", help="identity terms for FPRD (default: the training run's, else group)"
    )
    parser.add_argument("--fprd-terms", help="file of identity terms (one per line) for FPRD")
    parser.add_argument(
        "--max-length", type=int, help="tokens per input (default: the training run's)"
    )
    add_inference(parser)
    add_output(parser)
    add_seed(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..downstream import PredictConfig, predict_file

    config = config_from_args(PredictConfig, args)
    metrics = predict_file(config)
    scores = metrics["metrics"]["classification"]
    line = (
        f"{config.input}: {metrics['n']} rows, accuracy {scores['accuracy']:.4f}, "
        f"macro-F1 {scores['macro_f1']:.4f}"
    )
    fprd = metrics["metrics"].get("fprd", {}).get("fprd")
    if fprd is not None:
        line += f", FPRD {fprd:.4f}"
    print(f"{line}; predictions and metrics in {config.output}")
    return 0
