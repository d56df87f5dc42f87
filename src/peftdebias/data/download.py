"""Fetching a missing data file (placeholder: offline error only; download added separately)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .registry import DATA_DIR_ENV, DataSource


def fetch(source: DataSource, relative: str, root: Path | None) -> Path:
    """Return a local copy of ``relative`` or raise a :class:`DataError` that says where to get it."""
    where = f"in data directory {root}" if root else f"(no --data-dir or ${DATA_DIR_ENV} given)"
    raise DataError(
        f"data set {source.name!r}: file {relative} not found {where}; "
        f"get it from {source.source} and pass its directory with --data-dir"
    )
