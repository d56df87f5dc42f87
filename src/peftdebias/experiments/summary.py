"""``results.md``: the generated sections of ``RESULTS.md``, beside a grid's ``report.md``.

The same tables as the report (the same collected values, metrics and intervals), set out
for ``RESULTS.md``: the grid's setup (config, libraries, commits, seeds, options, compute),
Table 1 and Table 2 with the paper's numbers beside ours (PEFTDebias, EMNLP 2023; shipped
in ``resources/paper/peftdebias-emnlp2023.json``) in the paper's units (each metric's
``scale`` in :mod:`peftdebias.metrics.registry`), the goal check, the upstream loss curves
and the plots. ``RESULTS.md``'s discussion is written by hand around these sections
(docs/experiments.md).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from ..metrics.registry import TASK, ReportedMetric, reported_metrics, task_title
from ..records import Record
from .collect import Collected, Stat, comparison, sorted_rows, task_columns
from .config import DEFAULT_BIAS_TYPES
from .curves import curves_markdown
from .goal import goal_markdown

PAPER = ("resources", "paper", "peftdebias-emnlp2023.json")
VALUES_NOTE = (
    "Values are means with their 95 % confidence interval in brackets (t-interval over "
    "seeds; a single run: bootstrap over test examples, Wilson interval for CrowS-Pairs, "
    "bootstrap over items for StereoSet, t over the SEAT tests) and the number of seeds. "
    "Cells marked `*` differ from FT: the 95 % interval of the difference, paired over "
    "seeds, excludes zero (the report's differences table gives it with its p-value). Acc, "
    "F1 and GAP F1 are in percent like the paper's. FPRD: our definition (sum over identity "
    'terms of |FPR_term − FPR| on gold negatives, whole-word matching); "ref.": the '
    "reference code's variant, the scale of the paper's FPRD numbers. CrowS/SS: percent, "
    "ideal 50; SS LM ideal 100; SEAT ES: mean |effect size|."
)
UNTRAINED_HEAD_NOTE = (
    "† no trained masked-LM head ships with the model: this row is scored with a randomly "
    "initialised head and is not meaningful; the warmed-up head row is the reference the "
    "paper's BERT row stands for."
)


@dataclass
class PaperBlock(Record):
    """One block of the paper's tables: its rows of numbers by column."""

    rows: dict[str, list[float]]
    columns: list[str] = field(default_factory=list)
    corpus: str | None = None

    def value(self, row: str | None, column: str) -> str:
        """The paper's number of ``row`` in ``column`` (``–``: none)."""
        if row is None or row not in self.rows or column not in self.columns:
            return "–"
        return f"{self.rows[row][self.columns.index(column)]:g}"


@dataclass
class PaperNumbers(Record):
    """The paper's Tables 1 and 2, and which of its Table 2 blocks each task stands for."""

    tasks: dict[str, str]
    table1: dict[str, Any]
    table2: dict[str, PaperBlock]

    def intrinsic(self, bias_type: str) -> PaperBlock | None:
        """The Table 1 block of ``bias_type`` (None: the paper has none)."""
        block = self.table1.get(bias_type)
        if not isinstance(block, dict):
            return None
        data = {**block, "columns": self.table1["columns"]}
        return PaperBlock.from_json(data, f"paper Table 1 {bias_type}")

    def extrinsic(self, task: str) -> tuple[str | None, PaperBlock | None]:
        """The name and the block of the paper's Table 2 that ``task`` stands for."""
        name = self.tasks.get(task)
        return name, self.table2.get(name) if name else None


def load_paper() -> PaperNumbers:
    """The paper's numbers shipped with the package."""
    path = resources.files("peftdebias").joinpath(*PAPER)
    return PaperNumbers.from_json(json.loads(path.read_text(encoding="utf-8")), str(path))


def _fmt(stat: Stat | None, scale: float = 1.0, marker: str = "") -> str:
    """``mean [95 % interval]`` (scaled), the marker and the number of seeds."""
    if stat is None or stat.mean is None:
        return "–"
    text = f"{stat.mean * scale:.2f}"
    interval = stat.interval
    if interval.defined:
        text += f" [{interval.low * scale:.2f}, {interval.high * scale:.2f}]"
    return f"{text}{marker} ({stat.n})"


def results_markdown(
    collected: Collected, plots: list[tuple[Path, str]], out: Path, efficacy: Sequence[str] = ()
) -> str:
    """The text of ``results.md`` (see the module docstring); ``efficacy``: the efficacy
    section (:func:`~peftdebias.experiments.efficacy.efficacy_markdown`)."""
    paper = load_paper()
    manifest = collected.manifest
    finished, total = len(manifest.finished()), len(manifest.cells)
    if not manifest.runs:  # a results store lists only the cells it holds
        status = f"results store: {finished} finished cells"
    else:
        status = "complete" if finished == total else f"PARTIAL: {finished} of {total} finished"
    lines = [
        f"# Results: `{manifest.config_file or manifest.name}` ({status})",
        "",
        "## Setup",
        "",
        *setup_lines(collected),
        "",
        VALUES_NOTE,
        "",
    ]
    if collected.intrinsic:
        lines += ["## Table 1: intrinsic bias after the upstream phase", ""]
        lines += paper_table1(collected, paper)
    if collected.extrinsic:
        lines += ["## Table 2: task performance and extrinsic bias", ""]
        lines += paper_table2(collected, paper)
    lines += goal_markdown(collected)
    lines += efficacy
    lines += curves_markdown(collected.upstream_by_label())
    lines += plots_markdown(plots, out)
    return "\n".join(lines)


def setup_lines(collected: Collected) -> list[str]:
    """The setup list: config, libraries, code, seeds, options per phase, compute."""
    manifest = collected.manifest
    config = manifest.config
    versions = ", ".join(f"{k} {v}" for k, v in (manifest.versions or {}).items())
    lines = [
        f"- config: `{manifest.config_file}` (grid `{manifest.name}`); "
        f"model `{config.get('model')}`;",
        f"- libraries: {versions};",
        f"- code: {code_versions(collected)};",
        f"- seeds: {json.dumps(manifest.seeds or {'downstream': config.get('seeds')})};",
    ]
    upstream, downstream = config.get("upstream"), config.get("downstream")
    intrinsic = config.get("intrinsic")
    if upstream:
        lines.append(
            f"- upstream: {json.dumps(upstream.get('options', {}))} (preset "
            f"`{upstream.get('preset')}`; overrides "
            f"{json.dumps(upstream.get('method_overrides', {}))});"
        )
    if downstream:
        lines.append(
            f"- downstream: {json.dumps(downstream.get('options', {}))} (preset "
            f"`{downstream.get('preset')}`); per task: {_task_options(downstream)};"
        )
    if intrinsic:
        lines.append(
            f"- intrinsic: {', '.join(intrinsic.get('benchmarks', []))} "
            f"{json.dumps(intrinsic.get('options', {}))};"
        )
    return lines + timing_lines(collected)


def _task_options(downstream: dict[str, Any]) -> str:
    """Per-task downstream options that override the common ones."""
    tasks = downstream.get("tasks", [])
    overrides = [f"{t['task']} {json.dumps(t['options'])}" for t in tasks if t.get("options")]
    return "; ".join(overrides) or "none"


def code_versions(collected: Collected) -> str:
    """The commits that ran the finished cells, with how many cells each ran (a results
    store, which keeps no runs, names the grid's commit)."""
    manifest = collected.manifest
    counts: dict[str, int] = {}
    for cell in manifest.finished().values():
        runs = manifest.runs
        git = (runs[cell.run].get("git") if cell.run is not None and runs else manifest.git) or {}
        label = git.get("commit", "?")[:10] + (" (dirty)" if git.get("dirty") else "")
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"commit {label} ({n} cells)" for label, n in counts.items()) or "unknown"


def timing_lines(collected: Collected) -> list[str]:
    """Compute in finished cells, in all and per kind of cell."""
    manifest = collected.manifest
    by_kind: dict[str, list[float]] = {}
    for cell in manifest.finished().values():
        if cell.seconds is not None:
            by_kind.setdefault(cell.kind, []).append(cell.seconds)
    total = sum(sum(seconds) for seconds in by_kind.values())
    span = ""
    ends = [c.ended for c in manifest.cells.values() if c.ended]
    if manifest.runs and ends:
        first = datetime.fromisoformat(manifest.runs[0]["started"])
        hours = (datetime.fromisoformat(max(ends)) - first).total_seconds() / 3600
        span = (
            f"; {hours:.2f} h from the first start to the last cell's end "
            f"({len(manifest.runs)} invocations of `peftdebias run`)"
        )
    lines = [f"- compute: {total / 3600:.2f} h in finished cells{span};"]
    for kind, seconds in sorted(by_kind.items()):
        lines.append(
            f"- {kind}: {len(seconds)} cells, {sum(seconds) / 60:.0f} min in all, "
            f"median {statistics.median(seconds) / 60:.1f} min per cell;"
        )
    return lines


def paper_table1(collected: Collected, paper: PaperNumbers) -> list[str]:
    """Per bias type: our Table 1 rows next to the paper's. The paper's BERT row is set
    against the base model with the warmed-up head when there is one (the base row's head is
    then random), else against the base model."""
    labels = sorted_rows(collected.intrinsic, collected)
    has_head = any(label.endswith("head, no module)") for label in labels)
    lines: list[str] = []
    for bias_type in dict.fromkeys(b for b, _ in collected.intrinsic_parts.values()):
        block = paper.intrinsic(bias_type)
        columns = [c for k, (b, c) in collected.intrinsic_parts.items() if b == bias_type]
        paper_columns = block.columns if block else []
        titles = [f"{c} | paper {c}" if c in paper_columns else c for c in columns]
        lines += [
            f"### {bias_type} (modules learned on {_module_corpus(collected, bias_type)}; "
            f"paper: {block.corpus if block else '–'})",
            "",
            "| row | " + " | ".join(titles) + " |",
            "|---|" + "---|" * (len(columns) + sum(c in paper_columns for c in columns)),
        ]
        for label in labels:
            values = collected.intrinsic[label]
            if not any(f"{bias_type} {c}" in values for c in columns):
                continue
            paper_row = _paper_row(label, has_head)
            cells = []
            for column in columns:
                cells.append(_fmt(values.get(f"{bias_type} {column}")))
                if column in paper_columns:
                    cells.append(block.value(paper_row, column))
            mark = " †" if label in collected.untrained_head_rows else ""
            lines.append(f"| {label}{mark} | " + " | ".join(cells) + " |")
        lines.append("")
    if collected.untrained_head_rows:
        lines += [UNTRAINED_HEAD_NOTE, ""]
    return lines


def _paper_row(label: str, has_head: bool) -> str | None:
    """The paper's row that our Table 1 row ``label`` stands for."""
    if label.endswith("head, no module)"):
        return "BERT"
    if label.endswith("(no module)"):
        return None if has_head else "BERT"
    return label.split(" (")[0]


def _module_corpus(collected: Collected, bias_type: str) -> str:
    """The corpus of the upstream modules whose axis is scored as ``bias_type``."""
    config = collected.manifest.config
    chosen = {**DEFAULT_BIAS_TYPES, **((config.get("intrinsic") or {}).get("bias_types") or {})}
    for module in (config.get("upstream") or {}).get("modules", []):
        if chosen.get(module.get("axis"), module.get("axis")) == bias_type:
            split = module.get("corpus_split")
            return module["corpus"] + (f" ({split})" if split else "")
    return "–"


def paper_table2(collected: Collected, paper: PaperNumbers) -> list[str]:
    """Per task: our Table 2 rows (scaled to the paper's units) next to the paper's block of
    the task, with the paper's rows we lack."""
    lines: list[str] = []
    tasks = sorted(collected.extrinsic, key=lambda t: (collected.tasks[t].role != "in-domain", t))
    for task in tasks:
        name, block = paper.extrinsic(task)
        metrics = {m.key: m for m in reported_metrics()}
        columns = [metrics[c] for c in task_columns(collected, task)]
        header = []
        for metric in columns:
            header.append(_title(collected, task, metric))
            column = _paper_column(collected, task, metric, block)
            if column:
                header.append(f"paper {column}")
        lines += [
            f"### {task} ({collected.tasks[task].role})" + (f"; paper: {name}" if name else ""),
            "",
            "| row | " + " | ".join(header) + " |",
            "|---|" + "---|" * len(header),
        ]
        lines += _paper_table2_rows(collected, task, columns, block)
        lines.append("")
    return lines


def _paper_table2_rows(
    collected: Collected, task: str, columns: list[ReportedMetric], block: PaperBlock | None
) -> list[str]:
    """The rows of one task: ours (scaled, ``*`` against FT), then the paper's."""
    rows = collected.extrinsic[task]
    ours = {label.split(" (")[0] for label in rows}
    labels = sorted_rows([*rows, *(r for r in (block.rows if block else {}) if r not in ours)],
                         collected)  # fmt: skip
    lines = []
    for label in labels:
        cells = []
        for metric in columns:
            stat, ft = rows.get(label, {}).get(metric.key), rows.get("FT", {}).get(metric.key)
            found = comparison(stat, ft) if stat and ft and label != "FT" else None
            marker = "*" if found is not None and found.significant else ""
            cells.append(_fmt(stat, metric.scale, marker))
            column = _paper_column(collected, task, metric, block)
            if column:
                cells.append(block.value(label.split(" (")[0], column))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _title(collected: Collected, task: str, metric: ReportedMetric) -> str:
    """The column title of ``metric`` (the task score: ``Acc``, ``F1``)."""
    return task_title(collected.tasks[task].metric) if metric.key == TASK else metric.short_title


def _paper_column(
    collected: Collected, task: str, metric: ReportedMetric, block: PaperBlock | None
) -> str | None:
    """The paper's column ``metric`` is comparable with in ``block`` (None: none)."""
    if block is None or metric.paper is None:
        return None
    column = task_title(collected.tasks[task].metric) if metric.paper == TASK else metric.paper
    return column if column in block.columns else None


def plots_markdown(plots: list[tuple[Path, str]], out: Path) -> list[str]:
    """The "Plots" section: each PNG (relative to ``out``) with its caption."""
    if not plots:
        return []
    lines = ["## Plots", ""]
    for path, caption in plots:
        lines += [f"![{caption}]({os.path.relpath(path, out)})", "", f"*{caption}*", ""]
    return lines
