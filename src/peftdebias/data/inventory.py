"""What the data directory holds: per registered data set and split, found/missing and rows.

Generic over the registry: a split is *found* when its file is in the data directory or the
download cache (nothing is downloaded), and its row count is ``len`` of what the set's loader
returns, so any newly registered set is listed without changes here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import PeftDebiasError
from .registry import DataSource, find_file, list_sources, resolve_data_dir


@dataclass(frozen=True)
class SplitStatus:
    """One split of one data set: where its file is (``None``: missing) and its size."""

    split: str
    path: Path | None
    rows: int | None = None
    error: str | None = None  # the loader's message when the file is present but unreadable


@dataclass(frozen=True)
class SetStatus:
    """One registered data set and the status of each of its splits."""

    source: DataSource
    splits: tuple[SplitStatus, ...]

    @property
    def status(self) -> str:
        """'found' (all splits load), 'partial', 'missing' or 'error'."""
        if any(split.error for split in self.splits):
            return "error"
        present = sum(split.path is not None for split in self.splits)
        if present == len(self.splits):
            return "found"
        return "partial" if present else "missing"


def inventory(
    data_dir: str | os.PathLike | None = None, count_rows: bool = True
) -> list[SetStatus]:
    """Status of every registered data set (sorted by name) in ``data_dir``."""
    resolve_data_dir(data_dir)  # a non-existent --data-dir is an error, not "all missing"
    return [_status(source, data_dir, count_rows) for source in list_sources()]


def _status(source: DataSource, data_dir: str | os.PathLike | None, count_rows: bool) -> SetStatus:
    splits = []
    for split in source.splits:
        path = find_file(source, split, data_dir)
        rows = error = None
        if path is not None and count_rows:
            try:
                rows = len(source.loader(path, split))
            except (PeftDebiasError, ValueError, KeyError, OSError) as exc:
                error = str(exc)
        splits.append(SplitStatus(split, path, rows, error))
    return SetStatus(source, tuple(splits))


def _location(status: SetStatus) -> str:
    paths = [split.path for split in status.splits if split.path is not None]
    if not paths:
        return status.source.candidates(status.source.splits[0])[0].split("/")[0] + "/"
    return str(Path(os.path.commonpath(paths)))


def _sizes(status: SetStatus, max_splits: int = 6) -> str:
    if len(status.splits) > max_splits:
        counted = [split.rows for split in status.splits if split.rows is not None]
        present = sum(split.path is not None for split in status.splits)
        total = f", {sum(counted)} rows" if counted else ""
        return f"{present}/{len(status.splits)} splits{total}"
    parts = []
    for split in status.splits:
        value = "missing" if split.path is None else "error" if split.error else split.rows
        parts.append(f"{split.split}={value if value is not None else 'found'}")
    return " ".join(parts)


def format_inventory(statuses: list[SetStatus]) -> str:
    """A plain-text table: name, status, rows per split, path; then errors and where to get
    missing sets."""
    header = ("data set", "status", "rows", "path")
    rows = [
        (status.source.name, status.status, _sizes(status), _location(status))
        for status in statuses
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in [header, *rows]
    ]
    for status in statuses:
        for split in status.splits:
            if split.error:
                lines.append(f"error: {status.source.name} {split.split}: {split.error}")
    for status in statuses:
        if status.status in ("missing", "partial"):
            lines.append(
                f"{status.status}: {status.source.name}: get it from {status.source.source}"
            )
    return "\n".join(lines)
