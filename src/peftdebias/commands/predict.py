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
    from ..metrics.results import SplitResult

    config = config_from_args(PredictConfig, args)
    result = SplitResult.from_json(predict_file(config), str(config.output))
    scores = result.metrics.classification
    line = (
        f"{config.input}: {result.n} rows, accuracy {scores.accuracy:.4f}, "
        f"macro-F1 {scores.macro_f1:.4f}"
    )
    if result.metrics.fprd is not None and result.metrics.fprd.fprd is not None:
        line += f", FPRD {result.metrics.fprd.fprd:.4f}"
    print(f"{line}; predictions and metrics in {config.output}")
    return 0
