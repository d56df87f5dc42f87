"""``peftdebias predict``: apply a trained downstream classifier to any labelled file."""

from __future__ import annotations

import argparse

from .common import add_options, config_from_args

HELP = "score a labelled csv/tsv/jsonl with a trained downstream classifier"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..downstream.options import PredictConfig

    parser = subparsers.add_parser(
        "predict",
        help=HELP,
        description="Apply the classifier of a downstream run (RUN/model) to a labelled file "
        "and write predictions.jsonl and metrics.json (the metrics and per-term tables "
        "`peftdebias downstream` computes, with 95% bootstrap intervals), so a classifier "
        "trained on one data set can be scored on another without retraining.",
    )
    add_options(parser, PredictConfig)
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
