"""``peftdebias downstream``: fine-tune on a task with the debiasing module frozen."""

from __future__ import annotations

import argparse

from .common import add_options, config_from_args

HELP = "fine-tune on a task with a frozen debiasing module (or a baseline)"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..downstream.options import DownstreamConfig

    parser = subparsers.add_parser(
        "downstream",
        help=HELP,
        description="Insert the upstream module, freeze it, fine-tune the rest on the task; "
        "or run the FT / Full-Debias baselines.",
    )
    start = ("debias", "full_debias", "baseline")  # exactly one
    add_options(parser, DownstreamConfig, exclusive=start, required=True)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..downstream import DownstreamConfig, results_table, train_downstream

    config = config_from_args(DownstreamConfig, args)
    result = train_downstream(config)
    test = result.record.splits["test"]
    scores = test.metrics.classification
    line = f"{config.task}: test accuracy {scores.accuracy:.4f}, macro-F1 {scores.macro_f1:.4f}"
    interval = test.interval(("classification", "macro_f1"))
    if interval is not None and interval.low is not None:
        line += f" [{interval.low:.4f}, {interval.high:.4f}]"
    nli_split = result.record.splits.get("bias-nli")
    if nli_split is not None and nli_split.metrics.bias_nli is not None:
        nli = nli_split.metrics.bias_nli
        line += f"; Bias-NLI FN {nli.fraction_neutral:.4f}, NN {nli.net_neutral:.4f}"
    print(results_table(result.record))
    print(f"{line}; metrics in {result.output / 'metrics.json'}")
    return 0
