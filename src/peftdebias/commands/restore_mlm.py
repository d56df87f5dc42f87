"""``peftdebias restore-mlm``: train a masked-LM head plus a low-rank encoder delta for a
model shipped without a trained MLM head, and write the small restoration artefact."""

from __future__ import annotations

import argparse
import shlex
import sys

from .common import add_data_dir, add_output, add_seed

# peftdebias.restoration.DEFAULT_CORPORA, spelt out to keep `--help` free of heavy imports
DEFAULT_CORPORA = ("wikitext-2:validation", "gap:dev+validation")


HELP = "give a model without a trained masked-LM head a real one"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore-mlm",
        help=HELP,
        description="Train the MLM head plus a LoRA delta on the encoder's linear layers with "
        "masked LM on general text; writes a few-MB artefact (peft adapter + head + record) "
        "that `--model DIR` loads as an ordinary masked LM. Evaluated on WikiText-2 test.",
    )
    parser.add_argument(
        "--model",
        default="minilm-raw",
        help="model to restore (default: minilm-raw, all-MiniLM-L6-v2 as published)",
    )
    parser.add_argument(
        "--corpus",
        dest="corpora",
        action="append",
        metavar="NAME[:SPLIT[+SPLIT]]|FILE",
        help="training text, repeatable (default: " + ", ".join(DEFAULT_CORPORA) + ")",
    )
    add_output(parser)
    parser.add_argument("--max-steps", type=int, default=2000, help="training steps (2000)")
    parser.add_argument("--batch-size", type=int, default=32, help="packed blocks per step (32)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per block (128)")
    parser.add_argument("--learning-rate", "--lr", type=float, default=1e-3, dest="learning_rate")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument(
        "--rank", type=int, default=16, help="LoRA rank (16); 0 trains the head only"
    )
    parser.add_argument("--alpha", type=int, default=32, help="LoRA alpha (32)")
    parser.add_argument(
        "--eval-steps", type=int, default=250, help="learning-curve point every N steps"
    )
    parser.add_argument(
        "--curve-texts",
        type=int,
        default=400,
        help="WikiText-2 test paragraphs scored for the curve (all are scored at the end)",
    )
    parser.add_argument(
        "--heldout-texts",
        type=int,
        default=None,
        help="score only the first N WikiText-2 test paragraphs before/after (default: all)",
    )
    parser.add_argument(
        "--no-bf16", dest="bf16", action="store_false", help="train in float32 (slower on CPU)"
    )
    parser.add_argument("--name", help="name recorded in the artefact (default: output folder)")
    add_data_dir(parser)
    add_seed(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..restoration import RestoreConfig, restore_mlm
    from .common import config_from_args

    config = config_from_args(
        RestoreConfig,
        args,
        corpora=tuple(args.corpora or DEFAULT_CORPORA),
        command=shlex.join(["peftdebias", *getattr(args, "argv", sys.argv[1:])]),
    )
    result = restore_mlm(config)
    heldout = result.record["heldout"]
    print(
        f"saved the MLM restoration of {config.model} to {result.output}; WikiText-2 test "
        f"masked-token accuracy {heldout['before']['accuracy']:.3f} -> "
        f"{heldout['after']['accuracy']:.3f} (loss {heldout['before']['loss']:.3f} -> "
        f"{heldout['after']['loss']:.3f}); load it with --model {result.output}"
    )
    return 0
