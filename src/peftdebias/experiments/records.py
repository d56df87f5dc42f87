"""The records of an experiment grid as typed records: ``manifest.json`` (the grid's cells
and their state), each finished cell's ``cell.json`` and the upstream module's
``debias.json`` (its held-out loss curve). The result files of the cells are
:class:`~peftdebias.metrics.results.MetricsFile` and
:class:`~peftdebias.intrinsic.results.IntrinsicCellFile`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import Record


@dataclass
class CellParams(Record):
    """A cell's parameters; which are set depends on its kind (upstream: axis, corpus,
    module; downstream: task, role, start; intrinsic: benchmarks, bias types)."""

    method: str
    task: str | None = None
    axis: str | None = None
    role: str | None = None
    module: str | None = None
    seed: int | None = None
    model: str | None = None
    start: str | None = None

    @property
    def scope(self) -> str:
        """The task (downstream) or axis (upstream, intrinsic) the cell belongs to."""
        return self.task or self.axis or ""


@dataclass
class ManifestCell(Record):
    """One cell of ``manifest.json``: kind, parameters, state and timing."""

    kind: str
    status: str
    params: CellParams
    needs: list[str] = field(default_factory=list)
    seconds: float | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    finished: str | None = None
    started: str | None = None
    ended: str | None = None
    run: int | None = None


@dataclass
class Manifest(Record):
    """``manifest.json`` of a run folder or results store: the config that ran, the
    environment and every cell."""

    config: dict[str, Any]
    cells: dict[str, ManifestCell]
    name: str | None = None
    format: str | None = None
    config_file: str | None = None
    seeds: dict[str, Any] | None = None
    versions: dict[str, str] | None = None
    git: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def finished(self) -> dict[str, ManifestCell]:
        """The finished cells by id."""
        return {cid: c for cid, c in self.cells.items() if c.status == "finished"}


@dataclass
class CellRecord(Record):
    """``cell.json``, the marker of a finished cell: its id, parameters and their hash,
    when it finished, how long it took and its summary."""

    id: str
    kind: str
    params: CellParams
    params_hash: str
    finished: str | None = None
    seconds: float | None = None
    summary: dict[str, Any] | None = None


@dataclass
class CurvePoint(Record):
    """One held-out evaluation during upstream training."""

    step: int
    heldout_loss: float
    train_loss: float | None = None


@dataclass
class UpstreamTraining(Record):
    """How an upstream module was trained: steps, seconds and the held-out loss curve."""

    steps: int | None = None
    seconds: float | None = None
    best_heldout_loss: float | None = None
    curve: list[CurvePoint] | None = None


@dataclass
class HeldOut(Record):
    """Masked-LM loss and accuracy on the held-out texts."""

    loss: float | None = None
    accuracy: float | None = None


@dataclass
class HeadWarmup(Record):
    """The MLM-head warm-up of a model without a trained head, before the module trains."""

    steps: int | None = None
    learning_rate: float | None = None
    heldout_before: HeldOut | None = None
    heldout_after: HeldOut | None = None


@dataclass
class ModuleRecord(Record):
    """``debias.json`` of an upstream module (the parts reports and benchmarks read)."""

    method: str | None = None
    axis: str | None = None
    axes: list[str] | None = None
    corpus: dict[str, Any] | None = None
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    trainable_percent: float | None = None
    head_warmup: HeadWarmup | None = None
    training: UpstreamTraining | None = None
    heldout_before: HeldOut | None = None
    heldout_after: HeldOut | None = None
