"""Run an experiment grid with resume and kill safety.

Layout of the output folder::

    manifest.json           config, versions, git commit, seeds, runs, per-cell status
    upstream/<module id>/   one folder per cell; each holds cell.json when finished
    downstream/<task>/<start>/s<seed>/
    intrinsic/<module id | base>/

Rules:

- a cell is finished iff its folder holds ``cell.json`` (written atomically, last, after every
  artefact) with the cell's parameter hash; finished cells are never run or touched again;
- a cell folder without ``cell.json`` (a failed, interrupted or killed run) is deleted and the
  cell re-run from scratch; failed cells are thus retried on the next run;
- a finished cell whose parameters differ from the config's is an error (use another output);
- ``manifest.json`` is rewritten atomically after every status change; statuses:
  ``pending``, ``running``, ``finished``, ``failed`` (with the error), ``blocked`` (a cell it
  needs failed);
- one runner per folder at a time (an exclusive lock on ``.lock``);
- with a results folder (:mod:`peftdebias.experiments.results`), each finished cell's small
  files are copied there, and a cell found there is taken from it instead of run;
- ``only`` (glob patterns over cell ids) runs a subset of the grid, with the cells it needs;
  the others stay ``pending`` for a later run;
- each cell's log line gives its place among the selected cells and the time left, estimated
  from the median seconds of the finished cells of the same kind and task
  (:func:`time_left`).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import logging
import os
import shutil
import statistics
import subprocess
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._version import library_versions
from ..errors import ConfigError, OutputExistsError
from ..io import write_json
from ..validation import inside, read_json_file
from .cells import Cell, plan, run_cell
from .config import ExperimentConfig
from .results import FORMAT, MANIFEST, MARKER, ResultStore, holds

logger = logging.getLogger(__name__)

CellRunner = Callable[[Cell, Path, Path, ExperimentConfig], dict[str, Any]]


@dataclass
class RunResult:
    """Outcome of :func:`run_experiment`: the output folder and the count per status."""

    output: Path
    manifest: dict[str, Any]
    selected: tuple[str, ...] = ()  # the ids of the cells this run was asked for

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.manifest["cells"].values():
            counts[cell["status"]] = counts.get(cell["status"], 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        """Whether every selected cell (every cell of the config when none) finished."""
        cells = self.manifest["cells"]
        return all(cells[cid]["status"] == "finished" for cid in self.selected or cells)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit() -> dict[str, Any] | None:
    """Commit (and dirty flag) of the checkout holding this package, or None outside git."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def is_finished(cell: Cell, folder: Path) -> bool:
    """Whether ``folder`` holds the finished result of ``cell``; a result of other parameters
    is an error, never overwritten."""
    return holds(cell, folder, f"delete {folder} to run cell {cell.id} again",
                 "use another --output for a changed config")  # fmt: skip


@contextlib.contextmanager
def _lock(output: Path) -> Iterator[None]:
    handle = (output / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutputExistsError(f"another peftdebias run is using {output}") from None
    try:
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class Runner:
    """Runs the cells of one config into one output folder; see the module docstring."""

    def __init__(
        self,
        config: ExperimentConfig,
        output: str | os.PathLike,
        *,
        config_file: str | None = None,
        cell_runner: CellRunner = run_cell,
        results: str | os.PathLike | None = None,
        only: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.output = Path(output)
        self.config_file = config_file
        self.cells = plan(config)
        self.selected = select(self.cells, only)
        self.cell_runner = cell_runner
        self.manifest: dict[str, Any] = {}
        folder = results if results is not None else config.results
        self.store = ResultStore(folder) if folder else None

    def _save(self) -> None:
        write_json(self.output / MANIFEST, self.manifest)

    def _folder(self, cell: Cell) -> Path:
        """The folder of ``cell``, refused when it would resolve outside the run folder."""
        return inside(self.output, cell.id, f"cell {cell.id}")

    def _load_manifest(self) -> dict[str, Any]:
        path = self.output / MANIFEST
        if path.is_file():
            fix = "restore it, or use another --output"
            manifest = read_json_file(path, fix)
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ConfigError(f"{path} is not a peftdebias experiment manifest")
            return manifest
        if self.output.is_dir() and any(p.name != ".lock" for p in self.output.iterdir()):
            raise OutputExistsError(
                f"output directory {self.output} is not empty and holds no {MANIFEST}; "
                "choose an empty or new directory"
            )
        return {"format": FORMAT, "runs": [], "cells": {}}

    def run(self) -> RunResult:
        """Run every unfinished cell; returns the final manifest."""
        self.output.mkdir(parents=True, exist_ok=True)
        with _lock(self.output):
            self.manifest = self._load_manifest()
            self.manifest.update(
                {
                    "name": self.config.name,
                    "config": self.config.to_dict(),
                    "config_file": self.config_file,
                    "seeds": {
                        "downstream": self.config.seeds,
                        "upstream": self.config.upstream_seeds,
                    },
                    "versions": library_versions(),
                    "git": git_commit(),
                }
            )
            # we hold the folder's lock: an earlier invocation still "running" was killed
            for stale in self.manifest["runs"]:
                if stale["status"] == "running":
                    stale["status"] = "killed"
            run_record = {
                "started": now(), "ended": None, "pid": os.getpid(), "status": "running",
                "git": self.manifest["git"],
            }  # fmt: skip
            self.manifest["runs"].append(run_record)
            # cells of the current config only (folders of others stay on disk, untouched)
            old = self.manifest["cells"]
            records = self.manifest["cells"] = {}
            for cell in self.cells:
                record = records[cell.id] = old.get(cell.id, {"attempts": 0})
                record.update(kind=cell.kind, params=cell.params, needs=list(cell.needs))
                if is_finished(cell, self._folder(cell)):
                    record["status"] = "finished"
                elif record.get("status") != "failed":
                    record.update(status="pending", error=None)
            self._sync_results()
            self._save()
            try:
                for cell in self.selected:
                    self._run_one(cell)
                run_record["status"] = "finished"
            except BaseException:
                run_record["status"] = "interrupted"
                raise
            finally:
                run_record["ended"] = now()
                self._save()
        return RunResult(self.output, self.manifest, tuple(c.id for c in self.selected))

    def _sync_results(self) -> None:
        """Exchange finished cells with the results folder: store the run folder's, take the
        store's (an upstream cell only when no cell left to run needs its weights)."""
        if self.store is None:
            return
        records = self.manifest["cells"]
        in_store = {c.id for c in self.cells if self.store.has(c)}
        done = in_store | {c.id for c in self.cells if records[c.id]["status"] == "finished"}
        for cell in self.cells:
            record = records[cell.id]
            if record["status"] == "finished":
                self.store.save(cell, self._folder(cell))
                continue
            if cell.id not in in_store:
                continue
            if any(cell.id in other.needs and other.id not in done for other in self.selected):
                logger.info("%s: stored, but its weights are needed: training it again", cell.id)
                continue
            self.store.restore(cell, self._folder(cell))
            stored = self.store.record(cell)
            record.update(status="finished", error=None, summary=stored.get("summary"),
                          seconds=stored.get("seconds"), from_results=True)  # fmt: skip
        self.store.write_manifest(self.manifest, self.cells)

    def _run_one(self, cell: Cell) -> None:
        record = self.manifest["cells"][cell.id]
        folder = self._folder(cell)
        if is_finished(cell, folder):
            record["status"] = "finished"
            return
        blocked = [n for n in cell.needs if self.manifest["cells"][n]["status"] != "finished"]
        if blocked:
            record.update(status="blocked", error=f"needs {', '.join(blocked)}, not finished")
            self._save()
            return
        if folder.exists():  # a failed, interrupted or killed attempt: start from scratch
            logger.info("%s: removing the unfinished attempt in %s", cell.id, folder)
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        started = time.time()
        record.update(
            status="running", started=now(), ended=None, error=None,
            attempts=record.get("attempts", 0) + 1, run=len(self.manifest["runs"]) - 1,
        )  # fmt: skip
        self._save()
        position = next(i for i, c in enumerate(self.selected, 1) if c.id == cell.id)
        left = time_left(self.cells, self.manifest["cells"], self.selected)
        logger.info("cell %s: running (%d of %d%s)", cell.id, position, len(self.selected),
                    f"; {left}" if left else "")  # fmt: skip
        try:
            summary = self.cell_runner(cell, folder, self.output, self.config)
            write_json(
                folder / MARKER,
                {
                    "id": cell.id,
                    "kind": cell.kind,
                    "params": cell.params,
                    "params_hash": cell.params_hash,
                    "finished": now(),
                    "seconds": round(time.time() - started, 1),
                    "summary": summary,
                },
            )
        except Exception as exc:
            logger.error("cell %s failed: %s", cell.id, exc)
            (folder / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        except BaseException:  # Ctrl-C / SystemExit: never marked finished
            record.update(status="failed", error="interrupted")
            raise
        else:
            record.update(status="finished", summary=summary)
        finally:
            record.update(ended=now(), seconds=round(time.time() - started, 1))
            self._save()
        if self.store is not None and record["status"] == "finished":
            self.store.save(cell, folder)
            self.store.write_manifest(self.manifest, self.cells)


def _timing_group(cell: Cell) -> tuple[str, Any]:
    return cell.kind, cell.params.get("task")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{seconds / 3600:.1f} h"


def time_left(
    cells: Sequence[Cell], records: dict[str, dict[str, Any]], selected: Sequence[Cell]
) -> str | None:
    """``about T left`` for the selected cells not finished yet (the running one included),
    each estimated by the median seconds of the finished cells of its kind and task; cells of
    a group none of whose cells has finished are counted apart. None when none is timed."""
    seconds: dict[tuple[str, Any], list[float]] = defaultdict(list)
    for cell in cells:
        record = records.get(cell.id, {})
        if record.get("status") == "finished" and record.get("seconds"):
            seconds[_timing_group(cell)].append(float(record["seconds"]))
    left = [c for c in selected if records.get(c.id, {}).get("status") != "finished"]
    known = [statistics.median(seconds[g]) for c in left if seconds[g := _timing_group(c)]]
    if not known:
        return None
    untimed = len(left) - len(known)
    return f"about {_duration(sum(known))} left" + (
        f" + {untimed} cell(s) of kinds not yet timed" if untimed else ""
    )


def select(cells: list[Cell], only: Sequence[str]) -> list[Cell]:
    """The cells whose id matches one of the glob patterns ``only`` (all when empty), with
    every cell they need, in plan order; a pattern matching no cell is an error."""
    if not only:
        return list(cells)
    by_id = {cell.id: cell for cell in cells}
    wanted: set[str] = set()
    for pattern in only:
        matched = [cid for cid in by_id if fnmatch.fnmatchcase(cid, pattern)]
        if not matched:
            raise ConfigError(f"--only {pattern!r} matches no cell of the config "
                              "(list them with --dry-run)")  # fmt: skip
        wanted.update(matched)
    stack = list(wanted)
    while stack:
        for need in by_id[stack.pop()].needs:
            if need not in wanted:
                wanted.add(need)
                stack.append(need)
    return [cell for cell in cells if cell.id in wanted]


def run_experiment(
    config: ExperimentConfig,
    output: str | os.PathLike,
    *,
    config_file: str | None = None,
    cell_runner: CellRunner = run_cell,
    results: str | os.PathLike | None = None,
    only: Sequence[str] = (),
) -> RunResult:
    """Run (or resume) the grid of ``config`` into ``output``; see the module docstring.
    ``results``: the folder of committed results (default: the config's ``results``);
    ``only``: glob patterns over cell ids, to run a subset (see :func:`select`)."""
    runner = Runner(
        config, output, config_file=config_file, cell_runner=cell_runner, results=results,
        only=only,
    )  # fmt: skip
    return runner.run()
