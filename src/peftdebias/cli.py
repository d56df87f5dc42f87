"""The ``peftdebias`` command line. Holds no logic: each sub-command lives in
``peftdebias.commands.<name>`` and only parses options and calls the Python API."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .errors import PeftDebiasError

# Sub-command modules, in the order ``--help`` lists them. Each defines
# ``register(subparsers)`` which adds its parser and sets ``func(args) -> int | None``.
COMMANDS: tuple[str, ...] = (
    "quickstart", "data", "cda", "upstream", "downstream", "intrinsic", "metrics", "run", "report",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peftdebias",
        description="Parameter-efficient debiasing of language models (PEFTDebias).",
    )
    parser.add_argument("--version", action="version", version=f"peftdebias {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"peftdebias.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except PeftDebiasError as exc:
        print(f"peftdebias {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"peftdebias {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
