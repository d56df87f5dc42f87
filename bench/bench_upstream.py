"""Upstream cost per method on the default model: seconds per step, peak RSS, trainable %.

Each method runs in its own subprocess (so peak RSS is the method's own), with the same
batch (16 texts of GHC, max length 64) and the masked-LM objective; the full-vocabulary
logit path is timed too for LoRA and Full-Debias, to show what computing logits only at
masked positions saves. Writes bench/results/upstream.json.

    python bench/bench_upstream.py [--steps 5] [--batch 16] [--length 64] [--data-dir D]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "upstream.json"


def measure(
    method: str, steps: int, batch: int, length: int, data_dir: str, sparse: bool, threads: int
) -> dict:
    import torch

    torch.set_num_threads(threads)
    from peftdebias.data import load_text_corpus
    from peftdebias.methods import count_parameters, get_method
    from peftdebias.models import load_masked_lm, load_tokenizer
    from peftdebias.training.masking import TextMaskingCollator
    from peftdebias.training.objectives import masked_lm_loss

    torch.manual_seed(0)
    texts = load_text_corpus("ghc", data_dir=data_dir)[: batch * (steps + 1)]
    tokenizer = load_tokenizer("minilm")
    model, _ = load_masked_lm("minilm")
    collate = TextMaskingCollator(tokenizer, max_length=length)
    batches = [
        collate([{"text": t} for t in texts[i * batch : (i + 1) * batch]]) for i in range(steps + 1)
    ]
    selected = get_method(method)

    def train_fn(m):  # sparse fine-tuning's calibration: two full steps (cost not timed)
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
        for b in batches[:2]:
            masked_lm_loss(m, b).loss.backward()
            opt.step()
            opt.zero_grad()

    if selected.requires_calibration:
        selected.calibrate(model, train_fn)
    model = selected.attach(model)
    trainable, total, percent = count_parameters(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times = []
    for b in batches:
        start = time.perf_counter()
        loss = masked_lm_loss(model, b).loss if sparse else model(**b).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    steady = times[1:]  # the first step pays one-off allocation costs
    return {
        "method": method,
        "logits": "masked-only" if sparse else "all-positions",
        "seconds_per_step": sum(steady) / len(steady),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_percent": percent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument(
        "--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per run (1: comparable timings even on a shared machine)",
    )
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "LOGITS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        row = measure(
            args.one[0],
            args.steps,
            args.batch,
            args.length,
            args.data_dir,
            args.one[1] == "masked-only",
            args.threads,
        )
        print(json.dumps(row))
        return
    from peftdebias.methods import METHODS

    runs = [(m, "masked-only") for m in METHODS] + [
        ("lora", "all-positions"),
        ("full", "all-positions"),
    ]
    rows = []
    for method, logits in runs:
        command = [sys.executable, __file__, "--one", method, logits, "--steps", str(args.steps),
                   "--batch", str(args.batch), "--length", str(args.length),
                   "--data-dir", args.data_dir, "--threads", str(args.threads)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    full = next(r for r in rows if r["method"] == "full" and r["logits"] == "masked-only")
    for row in rows:
        row["speedup_vs_full"] = full["seconds_per_step"] / row["seconds_per_step"]
        row["rss_vs_full"] = row["peak_rss_mib"] / full["peak_rss_mib"]
    result = {
        "setup": {
            "model": "minilm",
            "batch": args.batch,
            "max_length": args.length,
            "steps_timed": args.steps,
            "objective": "mlm",
            "torch_threads_per_run": args.threads,
        },
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
