"""The results table of one downstream run, as ``peftdebias downstream`` prints it: the
reported metrics (:mod:`peftdebias.metrics.registry`, the report's Table 2 columns) found in
its ``metrics.json``, unscaled as in Table 2, with their 95 % bootstrap intervals."""

from __future__ import annotations

from typing import Any

from ..metrics.registry import TASK, reported_metrics, task_title


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def results_table(metrics: dict[str, Any]) -> str:
    """A markdown table (metric, split, value [95 % interval]) of a downstream ``metrics``."""
    task_metric = metrics.get("selection_metric") or "macro_f1"
    rows = ["| metric | split | value [95% CI] |", "|---|---|---|"]
    for metric in reported_metrics():
        split = metrics.get("splits", {}).get(metric.split) or {}
        path = metric.path_for(task_metric)
        value = _at(split.get("metrics"), path)
        if not isinstance(value, int | float):
            continue
        digits = metric.digits
        text = f"{value:.{digits}f}"
        interval = split.get("intervals", {}).get(".".join(path)) or {}
        if interval.get("low") is not None and interval.get("high") is not None:
            text += f" [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"
        title = task_title(task_metric) if metric.key == TASK else metric.title
        rows.append(f"| {title} | {metric.split} | {text} |")
    return "\n".join(rows)
