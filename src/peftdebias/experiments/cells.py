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

from ..intrinsic.results import IntrinsicCellFile
from ..metrics.results import MetricsFile
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


Module = tuple[str, dict[str, Any]]  # (module id, its upstream cell's params)


def plan(config: ExperimentConfig) -> list[Cell]:
    """Every cell of ``config`` in a valid run order (each after the cells it needs).

    ``order: seed`` (default): upstream, then intrinsic (Table 1), then downstream one seed at
    a time over every task and start, so that a grid stopped part-way has every Table 2 row
    at fewer seeds rather than some tasks missing. ``order: module``: see :func:`by_module`.
    """
    upstream = upstream_cells(config)
    modules = [(cell.id.removeprefix("upstream/"), cell.params) for cell in upstream]
    cells = [*upstream, *intrinsic_cells(config, modules), *downstream_cells(config, modules)]
    if config.order == "module":
        cells = by_module(cells)
    for cell in cells:  # every id becomes a folder under the run folder
        check_relative_id(cell.id, f"cell {cell.id}")
    return cells


def by_module(cells: list[Cell]) -> list[Cell]:
    """Reorder for grids that span sessions whose module weights do not survive: the cells
    needing no module (the base model's intrinsic cells, then FT), then each upstream module
    followed at once by every cell that needs it, then the other baselines. A session that
    stops loses at most the weights of the module in progress (upstream cells whose results
    are committed are trained again only when a cell that needs them is still to run)."""
    upstream = [c for c in cells if c.kind == "upstream"]
    needing = {c.id: [d for d in cells if c.id in d.needs] for c in upstream}
    free = [c for c in cells if c.kind != "upstream" and not c.needs]
    first = [c for c in free if c.kind == "intrinsic" or c.params.get("start") == "ft"]
    groups = [cell for up in upstream for cell in (up, *needing[up.id])]
    return [*first, *groups, *(c for c in free if c not in first)]


def upstream_cells(config: ExperimentConfig) -> list[Cell]:
    """One cell per (module, method, upstream seed)."""
    up = config.upstream
    if up is None:
        return []
    cells = []
    for module in up.modules:
        for method in module.methods or up.methods:
            options = {**up.options, **up.method_overrides.get(method, {}), **module.options}
            for seed in config.upstream_seeds:
                params = {
                    "method": method, "axis": module.axis, "corpus": module.corpus,
                    "corpus_split": module.corpus_split, "module": module.label, "seed": seed,
                    "model": config.model, "preset": up.preset, "options": options,
                    "method_options": up.method_options.get(method, {}),
                }  # fmt: skip
                cells.append(Cell(f"upstream/{module_id(method, module.label, seed)}",
                                  "upstream", params))  # fmt: skip
    return cells


def intrinsic_cells(config: ExperimentConfig, modules: list[Module]) -> list[Cell]:
    """The base model (and, per module group, its warmed-up head alone), then each module."""
    intr = config.intrinsic
    if intr is None:
        return []
    common = {"model": config.model, "benchmarks": list(intr.benchmarks),
              "options": dict(intr.options)}  # fmt: skip
    cells = []
    if intr.base_model:
        axes = sorted({p["axis"] for _, p in modules} | set(intr.bias_types))
        bias_types = sorted({intr.bias_type(a) for a in axes}) if axes else [None]
        cells.append(Cell("intrinsic/base", "intrinsic",
                          {**common, "method": "base", "bias_types": bias_types}))  # fmt: skip
        # the base model with the MLM head warmed up for each module group (no module):
        # the reference row of those modules when the model ships without a trained head
        heads: dict[str, Module] = {}
        for mid, up in modules:
            if up["method"] != "full":
                heads.setdefault(up["module"], (mid, up))
        for label, (mid, up) in heads.items():
            params = {**common, "method": "head", "axis": up["axis"], "module": label,
                      "seed": up["seed"], "bias_types": [intr.bias_type(up["axis"])]}  # fmt: skip
            cells.append(Cell(f"intrinsic/head-{label}", "intrinsic", params,
                              (f"upstream/{mid}",)))  # fmt: skip
    for mid, up in modules:
        params = {**common, "method": up["method"], "axis": up["axis"], "module": up["module"],
                  "module_id": mid, "seed": up["seed"],
                  "bias_types": [intr.bias_type(up["axis"])]}  # fmt: skip
        cells.append(Cell(f"intrinsic/{mid}", "intrinsic", params, (f"upstream/{mid}",)))
    return cells


def downstream_cells(config: ExperimentConfig, modules: list[Module]) -> list[Cell]:
    """Per task and seed: the baselines, then every module of the task's axis (that of the
    same upstream seed, see :func:`_module_seed`); ordered seed by seed."""
    down = config.downstream
    by_seed: dict[int, list[Cell]] = {}
    for task in down.tasks if down is not None else []:
        axis_modules = [(m, p) for m, p in modules if p["axis"] == task.axis]
        in_domain = any(slug(p["corpus"]) == slug(task.task) for _, p in axis_modules)
        common = {
            "task": task.task, "axis": task.axis,
            "role": "in-domain" if in_domain else "transfer",
            "fprd_axis": task.fprd_axis or task.axis, "model": config.model,
            "preset": down.preset, "options": {**down.options, **task.options},
        }  # fmt: skip
        prefix = f"downstream/{slug(task.task)}"
        for seed in task.seeds or config.seeds:
            cells = by_seed.setdefault(seed, [])
            for baseline in down.baselines:
                params = {**common, "start": baseline, "method": baseline, "seed": seed}
                cells.append(Cell(f"{prefix}/{baseline}/s{seed}", "downstream", params))
            for mid, up in axis_modules:
                if up["seed"] != _module_seed(config, seed):
                    continue
                start = "full_debias" if up["method"] == "full" else "debias"
                params = {**common, "start": start, "method": up["method"],
                          "module": up["module"], "module_id": mid, "seed": seed}  # fmt: skip
                cells.append(Cell(f"{prefix}/{mid}/s{seed}", "downstream", params,
                                  (f"upstream/{mid}",)))  # fmt: skip
    return [cell for seed in sorted(by_seed, key=_seed_order(config)) for cell in by_seed[seed]]


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
    metrics = MetricsFile.from_json(result.metrics, folder / "metrics.json")
    test = metrics.splits["test"].metrics.classification
    return {"test_accuracy": test.accuracy, "test_macro_f1": test.macro_f1}


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
    typed = IntrinsicCellFile.from_json(record, folder / INTRINSIC_FILE).bias_types
    return {f"crows_{b}": r.crows.metric for b, r in typed.items() if r.crows is not None}
