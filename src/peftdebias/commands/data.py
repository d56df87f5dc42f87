"""``peftdebias data list|fetch``: what the data directory holds; download missing files."""

from __future__ import annotations

import argparse

from .common import add_data_dir

HELP = "inspect the data directory, download data sets"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help=HELP)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list data sets with found/missing status")
    add_data_dir(listing)
    listing.add_argument("--no-count", action="store_true", help="skip counting rows (faster)")
    listing.set_defaults(func=_list)
    fetching = actions.add_parser(
        "fetch",
        help="download a data set's missing files into the cache ($PEFTDEBIAS_CACHE)",
    )
    fetching.add_argument("name", help="registered data set name (see 'data list')")
    fetching.add_argument("--split", action="append", help="only this split (repeatable)")
    add_data_dir(fetching)
    fetching.set_defaults(func=_fetch)


def _list(args: argparse.Namespace) -> int:
    from ..data.inventory import format_inventory, inventory
    from ..validation import check_data_dir

    check_data_dir(args.data_dir)
    print(format_inventory(inventory(args.data_dir, count_rows=not args.no_count)))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from ..data.registry import get_source, locate
    from ..validation import check_data_dir

    check_data_dir(args.data_dir)
    source = get_source(args.name)
    for split in args.split or source.splits:
        print(f"{source.name} {split}: {locate(source, split, args.data_dir)}")
    return 0
