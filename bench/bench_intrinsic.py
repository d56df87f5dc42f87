"""Fast (batched) vs slow (one forward pass per masked token) intrinsic scoring, same model.

Default model: ``minilm-raw`` (MiniLM as published) with its random masked-LM head, which
``load_masked_lm`` initialises from seed 0 (as the bias-bench reference run; the scoring paths
are compared, not the scores). For CrowS-Pairs gender and race-color, StereoSet
intrasentence on ``stereoset/dev.json`` and SEAT weat6/7/8: wall and CPU seconds, forward
calls, the scores of both paths, whether they are identical, and the largest difference of
the per-mask values (log-probabilities; probabilities for StereoSet; encodings for SEAT).
The machine's load average is recorded: other processes share its cores. Writes
``bench/results/intrinsic.json`` and prints it.

    python bench/bench_intrinsic.py [--data-dir ../shared/data] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from peftdebias.data.registry import load
from peftdebias.intrinsic import (
    BatchedScorer,
    CrowSPairsRunner,
    SEATRunner,
    SequentialScorer,
    StereoSetRunner,
)
from peftdebias.io import write_json
from peftdebias.models import load_masked_lm, load_tokenizer


class Recording:
    """Wraps a scorer and keeps the values it returned."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.values = np.empty(0)

    @property
    def forward_calls(self) -> int:
        return self.scorer.forward_calls

    def score(self, queries, kind="log_prob"):
        self.values = self.scorer.score(queries, kind)
        return self.values


def timed(run):
    wall, cpu = time.perf_counter(), time.process_time()
    output = run()
    return output, round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def compare(name, make_runner, data, model, tokenizer, batch_size, summary) -> dict:
    paths = {}
    for path, scorer in (
        ("fast", BatchedScorer(model, tokenizer, batch_size)),
        ("slow", SequentialScorer(model, tokenizer)),
    ):
        recording = Recording(scorer)
        result, wall, cpu = timed(lambda r=recording: make_runner(r)(*data))
        paths[path] = {
            "seconds": wall,
            "cpu_seconds": cpu,
            "forward_calls": scorer.forward_calls,
            "scores": summary(result),
            "_values": recording.values,
            "_details": result.get("pairs", result.get("items")),
        }
        print(name, path, wall, "s", scorer.forward_calls, "calls", summary(result), flush=True)
    fast, slow = paths["fast"], paths["slow"]
    out = {
        "fast": {k: v for k, v in fast.items() if not k.startswith("_")},
        "slow": {k: v for k, v in slow.items() if not k.startswith("_")},
        "identical_scores": fast["_details"] == slow["_details"],
        "max_abs_value_diff": float(np.abs(fast["_values"] - slow["_values"]).max()),
        "speedup_wall": round(slow["seconds"] / fast["seconds"], 2),
        "speedup_cpu": round(slow["cpu_seconds"] / fast["cpu_seconds"], 2),
    }
    return out


def crows_summary(result: dict) -> dict:
    keys = ("metric", "stereotype_score", "antistereotype_score", "n", "neutral")
    return {key: result[key] for key in keys}


def bench_seat(model, tokenizer, data_dir, batch_size) -> dict:
    tests = {name: load("seat", name, data_dir) for name in ("weat6", "weat7", "weat8")}
    paths = {}
    for path, size in (("fast", batch_size), ("slow", 1)):
        runner = SEATRunner(model, tokenizer, batch_size=size)
        result, wall, cpu = timed(lambda r=runner: r(tests))
        paths[path] = {
            "seconds": wall,
            "cpu_seconds": cpu,
            "forward_calls": runner.encoder.forward_calls,
            "scores": {
                row["test"]: {"effect_size": row["effect_size"], "p_value": row["p_value"]}
                for row in result
            },
        }
        print("seat", path, wall, "s", runner.encoder.forward_calls, "calls", flush=True)
    return {
        **paths,
        "identical_scores": paths["fast"]["scores"] == paths["slow"]["scores"],
        "speedup_wall": round(paths["slow"]["seconds"] / paths["fast"]["seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "intrinsic.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, missing = load_masked_lm("minilm-raw")
    tokenizer = load_tokenizer("minilm-raw")
    crows = load("crows-pairs", "test", args.data_dir)
    results = {
        "model": "minilm-raw (random MLM head, seed 0)",
        "missing_head_keys": len(missing),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "load_average_before": os.getloadavg(),
    }
    for bias_type in ("gender", "race-color"):
        results[f"crows_{bias_type}"] = compare(
            f"crows {bias_type}",
            lambda scorer: CrowSPairsRunner(model, tokenizer, scorer=scorer),
            (crows, bias_type),
            model,
            tokenizer,
            args.batch_size,
            crows_summary,
        )
    results["stereoset_dev"] = compare(
        "stereoset dev",
        lambda scorer: StereoSetRunner(model, tokenizer, scorer=scorer),
        (load("stereoset", "dev", args.data_dir),),
        model,
        tokenizer,
        args.batch_size,
        lambda result: result["overall"],
    )
    results["seat_weat6_7_8"] = bench_seat(model, tokenizer, args.data_dir, args.batch_size)
    results["load_average_after"] = os.getloadavg()
    write_json(args.output, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
