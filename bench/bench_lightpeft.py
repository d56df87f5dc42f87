"""Light-PEFT vs LoRA upstream on the default model: seconds per step, trainable %, held-out
MLM loss, fraction pruned. Writes bench/results/lightpeft.json.

Both methods run the upstream phase (``peftdebias upstream --axis group --corpus ghc``, batch
16, length 64, the same ``--max-steps``); Light-PEFT first spends its ``estimation_steps`` on
the whole model (LoRA + masks), then trains the pruned model for ``--max-steps``. Seconds per
step are timed apart on the same batches (masked-LM loss, AdamW), rounds alternating between
LoRA, Light-PEFT's estimation phase and its pruned phase (the machine is shared), one torch
thread for everything. The trained Light-PEFT module is evaluated in the pruned model it was
trained in (what loading it does) and in the whole model (``unprune``), on GHC test texts
masked once with a fixed seed, beside the base model, the pruned base model and LoRA.

    python bench/bench_lightpeft.py [--max-steps 200] [--timed-steps 5] [--data-dir D]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "lightpeft.json"
MODEL, BATCH, LENGTH = "minilm", 16, 64
NOTE = (
    "upstream.*.run_seconds: wall clock of each whole run on a shared 2-core machine whose "
    "load changed between the runs, not comparable; seconds_per_step is timed with rounds "
    "alternating between the models on the same batches"
)


def upstream(method: str, output: Path, args: argparse.Namespace) -> dict:
    """One upstream run; the numbers of its ``debias.json`` this bench reports."""
    from peftdebias.experiments.records import ModuleRecord
    from peftdebias.upstream import UpstreamConfig, train_upstream

    config = UpstreamConfig(
        axis="group", corpus="ghc", method=method, output=str(output), model=MODEL,
        data_dir=args.data_dir, max_steps=args.max_steps, batch_size=BATCH, max_length=LENGTH,
    )  # fmt: skip
    meta = ModuleRecord.from_json(train_upstream(config).metadata, output / "debias.json")
    return {
        "trainable_parameters": meta.trainable_parameters,
        "total_parameters": meta.total_parameters,
        "trainable_percent": meta.trainable_percent,
        "heldout_before": meta.heldout_before.to_json(),
        "heldout_after": meta.heldout_after.to_json(),
        "best_heldout_loss": meta.training.best_heldout_loss,
        "steps": meta.training.steps,
        "run_seconds": meta.training.seconds,
    }


def time_steps(folders: dict[str, Path], args: argparse.Namespace) -> dict[str, float]:
    """Median seconds per training step of LoRA, Light-PEFT's estimation and pruned phases."""
    from peftdebias.data import load_text_corpus
    from peftdebias.methods import get_method, load_module
    from peftdebias.models import load_masked_lm, load_tokenizer
    from peftdebias.training.masking import TextMaskingCollator
    from peftdebias.training.objectives import masked_lm_loss

    tokenizer = load_tokenizer(MODEL)
    texts = load_text_corpus("ghc", data_dir=args.data_dir)[: BATCH * (args.timed_steps + 1)]
    collate = TextMaskingCollator(tokenizer, max_length=LENGTH)
    torch.manual_seed(0)
    batches = [
        collate([{"text": t} for t in texts[i * BATCH : (i + 1) * BATCH]])
        for i in range(args.timed_steps + 1)
    ]
    trained = {
        name: load_module(load_masked_lm(MODEL)[0], folder, trainable=True)
        for name, folder in folders.items()
    }
    times: dict[str, list[float]] = {"lora": [], "lightpeft_estimation": [], "lightpeft": []}

    def step(model, optimizer, batch) -> float:
        start = time.perf_counter()
        masked_lm_loss(model, batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - start

    def rounds(estimating) -> None:  # the estimation phase's train_fn
        models = {"lora": trained["lora"], "lightpeft_estimation": estimating}
        models["lightpeft"] = trained["lightpeft"]
        optimizers = {
            name: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
            for name, m in models.items()
        }
        for batch in batches:
            for name, model in models.items():
                model.train()
                times[name].append(step(model, optimizers[name], batch))

    get_method("lightpeft").calibrate(load_masked_lm(MODEL)[0], rounds)
    return {name: statistics.median(t[1:]) for name, t in times.items()}  # 1st: warm-up


def heldout(folders: dict[str, Path], args: argparse.Namespace) -> dict[str, dict]:
    """Masked-LM loss and accuracy on GHC test texts of every variant."""
    from peftdebias.data import load_text_corpus
    from peftdebias.methods import load_module, read_module_config
    from peftdebias.methods.lightpeft import PruningPlan, prune, unprune
    from peftdebias.models import load_masked_lm, load_tokenizer
    from peftdebias.training.masking import premask
    from peftdebias.training.trainer import evaluate_mlm

    tokenizer = load_tokenizer(MODEL)
    texts = load_text_corpus("ghc", data_dir=args.data_dir, split="test")[: args.eval_texts]
    rows = premask(tokenizer, texts, LENGTH, seed=0)

    def score(model) -> dict:
        return evaluate_mlm(model, rows, tokenizer.pad_token_id)

    folder = folders["lightpeft"]
    plan = PruningPlan.from_record(read_module_config(folder)["backend"]["pruning"], folder)
    pruned_lm = load_module(load_masked_lm(MODEL)[0], folder)
    return {
        "base": score(load_masked_lm(MODEL)[0]),
        "base_pruned_no_module": score(prune(load_masked_lm(MODEL)[0], plan)),
        "lora": score(load_module(load_masked_lm(MODEL)[0], folders["lora"])),
        "lightpeft_pruned_model": score(pruned_lm),  # (b), what loading gives
        "lightpeft_whole_model": score(unprune(pruned_lm)),  # (a)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--timed-steps", type=int, default=5)
    parser.add_argument("--eval-texts", type=int, default=256)
    parser.add_argument(
        "--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    from peftdebias.methods import get_method

    with tempfile.TemporaryDirectory(prefix="bench-lightpeft-") as tmp:
        folders = {name: Path(tmp) / name for name in ("lora", "lightpeft")}
        runs = {name: upstream(name, folder, args) for name, folder in folders.items()}
        record = json.loads((folders["lightpeft"] / "module.json").read_text())
        runs["lightpeft"]["config"] = record["config"]
        runs["lightpeft"]["pruning"] = record["backend"]["pruning"]["pruned"]
        speed = time_steps(folders, args)
        losses = heldout(folders, args)
    estimation = get_method("lightpeft").calibration_steps
    lora_run = args.max_steps * speed["lora"]
    light_run = estimation * speed["lightpeft_estimation"] + args.max_steps * speed["lightpeft"]
    result = {
        "setup": {
            "model": MODEL,
            "axis": "group",
            "corpus": "ghc",
            "batch": BATCH,
            "max_length": LENGTH,
            "max_steps": args.max_steps,
            "estimation_steps": estimation,
            "timed_steps": args.timed_steps,
            "eval_texts": args.eval_texts,
            "torch_threads": 1,
            "objective": "mlm",
            "note": NOTE,
        },
        "upstream": runs,
        "seconds_per_step": {
            **speed,
            "speedup_pruned_vs_lora": speed["lora"] / speed["lightpeft"],
            "speedup_whole_run_vs_lora": lora_run / light_run,
        },
        "heldout_ghc_test": losses,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
