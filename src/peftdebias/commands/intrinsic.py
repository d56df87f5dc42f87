"""``peftdebias intrinsic``: CrowS-Pairs, StereoSet and SEAT on a base, PEFT-debiased or
Full-Debias model; writes ``intrinsic.json``, ``intrinsic.md`` and per-item score files."""

from __future__ import annotations

import argparse

from .common import add_data_dir, add_model, add_output, add_seed, single_or_list


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "intrinsic", help="intrinsic bias benchmarks: CrowS-Pairs, StereoSet, SEAT"
    )
    add_model(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--debias",
        metavar="DIR",
        action="append",
        help="debiasing module folder to attach to --model; repeat to compose several",
    )
    which.add_argument(
        "--full-debias",
        metavar="DIR",
        help="fully fine-tuned (Full-Debias) model folder, evaluated instead of --model",
    )
    which.add_argument(
        "--head-from",
        metavar="DIR",
        help="load only the MLM head warmed up in this upstream module folder onto --model "
        "(the no-module reference for a model shipped without a trained head)",
    )
    parser.add_argument(
        "--benchmarks",
        default="crows,stereoset,seat",
        help="comma-separated subset of crows,stereoset,seat (default: all)",
    )
    parser.add_argument(
        "--bias-type",
        default=None,
        help="gender, race (= CrowS race-color), religion, profession (StereoSet) or any "
        "CrowS-Pairs type (age, disability, ...); default: all",
    )
    parser.add_argument(
        "--crows-scoring",
        default="bias-bench",
        choices=("bias-bench", "pll"),
        help="bias-bench: mask the differing tokens (default); pll: Nangia et al.'s "
        "pseudo-log-likelihood of the unmodified tokens",
    )
    parser.add_argument(
        "--stereoset-split",
        default="dev",
        help="stereoset file: dev (default), test, gender, race, religion",
    )
    parser.add_argument(
        "--seat-tests",
        default=None,
        help="comma-separated SEAT test names (default: bias-bench's gender and race tests, "
        "or those of --bias-type)",
    )
    parser.add_argument(
        "--seat-pooling",
        default="mean",
        choices=("mean", "cls"),
        help="sentence encoding: mean of last hidden states (default) or the first token",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="sequences per forward pass (default 64; 0 = one forward pass per masked token)",
    )
    add_data_dir(parser)
    add_output(parser)
    add_seed(parser)
    parser.set_defaults(func=_intrinsic)


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _check(args: argparse.Namespace) -> None:
    """Every option naming a file or folder, before any model is loaded."""
    from pathlib import Path

    from ..methods.compose import check_composition
    from ..upstream import HEAD_FILE
    from ..validation import check_data_dir, check_model, check_output_dir, check_safetensors

    check_data_dir(args.data_dir)
    check_model(args.model)
    check_model(args.full_debias, "--full-debias")
    folders = [("--debias", folder) for folder in args.debias or []]
    for option, folder in (*folders, ("--head-from", args.head_from)):
        if folder and (Path(folder) / HEAD_FILE).is_file():
            check_safetensors(Path(folder) / HEAD_FILE, f"{option} MLM head")
    if len(folders) > 1:
        check_composition(args.debias, "--debias")
    check_output_dir(args.output, args.overwrite)


def _intrinsic(args: argparse.Namespace) -> int:
    from ..intrinsic import IntrinsicConfig, evaluate_intrinsic, markdown_table
    from ..io import atomic_open, prepare_output_dir, write_json, write_jsonl
    from ..upstream import load_debiased_lm

    config = IntrinsicConfig(
        benchmarks=_split(args.benchmarks) or (),
        bias_type=args.bias_type,
        crows_scoring=args.crows_scoring,
        stereoset_split=args.stereoset_split,
        seat_tests=_split(args.seat_tests),
        seat_pooling=args.seat_pooling,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    _check(args)
    # every file written below: --overwrite removes these first (no stale benchmark scores)
    owned = ("intrinsic.json", "intrinsic.md", "crows_scores.jsonl", "stereoset_scores.jsonl")
    output = prepare_output_dir(args.output, args.overwrite, owned=owned)
    model, tokenizer, missing = load_debiased_lm(
        args.model, args.debias, args.full_debias, args.head_from
    )
    result = evaluate_intrinsic(model, tokenizer, config, args.data_dir, missing)
    details = result.pop("details")
    result = {
        "model": args.model,
        "debias": single_or_list(args.debias),
        "full_debias": args.full_debias,
        "head_from": args.head_from,
        **result,
    }
    for name, rows in details.items():
        write_jsonl(output / f"{name}_scores.jsonl", rows)
    write_json(output / "intrinsic.json", result)
    table = markdown_table(result)
    with atomic_open(output / "intrinsic.md", "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    print(table)
    return 0
