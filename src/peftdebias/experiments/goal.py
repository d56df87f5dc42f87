"""Does a row lower bias against FT at the same task quality? (issue 13's goal, as data)

For each task and each row other than FT, paired over the seeds both have (see
:func:`~peftdebias.metrics.intervals.paired_comparison`):

- task score: ``Δ = row - FT`` (macro-F1 or accuracy) with its 95 % t-interval;
- each bias metric (the registered metrics marked ``goal``: FPRD on the test split, FPRD on
  IPTTS): the relative change ``Δ / mean(FT)`` and whether the 95 % interval of ``Δ`` lies
  entirely below zero.

A row **meets the goal** when its mean task score is at most ``tolerance`` below FT's (1 point)
and every bias metric falls by at least ``reduction`` (40 %) with an interval of the difference
that excludes zero. ``best`` names, per bias metric, the row with the lowest mean among rows
within the tolerance (FT included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..metrics.intervals import PairedComparison, paired_comparison
from ..metrics.registry import goal_metrics

REDUCTION = 0.40
TOLERANCE = 0.01


@dataclass
class BiasChange:
    column: str
    comparison: PairedComparison
    relative: float | None  # mean difference / FT mean

    @property
    def lower(self) -> bool:
        """The 95 % interval of the difference lies below zero."""
        diff = self.comparison.difference
        return diff.high is not None and diff.high < 0


@dataclass
class GoalRow:
    task: str
    row: str
    seeds: int
    score: PairedComparison
    bias: list[BiasChange] = field(default_factory=list)
    meets: bool = False

    def to_dict(self) -> dict[str, Any]:
        score = self.score.difference
        record: dict[str, Any] = {
            "task": self.task, "row": self.row, "seeds": self.seeds,
            "score_diff": score.estimate, "score_low": score.low, "score_high": score.high,
        }  # fmt: skip
        for change in self.bias:
            diff = change.comparison.difference
            key = change.column.lower()
            record.update({
                f"{key}_relative": change.relative, f"{key}_diff": diff.estimate,
                f"{key}_low": diff.low, f"{key}_high": diff.high,
            })  # fmt: skip
        record["meets_goal"] = self.meets
        return record


def goal_rows(collected, reduction: float = REDUCTION, tolerance: float = TOLERANCE):
    """:class:`GoalRow` for every (task, row other than FT) with bias columns, and per task
    the row with the lowest mean of each bias column among rows within ``tolerance`` of FT's
    score: ``(rows, {task: {column: row label}})``."""
    rows: list[GoalRow] = []
    best: dict[str, dict[str, str]] = {}
    for task, by_label in sorted(collected.extrinsic.items()):
        ft = by_label.get("FT")
        columns = [c for c in goal_metrics() if ft is not None and c in ft]
        if ft is None or "task" not in ft or not columns:
            continue
        eligible = ["FT"]
        for label, stats in sorted(by_label.items()):
            if label == "FT" or "task" not in stats:
                continue
            score = paired_comparison(stats["task"].values, ft["task"].values)
            goal = GoalRow(task, label, len(score.seeds), score)
            for column in columns:
                if column in stats:
                    found = paired_comparison(stats[column].values, ft[column].values)
                    base = ft[column].mean
                    diff = found.difference.estimate
                    relative = diff / base if diff is not None and base else None
                    goal.bias.append(BiasChange(column, found, relative))
            close = score.difference.estimate is not None and (
                score.difference.estimate >= -tolerance
            )
            goal.meets = (
                close
                and len(goal.bias) == len(columns)
                and all(
                    c.lower and c.relative is not None and c.relative <= -reduction
                    for c in goal.bias
                )
            )
            if close:
                eligible.append(label)
            rows.append(goal)
        best[task] = {
            column: min(
                (label for label in eligible if column in by_label[label]),
                key=lambda label, c=column: by_label[label][c].mean,
            )
            for column in columns
        }
    return rows, best


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.0f} %"


def _interval(found: PairedComparison, scale: float = 1.0) -> str:
    diff = found.difference
    if diff.estimate is None:
        return "–"
    if diff.low is None or diff.high is None:
        return f"{scale * diff.estimate:+.2f}"
    return f"{scale * diff.estimate:+.2f} [{scale * diff.low:+.2f}, {scale * diff.high:+.2f}]"


def goal_markdown(collected) -> list[str]:
    """The goal-check section of the report (empty when no task has FT and a bias column)."""
    rows, best = goal_rows(collected)
    if not rows:
        return []
    lines = [
        "## Goal check: lower bias than FT at the same task quality",
        "",
        f"Per row, paired with FT over the seeds both have: the task score's difference (points, "
        f"95 % interval), and each bias metric's change relative to FT's mean with the "
        f"interval of the difference. **yes**: score within {100 * TOLERANCE:.0f} point of FT "
        f"and every bias metric at least {100 * REDUCTION:.0f} % lower with an interval below "
        "zero.",
        "",
    ]
    for task in sorted({r.task for r in rows}):
        task_rows = [r for r in rows if r.task == task]
        columns = [c.column for c in max(task_rows, key=lambda r: len(r.bias)).bias]
        lines += [
            f"### {task}",
            "",
            "| row | seeds | Δ score (points) | "
            + " | ".join(f"{c} change | Δ {c}" for c in columns)
            + " | meets goal |",
            "|---|---|---|" + "---|---|" * len(columns) + "---|",
        ]
        for row in task_rows:
            changes = {c.column: c for c in row.bias}
            cells = []
            for column in columns:
                change = changes.get(column)
                cells += (
                    ["–", "–"]
                    if change is None
                    else [_pct(change.relative), _interval(change.comparison)]
                )
            verdict = "**yes**" if row.meets else "no"
            lines.append(
                f"| {row.row} | {row.seeds} | {_interval(row.score, 100)} | "
                + " | ".join(cells)
                + f" | {verdict} |"
            )
        winners = ", ".join(f"{c}: {label}" for c, label in best.get(task, {}).items())
        lines += ["", f"Lowest mean among rows within 1 point of FT's score: {winners}.", ""]
    return lines
