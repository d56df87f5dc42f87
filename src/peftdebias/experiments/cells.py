"""The cells of an experiment grid and how to run one.

A cell is one upstream, downstream or intrinsic run, identified by a deterministic path built
from its parameters (``upstream/lora-group-ghc-s42``, ``downstream/ghc/lora-group-ghc-s42/s42``,
``downstream/ghc/ft/s42``, ``intrinsic/lora-group-ghc-s42``, ``intrinsic/base``). Each runs
through the public phase APIs (:func:`~peftdebias.upstream.train_upstream`,
:func:`~peftdebias.downstream.train_downstream`, :func:`evaluate_intrinsic`) into its own
empty folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..validation import check_relative_id
from .config import BASELINES, ExperimentConfig, slug

INTRINSIC_FILE = "intrinsic.json"


@dataclass(frozen=True)
class Cell:
    """One run of the grid. ``params`` fully determine its result (``data_dir`` aside)."""

    id: str
    kind: str  # upstream | downstream | intrinsic
    params: dict[str, Any]
    needs: tuple[str, ...] = field(default=())

    @property
    def params_hash(self) -> str:
        canonical = json.dumps(self.params, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def module_id(method: str, label: str, seed: int) -> str:
    return f"{method}-{label}-s{seed}"


def plan(config: ExperimentConfig) -> list[Cell]:
    """Every cell of ``config`` in a valid run order (each after the cells it needs).

    Upstream, then intrinsic (Table 1), then downstream one seed at a time over every task
    and start, so that a grid stopped part-way has every Table 2 row at fewer seeds rather
    than some tasks missing.
    """
    cells: list[Cell] = []
    modules: list[tuple[str, dict[str, Any]]] = []  # (module id, its upstream params)
    up = config.upstream
    if up is not None:
        for module in up.modules:
            for method in module.methods or up.methods:
                for seed in config.upstream_seeds:
                    params = {
                        "method": method,
                        "axis": module.axis,
                        "corpus": module.corpus,
                        "corpus_split": module.corpus_split,
                        "module": module.label,
                        "seed": seed,
                        "model": config.model,
                        "preset": up.preset,
                        "options": {
                            **up.options,
                            **up.method_overrides.get(method, {}),
                            **module.options,
                        },
                        "method_options": up.method_options.get(method, {}),
                    }
                    mid = module_id(method, module.label, seed)
                    modules.append((mid, params))
                    cells.append(Cell(f"upstream/{mid}", "upstream", params))
    intr = config.intrinsic
    if intr is not None:
        common = {
            "model": config.model,
            "benchmarks": list(intr.benchmarks),
            "options": dict(intr.options),
        }
        if intr.base_model:
            axes = sorted({p["axis"] for _, p in modules} | set(intr.bias_types))
            bias_types = sorted({intr.bias_type(a) for a in axes}) if axes else [None]
            params = {**common, "method": "base", "bias_types": bias_types}
            cells.append(Cell("intrinsic/base", "intrinsic", params))
            # the base model with the MLM head warmed up for each module group (no module):
            # the reference row of those modules when the model ships without a trained head
            heads: dict[str, tuple[str, dict[str, Any]]] = {}
            for mid, up_params in modules:
                if up_params["method"] != "full":
                    heads.setdefault(up_params["module"], (mid, up_params))
            for label, (mid, up_params) in heads.items():
                params = {
                    **common,
                    "method": "head",
                    "axis": up_params["axis"],
                    "module": label,
                    "seed": up_params["seed"],
                    "bias_types": [intr.bias_type(up_params["axis"])],
                }
                cells.append(
                    Cell(f"intrinsic/head-{label}", "intrinsic", params, (f"upstream/{mid}",))
                )
        for mid, up_params in modules:
            params = {
                **common,
                "method": up_params["method"],
                "axis": up_params["axis"],
                "module": up_params["module"],
                "module_id": mid,
                "seed": up_params["seed"],
                "bias_types": [intr.bias_type(up_params["axis"])],
            }
            cells.append(Cell(f"intrinsic/{mid}", "intrinsic", params, (f"upstream/{mid}",)))
    by_seed: dict[int, list[Cell]] = {}
    down = config.downstream
    if down is not None:
        for task in down.tasks:
            axis_modules = [(m, p) for m, p in modules if p["axis"] == task.axis]
            in_domain = any(slug(p["corpus"]) == slug(task.task) for _, p in axis_modules)
            common = {
                "task": task.task,
                "axis": task.axis,
                "role": "in-domain" if in_domain else "transfer",
                "fprd_axis": task.fprd_axis or task.axis,
                "model": config.model,
                "preset": down.preset,
                "options": {**down.options, **task.options},
            }
            for seed in task.seeds or config.seeds:
                for baseline in down.baselines:
                    params = {**common, "start": baseline, "method": baseline, "seed": seed}
                    cell_id = f"downstream/{slug(task.task)}/{baseline}/s{seed}"
                    by_seed.setdefault(seed, []).append(Cell(cell_id, "downstream", params))
                for mid, up_params in axis_modules:
                    if up_params["seed"] != _module_seed(config, seed):
                        continue
                    params = {
                        **common,
                        "start": "full_debias" if up_params["method"] == "full" else "debias",
                        "method": up_params["method"],
                        "module": up_params["module"],
                        "module_id": mid,
                        "seed": seed,
                    }
                    by_seed.setdefault(seed, []).append(
                        Cell(
                            f"downstream/{slug(task.task)}/{mid}/s{seed}",
                            "downstream",
                            params,
                            (f"upstream/{mid}",),
                        )
                    )
    for seed in sorted(by_seed, key=_seed_order(config)):
        cells.extend(by_seed[seed])
    for cell in cells:  # every id becomes a folder under the run folder
        check_relative_id(cell.id, f"cell {cell.id}")
    return cells


def _seed_order(config: ExperimentConfig):
    """Sort key of downstream seeds: the experiment's seeds in their order, then the others
    (seeds only some tasks list) in numeric order."""
    order = {seed: i for i, seed in enumerate(config.seeds)}
    return lambda seed: (order.get(seed, len(order)), seed)


def _module_seed(config: ExperimentConfig, seed: int) -> int:
    """Downstream seed ``seed`` uses the module trained with the same seed when there is one,
    else the module of the first upstream seed."""
    seeds = config.upstream_seeds
    return seed if seed in seeds else seeds[0]


def run_cell(cell: Cell, folder: Path, root: Path, config: ExperimentConfig) -> dict[str, Any]:
    """Run ``cell`` into the empty ``folder`` (cells it needs live under ``root``); returns a
    short summary for the manifest."""
    runner = {"upstream": _upstream, "downstream": _downstream, "intrinsic": _intrinsic}
    summary = runner[cell.kind](cell, folder, root, config)
    if not config.keep.checkpoints:
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    return summary


def _upstream(cell: Cell, folder: Path, root: Path, config: ExperimentConfig) -> dict[str, Any]:
    from ..upstream import UpstreamConfig, train_upstream

    p = cell.params
    result = train_upstream(
        UpstreamConfig(
            axis=p["axis"],
            corpus=p["corpus"],
            corpus_split=p["corpus_split"],
            method=p["method"],
            output=str(folder),
            model=p["model"],
            preset=p["preset"],
            data_dir=config.data_dir,
            seed=p["seed"],
            method_options=dict(p["method_options"]),
            **p["options"],
        )
    )
    meta = result.metadata
    return {
        "heldout_loss_before": meta["heldout_before"]["loss"],
        "heldout_loss_after": meta["heldout_after"]["loss"],
        "trainable_percent": meta["trainable_percent"],
    }


def _downstream(cell: Cell, folder: Path, root: Path, config: ExperimentConfig) -> dict[str, Any]:
    from ..downstream import DownstreamConfig, train_downstream

    p = cell.params
    start: dict[str, Any] = {}
    if p["start"] in BASELINES:  # ft, cda, clp: the base model; cda/clp swap along the axis
        start["baseline"] = p["start"]
        if p["start"] != "ft" and "cda_axis" not in p["options"]:
            start["cda_axis"] = p["axis"]
    else:
        start[p["start"]] = str(root / cell.needs[0])
    fprd_axis = p["fprd_axis"]
    terms = {"fprd_terms": fprd_axis} if Path(fprd_axis).is_file() else {"fprd_axis": fprd_axis}
    result = train_downstream(
        DownstreamConfig(
            task=p["task"],
            output=str(folder),
            model=p["model"],
            preset=p["preset"],
            data_dir=config.data_dir,
            seed=p["seed"],
            **start,
            **terms,
            **p["options"],
        )
    )
    if not config.keep.models:
        shutil.rmtree(folder / "model", ignore_errors=True)
    test = result.metrics["splits"]["test"]["metrics"]["classification"]
    return {"test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"]}


def _intrinsic(cell: Cell, folder: Path, root: Path, config: ExperimentConfig) -> dict[str, Any]:
    """CrowS-Pairs / StereoSet / SEAT for each bias type of the cell, as ``peftdebias
    intrinsic`` does: the base model, the base model with a module's warmed-up head only,
    base + module, or the Full-Debias model."""
    from ..intrinsic import IntrinsicConfig, evaluate_intrinsic
    from ..io import write_json, write_jsonl
    from ..upstream import HEAD_FILE, load_debiased_lm

    p = cell.params
    module = root / cell.needs[0] if cell.needs else None
    full = module is not None and p["method"] == "full"
    head = module if p["method"] == "head" else None
    if head is not None and not (head / HEAD_FILE).is_file():
        # the base model has a trained head: this row would repeat intrinsic/base
        write_json(folder / INTRINSIC_FILE, {"model": p["model"], "head_from": None})
        return {"skipped": "the base model has a trained MLM head"}
    debias = None if full or head else module
    model, tokenizer, missing = load_debiased_lm(
        p["model"], debias=debias, full_debias=module if full else None, head_from=head
    )
    results: dict[str, Any] = {}
    for bias_type in p["bias_types"]:
        settings = IntrinsicConfig(
            benchmarks=tuple(p["benchmarks"]),
            bias_type=bias_type,
            seed=p.get("seed") or 0,
            **{k: tuple(v) if isinstance(v, list) else v for k, v in p["options"].items()},
        )
        result = evaluate_intrinsic(model, tokenizer, settings, config.data_dir, missing)
        for name, rows in result.pop("details").items():
            write_jsonl(folder / f"{name}-{bias_type or 'all'}_scores.jsonl", rows)
        results[bias_type or "all"] = result
    record = {
        "model": p["model"],
        "debias": str(debias) if debias else None,
        "full_debias": str(module) if full else None,
        "head_from": str(head) if head else None,
        "bias_types": results,
    }
    write_json(folder / INTRINSIC_FILE, record)
    summary: dict[str, Any] = {}
    for bias_type, result in results.items():
        if "crows" in result:
            summary[f"crows_{bias_type}"] = result["crows"]["metric"]
    return summary
