"""``peftdebias upstream``: learn a debiasing module (CDA + masked LM, backbone frozen)."""

from __future__ import annotations

import argparse

from .common import add_options, config_from_args

HELP = "learn a debiasing module with CDA + masked LM"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..upstream.options import UpstreamConfig

    parser = subparsers.add_parser(
        "upstream",
        help=HELP,
        description="Freeze the model, attach a PEFT module and train only the module with "
        "masked LM on counterfactually augmented text.",
    )
    add_options(parser, UpstreamConfig)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..upstream import UpstreamConfig, train_upstream

    result = train_upstream(config_from_args(UpstreamConfig, args))
    meta = result.metadata
    print(
        f"saved {meta['method']} module ({meta['trainable_parameters']:,} trainable parameters, "
        f"{meta['trainable_percent']:.3f}%) to {result.output}; held-out MLM loss "
        f"{meta['heldout_before']['loss']:.3f} -> {meta['heldout_after']['loss']:.3f}"
    )
    return 0
