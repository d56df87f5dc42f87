"""``peftdebias intrinsic`` as a function: check the :class:`IntrinsicJob`'s files, load the
model it names, run the benchmarks of an :class:`IntrinsicConfig` and write
``intrinsic.json``, ``intrinsic.md`` and the per-item score files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .evaluate import IntrinsicConfig, evaluate_intrinsic, markdown_table
from .options import INTRINSIC_OUTPUTS, IntrinsicJob


@dataclass
class IntrinsicOutput:
    """What :func:`run_intrinsic` wrote: the folder, ``intrinsic.json``'s content and the
    markdown summary (``intrinsic.md``)."""

    output: Path
    result: dict[str, Any]
    table: str


def check_job(job: IntrinsicJob) -> None:
    """Every option of ``job`` naming a file or folder, before any model is loaded."""
    from ..methods.compose import check_composition
    from ..upstream import HEAD_FILE
    from ..validation import check_data_dir, check_model, check_output_dir, check_safetensors

    check_data_dir(job.data_dir)
    check_model(job.model)
    check_model(job.full_debias, "--full-debias")
    folders = [("--debias", folder) for folder in job.debias or []]
    for option, folder in (*folders, ("--head-from", job.head_from)):
        if folder and (Path(folder) / HEAD_FILE).is_file():
            check_safetensors(Path(folder) / HEAD_FILE, f"{option} MLM head")
    if len(folders) > 1:
        check_composition(job.debias, "--debias")
    check_output_dir(job.output, job.overwrite)


def run_intrinsic(job: IntrinsicJob, config: IntrinsicConfig) -> IntrinsicOutput:
    """Score the model of ``job`` on ``config``'s benchmarks; write its output folder."""
    from ..io import atomic_open, prepare_output_dir, write_json, write_jsonl
    from ..upstream import load_debiased_lm

    check_job(job)
    # --overwrite removes every file written below first (no stale benchmark scores)
    output = prepare_output_dir(job.output, job.overwrite, owned=INTRINSIC_OUTPUTS)
    model, tokenizer, missing = load_debiased_lm(
        job.model, job.debias, job.full_debias, job.head_from
    )
    result = evaluate_intrinsic(model, tokenizer, config, job.data_dir, missing)
    details = result.pop("details")
    debias = job.debias[0] if job.debias and len(job.debias) == 1 else job.debias
    result = {
        "model": job.model,
        "debias": debias or None,
        "full_debias": job.full_debias,
        "head_from": job.head_from,
        **result,
    }
    for name, rows in details.items():
        write_jsonl(output / f"{name}_scores.jsonl", rows)
    write_json(output / "intrinsic.json", result)
    table = markdown_table(result)
    with atomic_open(output / "intrinsic.md", "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    return IntrinsicOutput(output, result, table)
