"""Light-PEFT's intrinsic scores taken apart: how much comes from pruning, how much from the
module (issue 16). Writes bench/results/lightpeft-intrinsic.json.

A Light-PEFT module runs in the model it was trained in, whose heads and feed-forward
dimensions it pruned, so its CrowS-Pairs / StereoSet scores mix two effects. For each module
folder (``--module``, repeatable; the bias type is the module's axis) this scores, with the
same benchmarks and settings as the experiment grid's intrinsic cells:

- ``base``: the default model;
- ``pruned``: the default model pruned as the module records, no module;
- ``pruned+module``: what loading the module gives (the grid's row);
- ``whole+module``: the unpruned model with the module's LoRA (``lightpeft.unprune``);

and, for each variant, the change of the distance from 50 (SS, CrowS) against ``base``, and of
``pruned+module`` against ``pruned`` (the module's own effect), paired over the items both
score with a percentile bootstrap (the report's efficacy table; positive: closer to 50).

    python bench/bench_lightpeft_intrinsic.py --data-dir ../shared/data \
        --module runs/neighbourhood/upstream/lightpeft-race-ghc-s42 [--module ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "lightpeft-intrinsic.json"
BENCHMARKS, IDEAL, MODEL = ("crows", "stereoset"), 50.0, "minilm"
# (variant, reference): the paired distance changes reported
PAIRS = [
    ("pruned", "base"),
    ("pruned+module", "base"),
    ("whole+module", "base"),
    ("pruned+module", "pruned"),
]


def variants(folder: Path) -> dict:
    """Variant name -> its masked LM (built lazily, one at a time)."""
    from peftdebias.methods import load_module, read_module_config
    from peftdebias.methods.lightpeft import PruningPlan, prune, unprune
    from peftdebias.models import load_masked_lm

    plan = PruningPlan.from_record(read_module_config(folder)["backend"]["pruning"], folder)
    return {
        "base": lambda: load_masked_lm(MODEL)[0],
        "pruned": lambda: prune(load_masked_lm(MODEL)[0], plan),
        "pruned+module": lambda: load_module(load_masked_lm(MODEL)[0], folder),
        "whole+module": lambda: unprune(load_module(load_masked_lm(MODEL)[0], folder)),
    }


def score(model, tokenizer, bias_type: str, work: Path, args: argparse.Namespace):
    """The variant's scored cell: summary plus per-item score files in ``work`` (the files
    :func:`~peftdebias.experiments.efficacy.item_difference` pairs)."""
    from peftdebias.intrinsic import IntrinsicConfig, evaluate_intrinsic
    from peftdebias.intrinsic.registry import ScoredCell
    from peftdebias.intrinsic.results import IntrinsicResult
    from peftdebias.io import write_jsonl

    config = IntrinsicConfig(benchmarks=BENCHMARKS, bias_type=bias_type, batch_size=64, seed=42)
    result = evaluate_intrinsic(model, tokenizer, config, args.data_dir)
    work.mkdir(parents=True, exist_ok=True)
    for name, rows in result.pop("details").items():
        write_jsonl(work / f"{name}-{bias_type}_scores.jsonl", rows)
    return ScoredCell(work, bias_type, IntrinsicResult.from_json(result))


def summary(cell) -> dict[str, float]:
    """CrowS metric, StereoSet SS and LMS of a scored cell."""
    stereoset = cell.result.stereoset.overall
    return {"crows": cell.result.crows.metric, "ss": stereoset.ss, "lms": stereoset.lms}


def measure(folder: Path, work: Path, args: argparse.Namespace) -> dict:
    from peftdebias.experiments.efficacy import item_difference
    from peftdebias.experiments.records import ModuleRecord
    from peftdebias.models import load_tokenizer

    (bias_type,) = ModuleRecord.load(folder / "debias.json").axes
    tokenizer = load_tokenizer(MODEL)
    cells = {
        name: score(build(), tokenizer, bias_type, work / bias_type / name, args)
        for name, build in variants(folder).items()
    }
    changes = {}
    for variant, reference in PAIRS:
        for benchmark in BENCHMARKS:
            d = item_difference(cells[reference], cells[variant], benchmark, IDEAL)
            # item_difference gives d_variant - d_reference; "removed" is its negative
            changes[f"{variant} vs {reference}: {benchmark}"] = [-d.estimate, -d.high, -d.low]
    return {
        "module": str(folder),
        "bias_type": bias_type,
        "scores": {name: summary(cell) for name, cell in cells.items()},
        "distance_removed": changes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("PEFTDEBIAS_DATA_DIR"))
    parser.add_argument("--module", action="append", required=True, help="Light-PEFT folder")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(Path(m), Path(tmp) / str(i), args) for i, m in enumerate(args.module)]
    result = {
        "model": MODEL,
        "benchmarks": list(BENCHMARKS),
        "note": "distance_removed: [estimate, low, high] of |score - 50| (reference) minus "
        "|score - 50| (variant), paired bootstrap over items; positive: closer to 50",
        "modules": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
