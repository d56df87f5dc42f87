"""``peftdebias upstream``: learn a debiasing module (CDA + masked LM, backbone frozen)."""

from __future__ import annotations

import argparse
import json

from .common import add_data_dir, add_model, add_output, add_seed, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upstream",
        help="learn a debiasing module with CDA + masked LM",
        description="Freeze the model, attach a PEFT module and train only the module with "
        "masked LM on counterfactually augmented text.",
    )
    add_model(parser)
    parser.add_argument(
        "--axis",
        required=True,
        help="gender, race, religion, group, or a word-list file; several joined by commas "
        "(gender,race) learn one module on the counterfactuals of each",
    )
    parser.add_argument(
        "--corpus", required=True, help="registered data set (its text) or a .txt/.jsonl/.csv file"
    )
    parser.add_argument("--corpus-split", default="train", help="split of a registered corpus")
    parser.add_argument(
        "--method",
        required=True,
        help="adapter, prompt, prefix, lora, sft, dora, ia3, miss, hra, oft, vera, "
        "ether, ether+, bora, spectral, gps, spt, lightpeft, or full (Full-Debias)",
    )
    add_output(parser)
    parser.add_argument("--preset", default="quick", help="quick (CPU, default) or paper")
    parser.add_argument("--max-steps", type=int, help="training steps of the module")
    parser.add_argument("--eval-steps", type=int, help="evaluate (and checkpoint) every N steps")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", "--lr", type=float, dest="learning_rate")
    parser.add_argument("--max-length", type=int, help="tokens per text (paper: 256)")
    parser.add_argument("--max-texts", type=int, help="use only the first N corpus texts")
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="train under bfloat16 autocast (about 2x faster on CPUs with avx512_bf16)",
    )
    parser.add_argument(
        "--head-warmup-steps",
        type=int,
        help="MLM-head warm-up steps for models without a trained head",
    )
    parser.add_argument(
        "--calibration-steps",
        type=int,
        help="full-training steps before sparse fine-tuning picks its weights",
    )
    parser.add_argument(
        "--objective", default="mlm", help="mlm (default), consistency, mlm+consistency"
    )
    parser.add_argument("--consistency-weight", type=float, default=1.0)
    parser.add_argument(
        "--no-keep-original",
        dest="keep_original",
        action="store_false",
        help="train on counterfactuals only (one-sided CDA)",
    )
    parser.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method hyper-parameter, e.g. r=16 (JSON values)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    add_data_dir(parser)
    add_seed(parser)
    parser.set_defaults(func=_run)


def _parse_options(items: list[str]) -> dict:
    from ..errors import ConfigError

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--method-option {item!r} must be KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _run(args: argparse.Namespace) -> int:
    from ..upstream import UpstreamConfig, train_upstream

    config = config_from_args(
        UpstreamConfig, args, method_options=_parse_options(args.method_option)
    )
    result = train_upstream(config)
    meta = result.metadata
    print(
        f"saved {meta['method']} module ({meta['trainable_parameters']:,} trainable parameters, "
        f"{meta['trainable_percent']:.3f}%) to {result.output}; held-out MLM loss "
        f"{meta['heldout_before']['loss']:.3f} -> {meta['heldout_after']['loss']:.3f}"
    )
    return 0
