"""``peftdebias data list``: which data sets are present in the data directory."""

from __future__ import annotations

import argparse

from .common import add_data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect the data directory")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list data sets with found/missing status")
    add_data_dir(listing)
    listing.add_argument("--no-count", action="store_true", help="skip counting rows (faster)")
    listing.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    from ..data.inventory import format_inventory, inventory

    rows = inventory(args.data_dir, count_rows=not args.no_count)
    print(format_inventory(rows))
    return 0
