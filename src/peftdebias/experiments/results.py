"""Committed results of an experiment grid.

A grid of many hours spans several sessions and machines, while its run folder (weights,
checkpoints, prediction files) stays on one disk. A :class:`ResultStore` is a second folder,
meant for version control, that holds only the small files of every finished cell
(``cell.json``, ``metrics.json`` with its per-term tables and intervals, ``intrinsic.json``
with the per-item score files that the intervals need, the module's ``debias.json`` with its
loss curve) in the run folder's layout, plus a ``manifest.json`` of those cells. So:

- ``peftdebias run`` copies each cell to the store as soon as it finishes;
- on a fresh checkout it takes a cell from the store instead of running it, except an
  upstream cell whose module weights a cell still to run needs (weights are never stored):
  that one is trained again (same seed), and the store keeps the record it already has;
- ``peftdebias report STORE`` rebuilds every table from the store alone.

A stored cell whose parameters differ from the config's is an error, as in the run folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import OutputExistsError
from ..io import atomic_dir, write_json
from ..validation import inside, read_json_file
from .cells import Cell
from .records import CellRecord

MARKER = "cell.json"
MANIFEST = "manifest.json"
FORMAT = "peftdebias-experiment/1"
# the small files of a cell (never weights, checkpoints or prediction files)
SMALL_FILES = ("metrics.json", "intrinsic.json", "debias.json")
SMALL_PATTERNS = ("*_scores.jsonl",)


def small_files(folder: Path) -> list[Path]:
    """The files of a finished cell folder that a store keeps (``cell.json`` last)."""
    found = [folder / name for name in SMALL_FILES if (folder / name).is_file()]
    for pattern in SMALL_PATTERNS:
        found.extend(sorted(p for p in folder.glob(pattern) if p.is_file()))
    return [*found, folder / MARKER]


def holds(cell: Cell, folder: Path, fix: str, changed: str) -> bool:
    """Whether ``folder`` holds the finished ``cell`` (its ``cell.json`` with the cell's
    parameter hash); a finished cell of other parameters is an error (``changed`` says what
    to do), an unreadable marker too (``fix``)."""
    marker = folder / MARKER
    if not marker.is_file():
        return False
    record = read_json_file(marker, fix)
    if not isinstance(record, dict) or record.get("params_hash") != cell.params_hash:
        raise OutputExistsError(
            f"{folder} holds a finished cell {cell.id} run with other parameters ({marker}); "
            f"{changed}"
        )
    return True


class ResultStore:
    """The committed small results of one grid, in ``folder``; see the module docstring."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _cell_folder(self, cell: Cell) -> Path:
        return inside(self.folder, cell.id, f"cell {cell.id}")

    def has(self, cell: Cell) -> bool:
        """Whether the store holds ``cell`` with the config's parameters."""
        folder = self._cell_folder(cell)
        fix = f"restore it from git, or delete {folder}"
        changed = "a changed config needs another results folder (key 'results' or --results)"
        return holds(cell, folder, fix, changed)

    def record(self, cell: Cell) -> dict[str, Any]:
        """The stored ``cell.json`` of ``cell``."""
        return read_json_file(self._cell_folder(cell) / MARKER, "restore it from git")

    def save(self, cell: Cell, run_cell_folder: Path) -> None:
        """Copy the small files of the finished ``run_cell_folder`` (atomically, as one
        folder) unless the store already holds the cell."""
        if self.has(cell):
            return
        with atomic_dir(self._cell_folder(cell)) as tmp:
            for path in small_files(run_cell_folder):
                shutil.copy2(path, tmp / path.name)

    def restore(self, cell: Cell, run_cell_folder: Path) -> None:
        """Copy the stored small files of ``cell`` into ``run_cell_folder`` (``cell.json``
        last, so that a copy cut short is not a finished cell)."""
        with atomic_dir(run_cell_folder) as tmp:
            for path in small_files(self._cell_folder(cell)):
                shutil.copy2(path, tmp / path.name)

    def write_manifest(self, manifest: dict[str, Any], cells: Iterable[Cell]) -> None:
        """A ``manifest.json`` listing the stored cells of ``cells`` (what ``peftdebias
        report`` reads), with the config, versions and commit of ``manifest``."""
        stored: dict[str, Any] = {}
        for cell in cells:
            if self.has(cell):
                marker = self._cell_folder(cell) / MARKER
                record = CellRecord.from_json(self.record(cell), marker)
                stored[cell.id] = {
                    "kind": cell.kind,
                    "params": cell.params,
                    "needs": list(cell.needs),
                    "status": "finished",
                    "seconds": record.seconds,
                    "finished": record.finished,
                    "summary": record.summary,
                }
        keys = ("name", "config", "config_file", "seeds", "versions", "git")
        write_json(
            self.folder / MANIFEST,
            {"format": FORMAT, **{k: manifest.get(k) for k in keys}, "cells": stored},
        )
