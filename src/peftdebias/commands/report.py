"""``peftdebias report DIR``: Table 1/Table 2 markdown + CSV and PNG plots of a run."""

from __future__ import annotations

import argparse

HELP = "tables (paper layout), significance tests and plots of an experiment run"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help=HELP,
        description="Write report.md, table1_intrinsic.csv, table2_extrinsic.csv, cells.csv "
        "and PNG plots for the run directory of 'peftdebias run' (or quickstart).",
    )
    parser.add_argument("run_dir", metavar="DIR", help="run directory (holds manifest.json)")
    parser.add_argument("--output", default=None, help="where to write (default: DIR)")
    parser.add_argument(
        "--module",
        default=None,
        help="method compared with FT in the per-class and per-term plots "
        "(default: the first module method of the config)",
    )
    parser.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from ..experiments import write_report
    from ..validation import check_output_parent

    if args.output:
        check_output_parent(args.output)
    report = write_report(args.run_dir, args.output, args.module)
    print(report.markdown)
    print("wrote: " + ", ".join(str(p) for p in report.files))
    return 0
