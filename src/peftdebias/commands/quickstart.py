"""``peftdebias quickstart``: a small complete experiment (GHC, LoRA group module vs FT)."""

from __future__ import annotations

import argparse

from .common import add_data_dir

HELP = "small complete experiment on the default model (about 2-3 min on 2 CPU cores)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help=HELP,
        description="Learn a LoRA debiasing module (group axis) on GHC text, fine-tune GHC with "
        "it frozen and without it (FT), and report macro-F1, FPRD, FPRD on IPTTS and "
        "CrowS-Pairs race. Data: --data-dir, $PEFTDEBIAS_DATA_DIR, ./shared/data or "
        "../shared/data, else the download cache / a download when online. Re-running resumes.",
    )
    add_data_dir(parser)
    parser.add_argument(
        "--output", default="peftdebias-quickstart", help="run directory (default: %(default)s)"
    )
    # for tests: another (tiny) model
    parser.add_argument("--model", default="minilm", help=argparse.SUPPRESS)
    parser.set_defaults(func=_quickstart)


def _quickstart(args: argparse.Namespace) -> int:
    import time

    from ..experiments.quickstart import QuickstartSizes, quickstart
    from ..validation import check_data_dir

    check_data_dir(args.data_dir)
    sizes = QuickstartSizes()
    print(f"quickstart sizes: {sizes.describe()}", flush=True)
    started = time.time()
    result = quickstart(args.data_dir, args.output, args.model, sizes)
    print()
    print(result.table)
    print()
    print(f"report: {result.report}")
    for plot in result.plots:
        print(f"plot:   {plot}")
    print(f"run directory: {result.output} ({time.time() - started:.0f} s)")
    if not result.ok:
        for cell, error in result.failed.items():
            print(f"not finished: {cell}: {error}")
        print("run the same command again to retry the unfinished cells")
        return 1
    return 0
