"""The choices of the intrinsic benchmarks' options and :class:`IntrinsicJob`, the model that
``peftdebias intrinsic`` scores and where it writes (its options are generated from the
fields; :class:`~peftdebias.intrinsic.evaluate.IntrinsicConfig` holds what to run). A leaf
module: the benchmark runners import their choices from here."""

from __future__ import annotations

from dataclasses import dataclass

from ..fields import data_dir_option, model_option, option, output_option, overwrite_option

SCORINGS: tuple[str, ...] = ("bias-bench", "pll")  # CrowS-Pairs scorings
POOLINGS: tuple[str, ...] = ("mean", "cls")  # SEAT sentence encodings
# the files ``peftdebias intrinsic`` writes (``--overwrite`` removes these first)
INTRINSIC_OUTPUTS = (
    "intrinsic.json",
    "intrinsic.md",
    "crows_scores.jsonl",
    "stereoset_scores.jsonl",
)


@dataclass
class IntrinsicJob:
    """The model ``peftdebias intrinsic`` scores (``model``, with ``debias`` modules, or the
    ``full_debias`` model, or ``model`` with only the MLM head of ``head_from``) and the
    folder it writes ``intrinsic.json``, ``intrinsic.md`` and the per-item scores to."""

    output: str = output_option()
    model: str = model_option()
    debias: list[str] | None = option(
        None,
        metavar="DIR",
        repeat=True,
        help="debiasing module folder to attach to --model; repeat to compose several",
    )
    full_debias: str | None = option(
        None,
        metavar="DIR",
        help="fully fine-tuned (Full-Debias) model folder, evaluated instead of --model",
    )
    head_from: str | None = option(
        None,
        metavar="DIR",
        help="load only the MLM head warmed up in this upstream module folder onto --model "
        "(the no-module reference for a model shipped without a trained head)",
    )
    data_dir: str | None = data_dir_option()
    overwrite: bool = overwrite_option()
