"""The ``peftdebias`` command line. Holds no logic: each sub-command lives in
``peftdebias.commands.<name>`` and only parses options and calls the Python API."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Collection, Iterator

from ._version import __version__
from .console import quiet_libraries, setup_logging
from .errors import PeftDebiasError, Terminated, describe, one_line

logger = logging.getLogger(__name__)

# Sub-command modules, in the order ``--help`` lists them. Each defines
# ``register(subparsers)`` which adds its parser and sets ``func(args) -> int | None``.
COMMANDS: tuple[str, ...] = (
    "quickstart", "data", "cda", "restore-mlm", "upstream", "downstream", "predict", "intrinsic",
    "metrics", "run", "report",
)  # fmt: skip


def build_parser(commands: Collection[str] = COMMANDS) -> argparse.ArgumentParser:
    """The ``peftdebias`` parser, with the options of ``commands`` (the others are listed
    by name and help only, so that ``peftdebias --help`` imports no config module)."""
    parser = argparse.ArgumentParser(
        prog="peftdebias",
        description="Parameter-efficient debiasing of language models (PEFTDebias).",
    )
    parser.add_argument("--version", action="version", version=f"peftdebias {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log debug messages; show library warnings, load reports and training logs",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"peftdebias.commands.{name.replace('-', '_')}")
        if name in commands:
            module.register(subparsers)
        else:
            subparsers.add_parser(name, help=module.HELP)
    return parser


def _command_in(argv: list[str]) -> list[str]:
    """The sub-command named in ``argv`` (the first word; top-level options take no value),
    as a list of at most one."""
    words = [arg for arg in argv if not arg.startswith("-")]
    return words[:1] if words and words[0] in COMMANDS else []


# how to continue after an interrupt, for the commands that can
RESUME_HINTS = {
    "upstream": "pass --resume to continue from the last checkpoint",
    "downstream": "pass --resume to continue from the last checkpoint",
    "run": "run the same command again to resume",
    "quickstart": "run the same command again to resume",
}


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM handler: stop the command the way Ctrl-C does."""
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM stops the command as Ctrl-C does (main thread only)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(command: str, how: str) -> str:
    """The one line printed when ``command`` is stopped, with how to resume where it can."""
    hint = RESUME_HINTS.get(command)
    return f"peftdebias {command}: {how}" + (f"; {hint}" if hint else "")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    args.argv = argv  # recorded by some commands
    setup_logging(args.verbose)
    prefix = f"peftdebias {args.command}: error:"
    try:
        with _sigterm_as_interrupt(), quiet_libraries(args.verbose):
            return int(args.func(args) or 0)
    except PeftDebiasError as exc:
        print(f"{prefix} {one_line(str(exc))}", file=sys.stderr)
        return 2
    except Terminated:
        print(_interrupted(args.command, "terminated (SIGTERM)"), file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(_interrupted(args.command, "interrupted"), file=sys.stderr)
        return 130
    except Exception as exc:
        message = describe(exc)
        if message is None:
            raise
        logger.debug("details of the error below", exc_info=True)
        print(f"{prefix} {one_line(message)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
