"""``peftdebias restore-mlm``: train a masked-LM head plus a low-rank encoder delta for a
model shipped without a trained MLM head, and write the small restoration artefact."""

from __future__ import annotations

import argparse
import shlex
import sys

from .common import add_options, config_from_args

HELP = "give a model without a trained masked-LM head a real one"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..restoration.options import RestoreConfig

    parser = subparsers.add_parser(
        "restore-mlm",
        help=HELP,
        description="Train the MLM head plus a LoRA delta on the encoder's linear layers with "
        "masked LM on general text; writes a few-MB artefact (peft adapter + head + record) "
        "that `--model DIR` loads as an ordinary masked LM. Evaluated on WikiText-2 test.",
    )
    add_options(parser, RestoreConfig)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..restoration import RestoreConfig, restore_mlm

    command = shlex.join(["peftdebias", *getattr(args, "argv", sys.argv[1:])])
    config = config_from_args(RestoreConfig, args, command=command)
    result = restore_mlm(config)
    heldout = result.record["heldout"]
    print(
        f"saved the MLM restoration of {config.model} to {result.output}; WikiText-2 test "
        f"masked-token accuracy {heldout['before']['accuracy']:.3f} -> "
        f"{heldout['after']['accuracy']:.3f} (loss {heldout['before']['loss']:.3f} -> "
        f"{heldout['after']['loss']:.3f}); load it with --model {result.output}"
    )
    return 0
