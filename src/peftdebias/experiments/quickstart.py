"""``peftdebias quickstart``: a small but complete PEFTDebias experiment on the default model.

A LoRA module for the ``group`` axis (race, religion, sexuality; the PEFTDebias hate-speech
word list) is learned with CDA + masked LM on GHC posts; GHC is then fine-tuned with the
module frozen and, as the baseline, without it (FT); the report gives macro-F1, FPRD over
identity terms on GHC test, FPRD on IPTTS, and CrowS-Pairs (race) for the model with and
without the module. It is a built-in experiment config run by the same runner and report as
``peftdebias run``, sized (:class:`QuickstartSizes`) to stay well inside 15 minutes on a
2-core CPU (90 s measured on idle cores).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from .config import ExperimentConfig, from_dict

if TYPE_CHECKING:
    from .report import Report

# (data set, split) the quickstart reads
REQUIRED: tuple[tuple[str, str], ...] = (
    ("ghc", "train"),
    ("ghc", "dev"),
    ("ghc", "test"),
    ("iptts", "test"),
    ("crows-pairs", "test"),
)
DEFAULT_OUTPUT = "peftdebias-quickstart"


@dataclass(frozen=True)
class QuickstartSizes:
    """How much the quickstart trains and evaluates (defaults: ~1.5 min on 2 idle CPU cores)."""

    corpus_texts: int = 4000  # GHC training posts the module learns from (before CDA)
    head_warmup_steps: int = 30  # only for a model without a trained MLM head (minilm-raw)
    upstream_steps: int = 30  # LoRA training steps
    upstream_batch: int = 16
    train_examples: int = 800  # GHC posts for fine-tuning (batch 16)
    epochs: float = 2.0  # 1 epoch at 5e-5 leaves the restored MiniLM predicting one class
    learning_rate: float = 1e-4
    eval_examples: int = 500  # GHC dev / test posts evaluated
    iptts_examples: int = 2000  # IPTTS rows evaluated (seeded sample of 76,564)
    max_length: int = 64
    seed: int = 42

    def describe(self) -> str:
        return (
            f"upstream: LoRA, {self.upstream_steps} steps x batch {self.upstream_batch} on the "
            f"first {self.corpus_texts} GHC train posts after CDA (MLM-head warm-up "
            f"{self.head_warmup_steps} steps if the model has no trained head); downstream: "
            f"{self.train_examples} GHC train posts, {self.epochs:g} epochs at "
            f"{self.learning_rate:g}; {self.eval_examples} dev / {self.eval_examples} test posts; "
            f"{self.iptts_examples} IPTTS sentences; CrowS-Pairs race (516 pairs); max length "
            f"{self.max_length} tokens; seed "
            f"{self.seed}"
        )


def quickstart_config(
    model: str = "minilm", data_dir: str | None = None, sizes: QuickstartSizes | None = None
) -> ExperimentConfig:
    """The built-in experiment config of the quickstart."""
    s = sizes or QuickstartSizes()
    return from_dict(
        {
            "name": "quickstart",
            "model": model,
            "data_dir": data_dir,
            "seeds": [s.seed],
            "upstream": {
                "methods": ["lora"],
                "modules": [{"axis": "group", "corpus": "ghc"}],
                "preset": "quick",
                "options": {
                    "max_texts": s.corpus_texts,
                    "max_steps": s.upstream_steps,
                    "eval_steps": max(1, s.upstream_steps // 2),
                    "head_warmup_steps": s.head_warmup_steps,
                    "batch_size": s.upstream_batch,
                    "max_length": s.max_length,
                },
            },
            "downstream": {
                "tasks": [{"task": "ghc", "axis": "group"}],
                "baselines": ["ft"],
                "preset": "quick",
                "options": {
                    "epochs": s.epochs,
                    "learning_rate": s.learning_rate,
                    "batch_size": 16,
                    "max_length": s.max_length,
                    "max_train_examples": s.train_examples,
                    "max_eval_examples": s.eval_examples,
                    "max_iptts_examples": s.iptts_examples,
                },
            },
            "intrinsic": {
                "benchmarks": ["crows"],
                "bias_types": {"group": "race"},
                "base_model": True,
            },
        },
        source="quickstart",
    )


def find_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir`` if given, else ``$PEFTDEBIAS_DATA_DIR``, else ``./shared/data`` or
    ``../shared/data`` when present, else None (download cache / network)."""
    from ..data import resolve_data_dir

    given = resolve_data_dir(data_dir)
    if given is not None:
        return given
    for candidate in (Path("shared/data"), Path("../shared/data")):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def check_data(data_dir: Path | None) -> None:
    """Make sure every file of :data:`REQUIRED` is local, downloading what is missing when
    online; otherwise raise one DataError listing each missing file and where to get it."""
    from ..data import get_source, locate

    problems = []
    for name, split in REQUIRED:
        try:
            locate(get_source(name), split, data_dir)
        except DataError as exc:
            problems.append(f"  - {exc}")
    if problems:
        where = f"data directory {data_dir}" if data_dir else "no data directory found"
        raise DataError(
            f"the quickstart needs these files ({where}; downloads failed or are not "
            "available):\n" + "\n".join(problems) + "\nPut them in a directory laid out like "
            "shared/data (ghc/, iptts/, crows_pairs/) and pass --data-dir DIR "
            "(see 'peftdebias data list')."
        )


@dataclass
class QuickstartResult:
    output: Path
    table: str
    report: Path
    plots: list[Path]
    sizes: QuickstartSizes
    failed: dict[str, str | None]  # unfinished cell -> error

    @property
    def ok(self) -> bool:
        return not self.failed


def quickstart(
    data_dir: str | os.PathLike | None = None,
    output: str | os.PathLike = DEFAULT_OUTPUT,
    model: str = "minilm",
    sizes: QuickstartSizes | None = None,
) -> QuickstartResult:
    """Run the quickstart experiment into ``output`` (re-running resumes) and write its report.

    >>> result = quickstart(data_dir="../shared/data")   # doctest: +SKIP
    >>> print(result.table)                               # doctest: +SKIP
    """
    from .report import write_report
    from .runner import run_experiment

    sizes = sizes or QuickstartSizes()
    found = find_data_dir(data_dir)
    check_data(found)
    config = quickstart_config(model, str(found) if found else None, sizes)
    result = run_experiment(config, output)
    report = write_report(output)
    failed = {
        cid: c.get("error") for cid, c in result.manifest["cells"].items()
        if c["status"] != "finished"
    }  # fmt: skip
    plots = [path for path, _ in report.plots]
    return QuickstartResult(
        Path(output), results_tables(report), report.files[0], plots, sizes, failed
    )


def results_tables(report: Report) -> str:
    """Table 2 (extrinsic) and Table 1 (intrinsic) of ``report`` in markdown, as the
    quickstart and ``peftdebias run`` print them at the end."""
    from .report import table1, table2

    t2, _, _ = table2(report.collected)
    t1, _ = table1(report.collected)
    return "\n".join([*t2, "", *t1]).strip()
