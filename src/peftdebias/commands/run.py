"""``peftdebias run CONFIG.yaml --output DIR``: run or resume an experiment grid."""

from __future__ import annotations

import argparse

from .common import add_data_dir

HELP = "run (or resume) an experiment grid from a YAML config"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help=HELP,
        description="Run every cell of an experiment grid (upstream modules x downstream tasks "
        "x seeds, baselines, intrinsic benchmarks), each in its own sub-directory of --output. "
        "Re-running the same command resumes: finished cells are skipped, failed or "
        "interrupted ones are run again. Examples: configs/offline-cpu.yaml, configs/paper.yaml.",
    )
    parser.add_argument("config", help="experiment config (YAML)")
    parser.add_argument("--output", required=True, help="run directory (created; resumable)")
    add_data_dir(parser)
    parser.add_argument(
        "--model", default=None, help="override the config's model (HF id, folder, or minilm)"
    )
    parser.add_argument(
        "--results",
        metavar="DIR",
        help="folder of committed small results (default: the config's 'results' key): "
        "finished cells are copied there, cells found there are not run again",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only the cells whose id matches this glob (repeatable), with the cells they "
        "need, e.g. --only 'downstream/*/cda/*'; the others wait for a later run",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="validate the config and list its cells only"
    )
    parser.add_argument(
        "--no-report", action="store_true", help="do not write report.md at the end"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..experiments import load_config, plan, results_tables, run_experiment, write_report
    from ..experiments.runner import select
    from ..validation import check_data_dir, check_output_dir

    check_data_dir(args.data_dir)
    overrides = {"data_dir": args.data_dir, "model": args.model, "results": args.results}
    config = load_config(args.config, overrides)
    if args.dry_run:
        cells = select(plan(config), args.only)
        for cell in cells:
            print(cell.id)
        print(f"{len(cells)} cells; config {args.config} is valid")
        return 0
    # a writable folder (the runner refuses a non-empty one that holds no run)
    check_output_dir(args.output, overwrite=True)
    result = run_experiment(config, args.output, config_file=str(args.config), only=args.only)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items()))
    print(f"{args.output}: {counts}")
    if config.results:
        print(f"results: {config.results} (commit it; 'peftdebias report {config.results}')")
    if not args.no_report:
        report = write_report(args.output)
        print(f"\n{results_tables(report)}\n")
        print(f"report: {report.files[0]}")
    if not result.ok:
        print("some cells did not finish; run the same command again to retry them")
    return 0 if result.ok else 1
