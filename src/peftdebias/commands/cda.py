"""``peftdebias cda``: counterfactual data augmentation of a text file."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_data_dir, add_output

HELP = "counterfactually augment texts (swap he/she, black/white/asian, ...)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cda",
        help=HELP,
        description="Write the input texts with their counterfactuals as jsonl "
        "(fields: text, source, original, rotation, matched, is_counterfactual).",
    )
    parser.add_argument(
        "--axis",
        default=None,
        help="shipped word list (gender, race, religion, group), bias-bench:AXIS or "
        "peft-debias:AXIS from the data directory; with --words, the key to use in that file",
    )
    parser.add_argument(
        "--words",
        default=None,
        help="word-list file: JSON {axis: [[w1, w2, ...], ...]} or csv with one tuple per row",
    )
    parser.add_argument(
        "--input", required=True, help="texts: .txt (one per line) or .jsonl with a text field"
    )
    add_output(parser)
    parser.add_argument(
        "--keep-original",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="two-sided CDA: keep each matched original next to its counterfactuals "
        "(default); --no-keep-original: one-sided, counterfactuals only",
    )
    parser.add_argument(
        "--drop-unmatched",
        action="store_true",
        help="leave out texts without any attribute word (bias-bench does)",
    )
    add_data_dir(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..cda import CounterfactualAugmenter, augment_file, load_word_list
    from ..errors import ConfigError
    from ..validation import check_data_dir, check_output_file, check_text_file

    if args.words is None and args.axis is None:
        raise ConfigError("give --axis (gender, race, religion, group) or --words FILE")
    check_data_dir(args.data_dir)
    check_text_file(args.input, "--input")
    check_output_file(args.output, args.overwrite)
    if args.words is not None and Path(args.words).is_file():  # else: the loader says why
        check_text_file(args.words, "--words")
    if args.words is not None:
        word_list = load_word_list(args.words, args.data_dir, axis=args.axis)
    else:
        word_list = load_word_list(args.axis, args.data_dir)
    summary = augment_file(
        CounterfactualAugmenter(word_list),
        args.input,
        args.output,
        keep_original=args.keep_original,
        drop_unmatched=args.drop_unmatched,
        overwrite=args.overwrite,
    )
    share = summary.matched / summary.inputs
    print(
        f"cda ({word_list.axis}, {len(word_list)} tuples from {word_list.source}): "
        f"{summary.inputs} texts, {summary.matched} with attribute words ({share:.1%}); "
        f"wrote {summary.originals} originals + {summary.counterfactuals} counterfactuals "
        f"to {args.output}"
    )
    return 0
