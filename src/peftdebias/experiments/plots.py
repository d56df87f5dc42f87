"""PNG plots of a grid (matplotlib, Agg backend):

- ``tpr-gap-<task>.png``: per class, TPR(male) - TPR(female) for FT and a module (the paper's
  Figure 2), mean over seeds; only for tasks with a protected attribute (Bias in Bios);
- ``fpr-terms-<task>-<split>.png``: false positive rate per identity term, FT vs the module,
  with each model's overall FPR as a dashed line (hate-speech tasks; test split and IPTTS);
- ``score-vs-bias-<task>.png``: task score against the bias metric, one point per method
  (error bars: standard deviation over seeds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..metrics.registry import reported_metrics
from ..metrics.results import FprdRecord, MetricsFile, SplitMetrics
from .collect import Collected, column_title, method_name

COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _compared(collected: Collected, task: str, module: str | None) -> list[str]:
    """["FT", module row] for ``task``: the requested method, else the first module method."""
    rows = collected.downstream.get(task, {})
    if "FT" not in rows:
        return []
    candidates = [r for r in rows if r not in ("FT", "Full-Debias")]
    if module is not None:
        wanted = method_name(module)
        candidates = [r for r in candidates if r.split(" (")[0] == wanted]
    candidates.sort(key=lambda r: collected.row_order.get(r.split(" (")[0], 99))
    return ["FT", candidates[0]] if candidates else []


def _split_metrics(runs: dict[int, MetricsFile], split: str) -> list[SplitMetrics]:
    """The metrics of ``split`` of each seed's run that evaluated it."""
    return [m.splits[split].metrics for m in runs.values() if split in m.splits]


def _per_key(tables: Iterable[list[Any]], key: Callable[[Any], Any], value: Callable[[Any], Any]):
    """Mean over seeds of ``value`` per ``key`` of the rows of the seeds' ``tables``."""
    collected: dict[Any, list[float]] = {}
    for table in tables:
        for record in table:
            if value(record) is not None:
                collected.setdefault(key(record), []).append(float(value(record)))
    return {k: _mean(v) for k, v in collected.items()}


def _bars(plt, ax, names: list[str], series: dict[str, list[float]], horizontal: bool) -> None:
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        positions = [j + (i - (len(series) - 1) / 2) * width for j in range(len(names))]
        draw = ax.barh if horizontal else ax.bar
        draw(positions, values, width, label=label, color=COLORS[i % len(COLORS)])


def tpr_gap_plot(plt, collected: Collected, task: str, rows: list[str], path: Path) -> bool:
    runs = collected.downstream[task]
    series, groups = {}, ("male", "female")
    for row in rows:
        tables = [m.tpr_gap for m in _split_metrics(runs[row], "test") if m.tpr_gap]
        groups = tuple((tables[0].groups if tables else None) or groups)
        series[row] = _per_key((t.per_class for t in tables), lambda r: r.class_, lambda r: r.gap)
    classes = sorted({c for values in series.values() for c in values})
    if not classes:
        return False
    names = [str(c) for c in classes]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(classes) + 2), 4.5))
    _bars(plt, ax, names, {r: [series[r].get(c, 0.0) for c in classes] for r in rows}, False)
    ax.set_xticks(range(len(names)), names, rotation=60 if len(names) > 8 else 0, ha="right")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("class")
    ax.set_ylabel(f"TPR({groups[0]}) − TPR({groups[1]})")
    ax.set_title(f"{task}: per-class TPR gap, {' vs '.join(rows)}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _fprd_records(runs: dict[int, MetricsFile], split: str) -> list[FprdRecord]:
    """The FPRD records (IPTTS FPRD on IPTTS) of ``split`` of each seed's run."""
    found = (m.iptts_fprd if split == "iptts" else m.fprd for m in _split_metrics(runs, split))
    return [record for record in found if record is not None]


def fpr_terms_plot(
    plt, collected: Collected, task: str, split: str, rows: list[str], path: Path
) -> bool:
    runs = collected.downstream[task]
    records = {row: _fprd_records(runs[row], split) for row in rows}
    series = {
        row: _per_key((r.per_term for r in records[row]), lambda t: t.term, lambda t: t.fpr)
        for row in rows
    }
    terms = sorted({t for values in series.values() for t in values})
    if not terms:
        return False
    negatives = _per_key(
        (r.per_term for r in records[rows[0]]), lambda t: t.term, lambda t: t.negatives
    )
    overall = {
        row: _mean([r.overall_fpr for r in records[row] if r.overall_fpr is not None])
        for row in rows
    }
    fig, ax = plt.subplots(figsize=(7, max(3.5, 0.2 * len(terms) * max(1, len(rows) / 2) + 1.5)))
    _bars(plt, ax, terms, {r: [series[r].get(t, 0.0) for t in terms] for r in rows}, True)
    for i, row in enumerate(rows):
        ax.axvline(overall[row], color=COLORS[i], linestyle="--", linewidth=1)
    labels = [f"{t} ({negatives.get(t, 0):.0f})" for t in terms]
    ax.set_yticks(range(len(terms)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("false positive rate (dashed: overall FPR); (n) = gold negatives with the term")
    where = "IPTTS" if split == "iptts" else f"{task} {split}"
    ax.set_title(f"{task} model, {where}: FPR per identity term")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def score_vs_bias_plot(plt, collected: Collected, task: str, path: Path) -> bool:
    rows = collected.extrinsic[task]
    # the first registered bias axis with values, with the less biased direction
    axes = {m.key: m.direction for m in reported_metrics() if m.plot}
    bias = next((c for c in axes if any(c in r for r in rows.values())), None)
    points = [(label, r["task"], r[bias]) for label, r in rows.items() if "task" in r and bias in r]
    if bias is None or not points:
        return False
    fig, ax = plt.subplots(figsize=(6, 4.5))
    placed: list[tuple[float, float]] = []
    for i, (label, score, gap) in enumerate(points):
        ax.errorbar(
            gap.mean, score.mean, xerr=gap.std or 0, yerr=score.std or 0, fmt="o",
            color=COLORS[i % len(COLORS)], capsize=3, label=label,
        )  # fmt: skip
        overlapping = sum(math.isclose(x, gap.mean) and math.isclose(y, score.mean)
                          for x, y in placed)  # fmt: skip
        placed.append((gap.mean, score.mean))
        ax.annotate(
            label, (gap.mean, score.mean), textcoords="offset points",
            xytext=(6, 4 - 12 * overlapping),
        )  # fmt: skip
    ax.set_xlabel(f"{bias} ({axes[bias]} is less biased)")
    ax.set_ylabel(column_title(collected, task, "task"))
    ax.set_title(f"{task}: {column_title(collected, task, 'task')} vs {bias}")
    ax.margins(0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def make_plots(collected: Collected, out: Path, module: str | None) -> list[tuple[Path, str]]:
    """Draw every plot the data allows into ``out``; returns (path, caption) pairs."""
    plt = _pyplot()
    made: list[tuple[Path, str]] = []
    for task in sorted(collected.downstream):
        rows = _compared(collected, task, module)
        if rows:
            path = out / f"tpr-gap-{task}.png"
            if tpr_gap_plot(plt, collected, task, rows, path):
                made.append((path, f"{task}: per-class TPR(male) − TPR(female), {rows[0]} vs "
                                   f"{rows[1]} (paper Figure 2)"))  # fmt: skip
            for split in ("test", "iptts"):
                path = out / f"fpr-terms-{task}-{split}.png"
                if fpr_terms_plot(plt, collected, task, split, rows, path):
                    made.append((path, f"{task}: FPR per identity term on {split}, "
                                       f"{rows[0]} vs {rows[1]}"))  # fmt: skip
        path = out / f"score-vs-bias-{task}.png"
        if score_vs_bias_plot(plt, collected, task, path):
            made.append((path, f"{task}: task score vs bias, one point per method"))
    return made
