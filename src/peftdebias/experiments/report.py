"""``peftdebias report DIR``: the paper's Table 1 and Table 2 from a finished grid, plus plots.

Reads ``manifest.json`` and the artefacts of every finished cell (``intrinsic.json``,
``metrics.json``) and writes ``report.md``, ``table1_intrinsic.csv``,
``table2_extrinsic.csv`` (long format: row, task, metric, mean, std, n, seeds, p vs FT),
``cells.csv``, ``goal.csv``, the PNG plots of :mod:`peftdebias.experiments.plots` and
``results.md``, the sections ``RESULTS.md`` takes (:mod:`peftdebias.experiments.summary`).
The columns are the registered metrics (:mod:`peftdebias.metrics.registry`) and intrinsic
benchmark columns (:mod:`peftdebias.intrinsic.registry`).

- Every value comes with its 95 % confidence interval (:mod:`peftdebias.metrics.intervals`):
  a t-interval over seeds for a row with at least 2 seeds; for a single run the percentile
  bootstrap over test examples that the downstream run stored in ``metrics.json``
  (``intervals``); CrowS-Pairs: Wilson binomial interval of the share of pairs; StereoSet
  SS / LMS: bootstrap over items (from the cell's ``stereoset-<bias type>_scores.jsonl``);
  SEAT ES: t-interval over the SEAT tests. The CSVs also keep the sample std (ddof 1).
- Module (or baseline) vs FT: per-seed differences over the seeds both have (same seeds,
  same data order), their mean with a 95 % t-interval and the two-sided paired t-test
  p-value (``scipy.stats.ttest_rel``); ``*`` marks a difference only where that interval
  excludes zero (equivalently p < 0.05); ``n/a`` with fewer than 2 pairs or identical
  differences.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import atomic_open
from ..metrics.intervals import PairedComparison
from ..metrics.registry import reported_metrics
from .collect import (
    SIGNIFICANCE,
    Collected,
    Stat,
    collect,
    column_title,
    comparison,
    sorted_rows,
    task_columns,
)
from .curves import curves_markdown
from .efficacy import efficacy_markdown
from .goal import goal_markdown, goal_rows
from .plots import make_plots
from .records import Manifest
from .summary import plots_markdown, results_markdown


def _fmt(stat: Stat | None, marker: str = "", digits: int = 3) -> str:
    """``mean [low, high]`` (95 % interval, see the module docstring) plus ``marker``."""
    if stat is None or stat.mean is None:
        return "–"
    interval = stat.interval
    text = f"{stat.mean:.{digits}f}"
    if interval.defined:
        text += f" [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"
        if not interval.covers_estimate:
            text += "‡"
    return text + marker


def _fmt_difference(found: PairedComparison | None) -> str:
    """``Δ [low, high], p`` of a paired comparison with FT (``n/a`` when not computable)."""
    if found is None or found.difference.estimate is None or found.p_value is None:
        return "n/a"
    diff = found.difference
    marker = "*" if found.significant else ""
    interval = f"[{diff.low:+.3f}, {diff.high:+.3f}]"
    return f"{diff.estimate:+.3f} {interval}, p={found.p_value:.3g}{marker}"


def table1(collected: Collected) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines and CSV rows of Table 1 (intrinsic)."""
    columns = collected.intrinsic_columns
    if not collected.intrinsic:
        return [], []
    lines = [
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    rows = []
    for label in sorted_rows(collected.intrinsic, collected):
        values = collected.intrinsic[label]
        mark = " †" if label in collected.untrained_head_rows else ""
        lines.append(
            f"| {label}{mark} | " + " | ".join(_fmt(values.get(c)) for c in columns) + " |"
        )
        for column in columns:
            stat = values.get(column)
            if stat is not None:
                rows.append(_csv_row(label, "", "", column, stat, None))
    return lines, rows


def _csv_row(label, task, role, column, stat: Stat, found: PairedComparison | None):
    interval = stat.interval
    diff = found.difference if found is not None else None
    return {
        "row": label,
        "task": task,
        "role": role,
        "metric": column,
        "mean": stat.mean,
        "std": stat.std,
        "n": stat.n,
        "seeds": " ".join(str(s) for s in sorted(stat.values)),
        "ci_low": interval.low,
        "ci_high": interval.high,
        "ci_method": interval.method if interval.defined else None,
        "diff_vs_ft": diff.estimate if diff is not None else None,
        "diff_low": diff.low if diff is not None else None,
        "diff_high": diff.high if diff is not None else None,
        "p_vs_ft": found.p_value if found is not None else None,
        "significant": found.significant if found is not None else None,
    }


def table2(collected: Collected) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Markdown lines of Table 2 and of the paired differences from FT (one table per task,
    in-domain first), and the CSV rows."""
    tasks = sorted(collected.extrinsic, key=lambda t: (collected.tasks[t].role != "in-domain", t))
    digits = {m.key: m.digits for m in reported_metrics()}
    lines: list[str] = []
    p_lines: list[str] = []
    rows = []
    for task in tasks:
        role = collected.tasks[task].role
        columns = task_columns(collected, task)
        titles = [column_title(collected, task, column) for column in columns]
        header = [f"### {task} ({role})", "", "| row | " + " | ".join(titles) + " |",
                  "|---|" + "---|" * len(columns)]  # fmt: skip
        lines += header
        p_lines += header
        by_label = collected.extrinsic[task]
        for label in sorted_rows(set(by_label), collected):
            cells, p_cells = [], []
            for column, title in zip(columns, titles, strict=True):
                stat = by_label.get(label, {}).get(column)
                ft = by_label.get("FT", {}).get(column)
                found = None if stat is None or ft is None or label == "FT" else (
                    comparison(stat, ft)
                )  # fmt: skip
                marker = "*" if found is not None and found.significant else ""
                cells.append(_fmt(stat, marker, digits[column]))
                p_cells.append("–" if label == "FT" else _fmt_difference(found))
                if stat is not None:
                    rows.append(_csv_row(label, task, role, title, stat, found))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
            p_lines.append(f"| {label} | " + " | ".join(p_cells) + " |")
        lines.append("")
        p_lines.append("")
    return lines, p_lines, rows


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


@dataclass
class Report:
    """What :func:`write_report` wrote: the markdown text, the files, the results it read and
    the plots with their captions."""

    markdown: str
    files: list[Path]
    collected: Collected
    plots: list[tuple[Path, str]]


def write_report(
    run_dir: str | os.PathLike, output: str | os.PathLike | None = None, module: str | None = None
) -> Report:
    """Write ``report.md``, ``results.md`` (the generated sections of RESULTS.md, see
    :mod:`peftdebias.experiments.summary`), the CSV tables and the PNG plots of the grid in
    ``run_dir`` into ``output`` (default: ``run_dir``); ``module`` picks the method compared
    with FT in the per-class and per-term plots (default: the first module method of the
    config)."""
    collected = collect(run_dir)
    out = Path(output) if output is not None else collected.root
    out.mkdir(parents=True, exist_ok=True)
    t1_lines, t1_rows = table1(collected)
    t2_lines, p_lines, t2_rows = table2(collected)
    efficacy, efficacy_rows = efficacy_markdown(collected)
    files = _write_tables(collected, out, t1_rows, t2_rows, efficacy_rows)
    plots = make_plots(collected, out, module)
    files += [path for path, _ in plots]
    markdown = _markdown(collected, t1_lines, t2_lines, p_lines, plots, out, efficacy)
    texts = {"report.md": markdown,
             "results.md": results_markdown(collected, plots, out, efficacy)}  # fmt: skip
    for name, text in texts.items():
        with atomic_open(out / name, "w", encoding="utf-8") as handle:
            handle.write(text)
    return Report(markdown, [out / name for name in texts] + files, collected, plots)


def _write_tables(collected: Collected, out: Path, t1_rows, t2_rows, efficacy_rows) -> list[Path]:
    """The CSVs: Table 1, Table 2, the cells and (when there are any) the goal check and
    the efficacy table."""
    columns = [
        "row", "task", "role", "metric", "mean", "std", "n", "seeds", "ci_low", "ci_high",
        "ci_method", "diff_vs_ft", "diff_low", "diff_high", "p_vs_ft", "significant",
    ]  # fmt: skip
    files = [out / "table1_intrinsic.csv", out / "table2_extrinsic.csv", out / "cells.csv"]
    pairing = ("task", "role", "diff_vs_ft", "diff_low", "diff_high", "p_vs_ft", "significant")
    _write_csv(files[0], t1_rows, [c for c in columns if c not in pairing])
    _write_csv(files[1], t2_rows, columns)
    cell_rows = [
        {"cell": cid, "kind": c.kind, "status": c.status, "seconds": c.seconds, "error": c.error}
        for cid, c in collected.manifest.cells.items()
    ]
    _write_csv(files[2], cell_rows, ["cell", "kind", "status", "seconds", "error"])
    goals = [row.to_dict() for row in goal_rows(collected)[0]]
    if goals:
        files.append(out / "goal.csv")
        _write_csv(files[-1], goals, list(dict.fromkeys(k for row in goals for k in row)))
    if efficacy_rows:
        files.append(out / "efficacy.csv")
        _write_csv(files[-1], efficacy_rows, list(efficacy_rows[0]))
    return files


INTERVALS_NOTE = (
    "Values are means over seeds (test split; FPRD-IPTTS on IPTTS) with their 95 % "
    "confidence interval in brackets: a t-interval over seeds for rows with at least 2 "
    "seeds; for a single run the percentile bootstrap over test examples (downstream), "
    "the Wilson binomial interval (CrowS-Pairs), the bootstrap over items (StereoSet) or "
    "the t-interval over the SEAT tests (SEAT ES). The CSVs give the method of each "
    "interval and the standard deviation over seeds. ‡: the value lies outside its "
    "bootstrap interval; resampling inflates sums of absolute differences such as FPRD, "
    "so such a value is mostly sampling noise."
)
TABLE1_NOTE = (
    "SS LM: StereoSet language-model score (ideal 100); SS: StereoSet stereotype score "
    "and CrowS: CrowS-Pairs stereotype score (ideal 50); SEAT ES: mean absolute effect "
    "size (ideal 0). Each module row fills the columns of its own axis."
)
UNTRAINED_HEAD_NOTE = (
    "† the model's masked-LM head is untrained (e.g. MiniLM): CrowS-Pairs and "
    'StereoSet scores of this row are NOT meaningful; the "warmed-up head, no '
    'module" row (the head each upstream run trained first, without the module) '
    "is the reference for the module rows."
)
TABLE2_NOTE = (
    "Acc/F1: higher is better; TPR-GAP (RMS), FPRD, FPRD-IPTTS: lower is better "
    "(FPRD: sum over identity terms of |FPR_term - FPR| over gold negatives; "
    "\"ref. code\": the PEFTDebias reference code's variant, the scale of the paper's "
    "numbers); GAP F1: the official coreference F1; GAP F/M: F1 feminine / masculine, ideal 1; "
    "Bias-NLI fraction neutral (FN) and net neutral (NN): higher is better. "
    "`*`: the 95 % interval of the difference from FT, paired over the seeds both "
    f"have, excludes zero (paired t-test p < {SIGNIFICANCE})."
)
DIFFERENCES_NOTE = (
    "Row minus FT, per seed: mean difference, its 95 % t-interval and the paired "
    "t-test p-value; `*` where the interval excludes zero; n/a with fewer than 2 "
    "seed pairs or identical differences."
)


def _markdown(collected, t1_lines, t2_lines, p_lines, plots, out: Path, efficacy) -> str:
    lines = [*_header(collected), INTERVALS_NOTE, ""]
    if t1_lines:
        lines += ["## Table 1: intrinsic bias", "", TABLE1_NOTE, "", *t1_lines, ""]
        if collected.untrained_head_rows:
            lines += [UNTRAINED_HEAD_NOTE, ""]
    if t2_lines:
        lines += ["## Table 2: task performance and extrinsic bias", "", TABLE2_NOTE, "",
                  *t2_lines, "", "### Differences from FT (paired over seeds)", "",
                  DIFFERENCES_NOTE, "", *p_lines, ""]  # fmt: skip
    lines += goal_markdown(collected)
    lines += efficacy
    lines += curves_markdown(collected.upstream_by_label())
    lines += plots_markdown(plots, out)
    return "\n".join([*lines, *_unfinished(collected.manifest)])


def _header(collected) -> list[str]:
    """Title and one line: model, cell counts, version and commit."""
    manifest = collected.manifest
    counts: dict[str, int] = defaultdict(int)
    for cell in manifest.cells.values():
        counts[cell.status] += 1
    git = manifest.git or {}
    commit = f", commit {git['commit'][:10]}{' (dirty)' if git.get('dirty') else ''}" if git else ""
    return [
        f"# Experiment report: {manifest.name or collected.root.name}",
        "",
        f"Model `{manifest.config.get('model')}`; cells: "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        + f"; peftdebias {(manifest.versions or {}).get('peftdebias')}{commit}.",
        "",
    ]


def _unfinished(manifest: Manifest) -> list[str]:
    failed = {cid: c for cid, c in manifest.cells.items() if c.status != "finished"}
    if not failed:
        return []
    lines = ["## Unfinished cells", "", "| cell | status | error |", "|---|---|---|"]
    lines += [f"| {cid} | {c.status} | {c.error or ''} |" for cid, c in failed.items()]
    return [*lines, ""]
