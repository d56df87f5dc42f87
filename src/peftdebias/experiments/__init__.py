"""Experiment grids: config schema, resumable runner, paper-style report, quickstart.

>>> config = load_config("configs/offline-cpu.yaml")     # doctest: +SKIP
>>> run_experiment(config, "runs/offline")               # doctest: +SKIP
>>> write_report("runs/offline").files                   # doctest: +SKIP
"""

from .cells import Cell, plan, run_cell
from .collect import collect
from .config import ExperimentConfig, from_dict, load_config, validate
from .quickstart import (
    QuickstartResult,
    QuickstartSizes,
    quickstart,
    quickstart_config,
    results_tables,
)
from .report import Report, write_report
from .runner import Runner, RunResult, run_experiment

__all__ = [
    "Cell",
    "ExperimentConfig",
    "QuickstartResult",
    "QuickstartSizes",
    "Report",
    "RunResult",
    "Runner",
    "collect",
    "from_dict",
    "load_config",
    "plan",
    "quickstart",
    "quickstart_config",
    "results_tables",
    "run_cell",
    "run_experiment",
    "validate",
    "write_report",
]
