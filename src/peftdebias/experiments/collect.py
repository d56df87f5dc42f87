"""Reading a grid's results: the manifest and every finished cell's files (``metrics.json``,
``intrinsic.json``, the module's ``debias.json``, read as typed records) into a
:class:`Collected` of per-seed values (:class:`Stat`) that the tables, the goal check and the
plots use. Table 2's columns are the registered metrics
(:mod:`peftdebias.metrics.registry`), Table 1's those of the intrinsic benchmarks
(:mod:`peftdebias.intrinsic.registry`)."""

from __future__ import annotations

import math
import os
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..intrinsic.registry import ScoredCell, table1_columns
from ..intrinsic.results import IntrinsicCellFile
from ..metrics.intervals import Interval, PairedComparison, paired_comparison, t_interval
from ..metrics.registry import reported_metrics, task_title
from ..metrics.results import MetricsFile
from .config import slug
from .records import CellParams, Manifest, ModuleRecord
from .results import MANIFEST

# display names of the downstream baselines; the debiasing methods carry their own
# (``display_name``, :mod:`peftdebias.methods.registry`)
BASELINE_NAMES = {"ft": "FT", "cda": "CDA", "clp": "CLP"}
SIGNIFICANCE = 0.05


@dataclass
class Stat:
    """Values of one table entry by seed, with their summary; ``intervals``: the within-run
    interval of a seed's value (bootstrap, binomial), when the run stored one."""

    values: dict[int, float] = field(default_factory=dict)
    intervals: dict[int, Interval] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values.values()) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values.values()) if self.n > 1 else None

    @property
    def interval(self) -> Interval:
        """95 % interval of the row's value: t over seeds (n >= 2), else the single run's
        stored interval, else the value alone."""
        if self.n == 1:
            (seed,) = self.values
            stored = self.intervals.get(seed)
            if stored is not None:
                return stored
        return t_interval(list(self.values.values()))


def comparison(row: Stat, baseline: Stat) -> PairedComparison:
    """``row - baseline`` paired over the seeds both have (see
    :func:`~peftdebias.metrics.intervals.paired_comparison`)."""
    return paired_comparison(row.values, baseline.values)


def paired_p_value(row: Stat, baseline: Stat) -> float | None:
    """Two-sided paired t-test p-value over the seeds both have; None when not computable
    (fewer than 2 pairs, or all differences equal). Equals ``scipy.stats.ttest_rel``."""
    p_value = comparison(row, baseline).p_value
    return None if p_value is None or math.isnan(p_value) else p_value


def method_name(method: str) -> str:
    """The display name of ``method`` in the tables (``lora`` -> ``LoRA``, ``ft`` -> ``FT``;
    an unknown method in capitals)."""
    if method in BASELINE_NAMES:
        return BASELINE_NAMES[method]
    from ..methods.registry import METHOD_DISPLAY_NAMES  # torch: only once a method is named

    return METHOD_DISPLAY_NAMES.get(method, method.upper())


@dataclass
class TaskInfo:
    """A downstream task of the grid: in-domain or transfer, its axis and task score."""

    role: str
    axis: str | None
    metric: str | None = None


@dataclass
class Collected:
    """Everything the tables and plots need, read from one run folder."""

    root: Path
    manifest: Manifest
    # Table 2: task -> row label -> column -> Stat; plus per-task info
    extrinsic: dict[str, dict[str, dict[str, Stat]]] = field(default_factory=dict)
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    # task -> row label -> {seed: metrics.json}
    downstream: dict[str, dict[str, dict[int, MetricsFile]]] = field(default_factory=dict)
    # Table 1: row label -> column -> Stat; column -> (bias type, Table 1 column name)
    intrinsic: dict[str, dict[str, Stat]] = field(default_factory=dict)
    intrinsic_columns: list[str] = field(default_factory=list)
    intrinsic_parts: dict[str, tuple[str, str]] = field(default_factory=dict)
    untrained_head_rows: set[str] = field(default_factory=set)
    row_order: dict[str, int] = field(default_factory=dict)
    # (row label, axis) -> the upstream module's debias.json
    upstream: dict[tuple[str, str], ModuleRecord] = field(default_factory=dict)
    # (row label, bias type) -> an intrinsic cell's scores and the axis of its module
    intrinsic_cells: dict[tuple[str, str], ScoredCell] = field(default_factory=dict)
    intrinsic_axes: dict[tuple[str, str], str] = field(default_factory=dict)

    def upstream_by_label(self) -> dict[str, ModuleRecord]:
        """The upstream modules by display label: the row label, with the axis in brackets
        when the grid learned modules on more than one axis."""
        several = len({axis for _, axis in self.upstream}) > 1
        return {
            (f"{label} ({axis})" if several else label): meta
            for (label, axis), meta in self.upstream.items()
        }


def _row_label(params: CellParams, ambiguous: set[tuple[str, str]]) -> str:
    label = method_name(params.method)
    if (params.scope, params.method) in ambiguous:
        label += f" ({params.module})"
    return label


def collect(root: str | os.PathLike) -> Collected:
    """Read the manifest and every finished cell's results under ``root``."""
    root = Path(root)
    if not (root / MANIFEST).is_file():
        raise DataError(f"{root} holds no {MANIFEST}: not an experiment folder (peftdebias run)")
    manifest = Manifest.load(root / MANIFEST)
    cells = {
        cid: c for cid, c in manifest.finished().items() if (root / cid / "cell.json").is_file()
    }
    out = Collected(root, manifest)
    methods = manifest.config.get("upstream", {}) or {}
    order = ["ft", "cda", "clp", "full", *(m for m in methods.get("methods", []) if m != "full")]
    out.row_order = {method_name(m): i for i, m in enumerate(order)}
    ambiguous = _ambiguous_methods(c.params for c in cells.values())
    readers = {"downstream": _read_downstream, "upstream": _read_upstream,
               "intrinsic": _read_intrinsic}  # fmt: skip
    for cid, c in cells.items():
        readers[c.kind](out, root / cid, c.params, ambiguous)
    return out


def _ambiguous_methods(params: Iterable[CellParams]) -> set[tuple[str, str]]:
    """(task or axis, method) pairs with several modules: their rows get the module name."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in params:
        if p.module is not None:
            seen[(p.scope, p.method)].add(p.module)
    return {key for key, modules in seen.items() if len(modules) > 1}


def _read_downstream(out: Collected, folder: Path, p: CellParams, ambiguous) -> None:
    """Table 2 values (and stored intervals) of one downstream cell."""
    metrics = MetricsFile.load(folder / "metrics.json")
    task = slug(p.task)
    label = _row_label(p, ambiguous)
    info = out.tasks.setdefault(task, TaskInfo(p.role, p.axis))
    info.metric = metrics.task_metric
    out.downstream.setdefault(task, {}).setdefault(label, {})[p.seed] = metrics
    columns = out.extrinsic.setdefault(task, {}).setdefault(label, {})
    for metric in reported_metrics():
        split = metrics.splits.get(metric.split)
        path = metric.path_for(info.metric)
        value = split.metrics.lookup(path) if split is not None else None
        if isinstance(value, int | float) and not math.isnan(value):
            stat = columns.setdefault(metric.key, Stat())
            stat.values[p.seed] = float(value)
            stored = split.interval(path)
            if stored is not None:
                stat.intervals[p.seed] = stored


def _read_upstream(out: Collected, folder: Path, p: CellParams, ambiguous) -> None:
    """The module's ``debias.json`` (loss curve, trainable share)."""
    if (folder / "debias.json").is_file():
        key = (_row_label(p, ambiguous), p.axis or "")
        out.upstream[key] = ModuleRecord.load(folder / "debias.json")


def _intrinsic_label(p: CellParams, ambiguous) -> str:
    """A module's row label, or the base model's (``<model> (no module)``)."""
    if p.method in ("base", "head"):
        kind = "no module" if p.method == "base" else "warmed-up head, no module"
        return f"{Path(p.model).name} ({kind})"
    return _row_label(p, ambiguous)


def _read_intrinsic(out: Collected, folder: Path, p: CellParams, ambiguous) -> None:
    """Table 1 values (with intervals) of one intrinsic cell."""
    record = IntrinsicCellFile.load(folder / "intrinsic.json")
    if record.bias_types is None:  # a head-only cell of a model with a trained head
        return
    label = _intrinsic_label(p, ambiguous)
    row = out.intrinsic.setdefault(label, {})
    seed = p.seed or 0
    for bias_type, result in record.bias_types.items():
        if not result.head_trained:
            out.untrained_head_rows.add(label)
        cell = ScoredCell(folder, bias_type, result)
        out.intrinsic_cells[(label, bias_type)] = cell
        if p.axis is not None:
            out.intrinsic_axes[(label, bias_type)] = p.axis
        for column in table1_columns():
            if getattr(result, column.benchmark) is None:
                continue
            key = f"{bias_type} {column.name}"
            if key not in out.intrinsic_columns:
                out.intrinsic_columns.append(key)
                out.intrinsic_parts[key] = (bias_type, column.name)
            value = column.value(result, bias_type)
            if value is not None:
                stat = row.setdefault(key, Stat())
                stat.values[seed] = float(value)
                interval = column.interval(cell, value)
                if interval is not None:
                    stat.intervals[seed] = interval


def sorted_rows(labels: Iterable[str], collected: Collected) -> list[str]:
    """Row labels in table order: the base model's rows, then the config's method order."""

    def key(label: str) -> tuple[int, str]:
        base = label.split(" (")[0]
        return (collected.row_order.get(base, 99) if "no module)" not in label else -1, label)

    return sorted(labels, key=key)


def task_columns(collected: Collected, task: str) -> list[str]:
    """Table 2 columns (registered metrics) with at least one value for ``task``."""
    present = {c for row in collected.extrinsic[task].values() for c in row}
    return [m.key for m in reported_metrics() if m.key in present]


def column_title(collected: Collected, task: str, column: str) -> str:
    """The display name of a Table 2 column of ``task`` (the task score: ``Acc``, ``F1``)."""
    if column == "task":
        return task_title(collected.tasks[task].metric)
    return next((m.title for m in reported_metrics() if m.key == column), column)
