"""The results table of one downstream run, as ``peftdebias downstream`` prints it: the
reported metrics (:mod:`peftdebias.metrics.registry`, the report's Table 2 columns) found in
its ``metrics.json``, unscaled as in Table 2, with their 95 % bootstrap intervals."""

from __future__ import annotations

from typing import Any

from ..metrics.registry import TASK, reported_metrics, task_title
from ..metrics.results import MetricsFile


def results_table(metrics: MetricsFile | dict[str, Any]) -> str:
    """A markdown table (metric, split, value [95 % interval]) of a downstream ``metrics``."""
    if isinstance(metrics, dict):
        metrics = MetricsFile.from_json(metrics, "metrics.json")
    rows = ["| metric | split | value [95% CI] |", "|---|---|---|"]
    for metric in reported_metrics():
        split = metrics.splits.get(metric.split)
        path = metric.path_for(metrics.task_metric)
        value = split.metrics.lookup(path) if split is not None else None
        if not isinstance(value, int | float):
            continue
        digits = metric.digits
        text = f"{value:.{digits}f}"
        interval = split.interval(path)
        if interval is not None and interval.low is not None and interval.high is not None:
            text += f" [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"
        title = task_title(metrics.task_metric) if metric.key == TASK else metric.title
        rows.append(f"| {title} | {metric.split} | {text} |")
    return "\n".join(rows)
