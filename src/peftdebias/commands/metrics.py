"""``peftdebias metrics``: recompute task and bias metrics from a predictions file."""

from __future__ import annotations

import argparse
import json

from .common import add_output

HELP = "compute accuracy/F1, TPR-GAP, FPRD, IPTTS FPRD, GAP, Bias-NLI from predictions"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..metrics.names import AXES, GAP_LABELS, METRICS

    parser = subparsers.add_parser(
        "metrics",
        help=HELP,
    )
    parser.add_argument("--predictions", required=True, help="predictions.jsonl file")
    parser.add_argument(
        "--metric",
        nargs="+",
        choices=METRICS,
        default=None,
        metavar="NAME",
        help=f"metrics to compute ({', '.join(METRICS)}; default: all the fields allow)",
    )
    parser.add_argument("--terms", default=None, help="FPRD identity term file, one per line")
    parser.add_argument(
        "--axis",
        default="group",
        choices=tuple(AXES),
        help="axis whose shipped identity terms FPRD uses when --terms is not given "
        "(default: group = race + religion + sexuality)",
    )
    parser.add_argument(
        "--groups",
        nargs=2,
        default=("male", "female"),
        metavar=("G1", "G2"),
        help="TPR-GAP groups: gap = TPR(G1) - TPR(G2) (default: male female)",
    )
    parser.add_argument(
        "--neutral-index",
        type=int,
        default=1,
        help="Bias-NLI: index of the neutral class in probs (default: 1)",
    )
    parser.add_argument(
        "--gap-labels",
        nargs="+",
        default=list(GAP_LABELS),
        help="GAP: class names in index order (default: A B neither)",
    )
    add_output(parser, required=False)
    parser.set_defaults(func=_metrics)


def _metrics(args: argparse.Namespace) -> int:
    from ..io import write_json
    from ..metrics.predictions import read_predictions
    from ..metrics.report import MetricOptions, compute_metrics, summary_line
    from ..metrics.terms import axis_terms, read_term_file
    from ..validation import check_output_file, check_text_file

    if args.output:
        check_output_file(args.output, args.overwrite)
    terms = read_term_file(args.terms, "--terms") if args.terms else axis_terms(args.axis)
    predictions = read_predictions(check_text_file(args.predictions, "--predictions"))
    options = MetricOptions(
        terms=terms,
        terms_source=f"file {args.terms}" if args.terms else f"axis {args.axis}",
        groups=tuple(args.groups),
        gap_labels=args.gap_labels,
        neutral_index=args.neutral_index,
    )
    results = compute_metrics(predictions, args.metric, options)
    if args.output:
        write_json(args.output, results)
        for name, values in results["metrics"].items():
            print(summary_line(name, values))
        print(f"wrote {args.output}")
    else:
        print(json.dumps(results, indent=2, default=str))
    return 0
