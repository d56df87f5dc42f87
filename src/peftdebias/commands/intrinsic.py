"""``peftdebias intrinsic``: CrowS-Pairs, StereoSet and SEAT on a base, PEFT-debiased or
Full-Debias model; writes ``intrinsic.json``, ``intrinsic.md`` and per-item score files."""

from __future__ import annotations

import argparse

from .common import add_options, config_from_args

HELP = "intrinsic bias benchmarks: CrowS-Pairs, StereoSet, SEAT"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..intrinsic.evaluate import IntrinsicConfig
    from ..intrinsic.options import IntrinsicJob

    parser = subparsers.add_parser("intrinsic", help=HELP)
    add_options(parser, IntrinsicJob, exclusive=("debias", "full_debias", "head_from"))
    add_options(parser, IntrinsicConfig, defaults={"seed": 42})
    parser.set_defaults(func=_intrinsic)


def _intrinsic(args: argparse.Namespace) -> int:
    from ..intrinsic import IntrinsicConfig, IntrinsicJob, run_intrinsic

    config = config_from_args(IntrinsicConfig, args)
    print(run_intrinsic(config_from_args(IntrinsicJob, args), config).table)
    return 0
