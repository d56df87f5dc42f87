"""peftdebias: parameter-efficient debiasing of language models (PEFTDebias, EMNLP 2023).

Upstream, a small PEFT module is trained with masked-LM on counterfactually augmented text
while the backbone stays frozen; downstream, the module is frozen inside the model and the
rest is fine-tuned on a task. The steps of the command line, as Python (imported lazily, so
``import peftdebias`` stays fast):

- upstream: :class:`UpstreamConfig`, :func:`train_upstream` -> :class:`UpstreamResult`
- downstream: :class:`DownstreamConfig`, :func:`train_downstream` -> :class:`DownstreamResult`,
  :func:`load_classifier`
- intrinsic: :func:`load_debiased_lm`, :class:`IntrinsicConfig`, :func:`evaluate_intrinsic`
- metrics: :func:`read_predictions`, :func:`compute_metrics`, :class:`MetricOptions`
- run: :func:`load_config`, :func:`run_experiment` (or :func:`run` from a YAML file)
- report: :func:`report` / :func:`write_report`; :func:`quickstart`
- on objects (docs/api.md): :func:`learn_module` -> :class:`DebiasModule` (``save_pretrained``,
  :func:`load_module`), :func:`attach_frozen`, :func:`task_splits`,
  :func:`evaluate_predictions`

Example (the quickstart's two phases by hand)::

    import peftdebias as pd
    pd.train_upstream(pd.UpstreamConfig(axis="group", corpus="ghc", method="lora",
                                        output="runs/lora", data_dir="../shared/data"))
    result = pd.train_downstream(pd.DownstreamConfig(task="ghc", debias="runs/lora",
                                                     output="runs/ghc", data_dir="../shared/data"))
    print(result.record.splits["test"].metrics.fprd.fprd)  # typed records of metrics.json
"""

from __future__ import annotations

import os
from typing import Any

from ._version import __version__
from .lazy import lazy_exports

# public name -> module that defines it (relative to this package)
_API: dict[str, str] = {
    "DebiasModule": "api",
    "attach_frozen": "api",
    "evaluate_predictions": "api",
    "learn_module": "api",
    "load_module": "api",
    "task_splits": "api",
    "UpstreamConfig": "upstream",
    "UpstreamResult": "upstream",
    "train_upstream": "upstream",
    "DownstreamConfig": "downstream",
    "DownstreamResult": "downstream",
    "train_downstream": "downstream",
    "load_classifier": "downstream",
    "IntrinsicConfig": "intrinsic",
    "evaluate_intrinsic": "intrinsic",
    "load_debiased_lm": "upstream",
    "MetricOptions": "metrics",
    "compute_metrics": "metrics",
    "read_predictions": "metrics",
    "ExperimentConfig": "experiments",
    "load_config": "experiments",
    "run_experiment": "experiments",
    "write_report": "experiments",
    "quickstart": "experiments",
    "QuickstartSizes": "experiments",
}

__getattr__, __dir__, _EXPORTS = lazy_exports(__name__, globals(), _API)
__all__ = [*_EXPORTS, "__version__", "report", "run"]


def run(config: str | os.PathLike, output: str | os.PathLike, data_dir: str | None = None) -> Any:
    """Run (or resume) the experiment grid of the YAML file ``config`` into ``output``, as
    ``peftdebias run CONFIG --output DIR``; returns a ``RunResult`` (``.ok``, ``.counts``,
    ``.manifest``)."""
    from .experiments import load_config, run_experiment

    loaded = load_config(config, {"data_dir": data_dir})
    return run_experiment(loaded, output, config_file=str(config))


def report(
    run_dir: str | os.PathLike, output: str | os.PathLike | None = None, module: str | None = None
) -> Any:
    """Write ``report.md``, CSV tables and PNG plots for ``run_dir``, as ``peftdebias report
    DIR``; returns a ``Report`` (``.markdown``, ``.files``)."""
    from .experiments import write_report

    return write_report(run_dir, output, module)
