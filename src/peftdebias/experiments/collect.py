"""Reading a grid's results: the manifest and every finished cell's files (``metrics.json``,
``intrinsic.json``, the module's ``debias.json``) into a :class:`Collected` of per-seed values
(:class:`Stat`) that the tables, the goal check and the plots use."""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..metrics.intervals import (
    Interval,
    PairedComparison,
    crows_interval,
    paired_comparison,
    stereoset_intervals,
    t_interval,
)
from .config import slug
from .results import MANIFEST

METHOD_NAMES = {
    "ft": "FT",
    "cda": "CDA",
    "clp": "CLP",
    "full": "Full-Debias",
    "lora": "LoRA",
    "prefix": "Prefix",
    "prompt": "Prompt",
    "adapter": "Adapter",
    "sft": "SFT",
    "dora": "DoRA",
    "ia3": "IA3",
}
# (column, split, metrics.json path) of Table 2; "task" resolves to the task's own metric
EXTRINSIC_METRICS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("task", "test", ("classification",)),
    ("TPR-GAP", "test", ("tpr-gap", "tpr_gap_rms")),
    ("FPRD", "test", ("fprd", "fprd")),
    ("FPRD-IPTTS", "iptts", ("iptts-fprd", "fprd")),
    # the reference code's variants, comparable with the paper's published numbers
    ("FPRD (ref. code)", "test", ("fprd", "fprd_reference_code", "fprd")),
    ("FPRD-IPTTS (ref. code)", "iptts", ("fprd", "fprd_reference_code", "fprd")),
    ("GAP F1", "test", ("gap", "f1")),
    ("GAP F/M", "test", ("gap", "bias")),
    ("Bias-NLI FN", "bias-nli", ("bias-nli", "fraction_neutral")),
    ("Bias-NLI NN", "bias-nli", ("bias-nli", "net_neutral")),
)
STEREOSET_DOMAIN = {"race-color": "race"}
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
    return METHOD_NAMES.get(method, method.upper())


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


@dataclass
class Collected:
    """Everything the tables and plots need, read from one run folder."""

    root: Path
    manifest: dict[str, Any]
    # Table 2: task -> row label -> column -> Stat; plus per-task info
    extrinsic: dict[str, dict[str, dict[str, Stat]]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # task -> row label -> {seed: metrics.json}
    downstream: dict[str, dict[str, dict[int, dict[str, Any]]]] = field(default_factory=dict)
    # Table 1: row label -> column -> Stat
    intrinsic: dict[str, dict[str, Stat]] = field(default_factory=dict)
    intrinsic_columns: list[str] = field(default_factory=list)
    untrained_head_rows: set[str] = field(default_factory=set)
    row_order: dict[str, int] = field(default_factory=dict)
    # upstream row label -> the module's debias.json
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)


def _row_label(params: dict[str, Any], ambiguous: set[tuple[str, str]], scope: str) -> str:
    label = method_name(params["method"])
    if (scope, params["method"]) in ambiguous:
        label += f" ({params['module']})"
    return label


def collect(root: str | os.PathLike) -> Collected:
    """Read the manifest and every finished cell's results under ``root``."""
    root = Path(root)
    if not (root / MANIFEST).is_file():
        raise DataError(f"{root} holds no {MANIFEST}: not an experiment folder (peftdebias run)")
    manifest = _read_json(root / MANIFEST)
    cells = {
        cid: c
        for cid, c in manifest["cells"].items()
        if c["status"] == "finished" and (root / cid / "cell.json").is_file()
    }
    out = Collected(root, manifest)
    methods = manifest["config"].get("upstream", {}) or {}
    order = ["ft", "cda", "clp", "full", *(m for m in methods.get("methods", []) if m != "full")]
    out.row_order = {method_name(m): i for i, m in enumerate(order)}
    ambiguous = _ambiguous_methods(cells.values())
    readers = {"downstream": _read_downstream, "upstream": _read_upstream,
               "intrinsic": _read_intrinsic}  # fmt: skip
    for cid, c in cells.items():
        readers[c["kind"]](out, root / cid, c["params"], ambiguous)
    return out


def _ambiguous_methods(cells) -> set[tuple[str, str]]:
    """(task or axis, method) pairs with several modules: their rows get the module name."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in cells:
        p = c["params"]
        if "module" in p:
            seen[(p.get("task", p.get("axis", "")), p["method"])].add(p["module"])
    return {key for key, modules in seen.items() if len(modules) > 1}


def _read_downstream(out: Collected, folder: Path, p: dict[str, Any], ambiguous) -> None:
    """Table 2 values (and stored intervals) of one downstream cell."""
    metrics = _read_json(folder / "metrics.json")
    task = slug(p["task"])
    label = _row_label(p, ambiguous, p["task"])
    info = out.tasks.setdefault(task, {"role": p["role"], "axis": p["axis"], "metric": None})
    info["metric"] = metrics.get("selection_metric", "macro_f1")
    out.downstream.setdefault(task, {}).setdefault(label, {})[p["seed"]] = metrics
    columns = out.extrinsic.setdefault(task, {}).setdefault(label, {})
    for column, split, path in EXTRINSIC_METRICS:
        if column == "task":
            path = (*path, info["metric"])
        value = _get(metrics, ("splits", split, "metrics", *path))
        if isinstance(value, int | float) and not math.isnan(value):
            stat = columns.setdefault(column, Stat())
            stat.values[p["seed"]] = float(value)
            stored = _get(metrics, ("splits", split, "intervals", ".".join(path)))
            if isinstance(stored, dict):
                stat.intervals[p["seed"]] = Interval.from_dict(stored)


def _read_upstream(out: Collected, folder: Path, p: dict[str, Any], ambiguous) -> None:
    """The module's ``debias.json`` (loss curve, trainable share)."""
    if (folder / "debias.json").is_file():
        out.upstream[_row_label(p, ambiguous, p.get("axis", ""))] = _read_json(
            folder / "debias.json"
        )


def _read_intrinsic(out: Collected, folder: Path, p: dict[str, Any], ambiguous) -> None:
    """Table 1 values (with intervals) of one intrinsic cell."""
    record = _read_json(folder / "intrinsic.json")
    if "bias_types" not in record:  # a head-only cell of a model with a trained head
        return
    if p["method"] in ("base", "head"):
        kind = "no module" if p["method"] == "base" else "warmed-up head, no module"
        label = f"{Path(p['model']).name} ({kind})"
    else:
        label = _row_label(p, ambiguous, p.get("axis", ""))
    row = out.intrinsic.setdefault(label, {})
    seed = p.get("seed") or 0
    for bias_type, result in record["bias_types"].items():
        if not result.get("mlm_head", {}).get("trained", True):
            out.untrained_head_rows.add(label)
        values = _intrinsic_values(bias_type, result)
        intervals = _intrinsic_intervals(folder, bias_type, result, values)
        for column, value in values.items():
            if column not in out.intrinsic_columns:
                out.intrinsic_columns.append(column)
            if value is not None:
                stat = row.setdefault(column, Stat())
                stat.values[seed] = float(value)
                if column in intervals:
                    stat.intervals[seed] = intervals[column]


def _intrinsic_intervals(
    folder: Path, bias_type: str, result: dict[str, Any], values: dict[str, float | None]
) -> dict[str, Interval]:
    """Within-run 95 % intervals of the Table 1 columns of one bias type (see the module
    docstring); a column whose interval cannot be computed is left out."""
    intervals: dict[str, Interval] = {}
    crows = result.get("crows")
    if crows and {"stereo_preferred", "antistereo_preferred", "n"} <= set(crows):
        intervals[f"{bias_type} CrowS"] = crows_interval(crows)
    scores = folder / f"stereoset-{bias_type}_scores.jsonl"
    if "stereoset" in result and scores.is_file():
        items = [json.loads(line) for line in scores.read_text(encoding="utf-8").splitlines()
                 if line.strip()]  # fmt: skip
        domain = STEREOSET_DOMAIN.get(bias_type, bias_type)
        if domain not in result["stereoset"].get("by_domain", {}):
            domain = None
        try:
            found = stereoset_intervals(items, domain)
        except (KeyError, ValueError, TypeError):
            found = {}
        for key, column in (("lms", f"{bias_type} SS LM"), ("ss", f"{bias_type} SS")):
            value = values.get(column)
            estimate = found[key].estimate if key in found else None
            if estimate is not None and value is not None and math.isclose(estimate, value):
                intervals[column] = found[key]
    if "seat" in result:
        sizes = [abs(t["effect_size"]) for t in result["seat"]["tests"]
                 if t["effect_size"] is not None]  # fmt: skip
        if sizes:
            over_tests = t_interval(sizes)
            intervals[f"{bias_type} SEAT ES"] = Interval(
                **{**over_tests.to_dict(), "method": "t over SEAT tests"}
            )
    return intervals


def _intrinsic_values(bias_type: str, result: dict[str, Any]) -> dict[str, float | None]:
    """Table 1 columns of one bias type: StereoSet LMS and SS, CrowS-Pairs metric."""
    values: dict[str, float | None] = {}
    if "stereoset" in result:
        by_domain = result["stereoset"].get("by_domain", {})
        domain = by_domain.get(STEREOSET_DOMAIN.get(bias_type, bias_type))
        domain = domain or result["stereoset"].get("overall", {})
        values[f"{bias_type} SS LM"] = domain.get("lms")
        values[f"{bias_type} SS"] = domain.get("ss")
    if "crows" in result:
        values[f"{bias_type} CrowS"] = result["crows"].get("metric")
    if "seat" in result:
        sizes = [abs(t["effect_size"]) for t in result["seat"]["tests"]
                 if t["effect_size"] is not None]  # fmt: skip
        values[f"{bias_type} SEAT ES"] = statistics.fmean(sizes) if sizes else None
    return values


def column_title(collected: Collected, task: str, column: str) -> str:
    if column == "task":
        return {"accuracy": "Acc", "macro_f1": "F1"}.get(collected.tasks[task]["metric"], "score")
    return column
