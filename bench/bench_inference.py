"""Inference benchmark (issue 13, part 1): IPTTS scoring and a full GHC test + IPTTS
evaluation, before and after the fast inference path, plus bf16-vs-fp32 agreement.

- **before**: the inference code of commit d335c90 (``old_predict`` below, verbatim:
  tokenized once, length-sorted, but batches of 64 padded by ``tokenizer.pad``, under
  ``torch.no_grad``), then the same predictions file and metrics;
- **after**: :func:`peftdebias.downstream.predict` (token-capped length batches of up to 256
  rows padded in numpy, ``torch.inference_mode``) in fp32 and in bf16 autocast, and
  :func:`peftdebias.downstream.evaluate_datasets` (which also bootstraps the 95 % intervals).

Timings use the default model (``--model minilm``, loaded with
``peftdebias.models.load_sequence_classifier``; its classification head is untrained, which
does not change the cost). Agreement of bf16 with fp32 needs a trained classifier: pass a
downstream run's ``model/`` folder as ``--classifier``, or the script fine-tunes one on
``--train-examples`` GHC posts first (FT, 1 epoch, length 64). The variants alternate
``--repeats`` times (default 2) and the fastest run of each counts; the 1-minute load average
before and after is recorded (``under_load``: above half the cores before the run; the
average after includes the benchmark's own threads). Writes
``bench/results/inference.json``.

    python bench/bench_inference.py --data-dir ../shared/data               # idle cores
    python bench/bench_inference.py --data-dir ../shared/data --iptts-limit 5000   # quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import subprocess
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
OLD_BATCH_SIZE = 64


@torch.no_grad()
def old_predict(model, tokenizer, dataset, max_length: int, batch_size: int = OLD_BATCH_SIZE):
    """``peftdebias.downstream.predict`` as of commit d335c90 (the code path before)."""
    model.eval()
    device = next(model.parameters()).device
    texts = dataset["text"][:]
    pairs = dataset["text_pair"][:] if "text_pair" in dataset.column_names else None
    encoded = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer.pad(
            [{key: encoded[key][i] for key in encoded} for i in rows], return_tensors="pt"
        ).to(device)
        probs[rows] = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
    return probs


def old_evaluate(model, tokenizer, datasets, folder: Path, options, max_length: int) -> dict:
    """The evaluation loop of train_downstream before: predict, write, read, metrics."""
    from peftdebias.downstream import prediction_rows
    from peftdebias.metrics import compute_metrics, read_predictions
    from peftdebias.metrics.predictions import write_predictions

    results = {}
    for name, dataset in datasets.items():
        probs = old_predict(model, tokenizer, dataset, max_length)
        path = folder / f"predictions-{name}.jsonl"
        write_predictions(path, prediction_rows(dataset, probs), overwrite=True)
        results[name] = compute_metrics(read_predictions(path), options=options)
    return results


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def machine() -> dict:
    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        text = Path("/proc/cpuinfo").read_text()
        names = re.findall(r"model name\s*:\s*(.+)", text)
        cpu = names[0].strip() if names else cpu
        bf16 = "avx512_bf16" in text
    else:  # pragma: no cover
        bf16 = None
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=False,
        )
        commit = found.stdout.strip() or None
    except OSError:  # pragma: no cover
        commit = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "avx512_bf16": bf16,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "git_commit": commit,
    }


def train_classifier(args, folder: Path) -> Path:
    """A small GHC classifier (FT) for the agreement check."""
    from peftdebias.downstream import DownstreamConfig, train_downstream

    train_downstream(
        DownstreamConfig(task="ghc", output=str(folder), model=args.model, baseline="ft",
                         data_dir=args.data_dir, max_train_examples=args.train_examples,
                         max_eval_examples=500, epochs=1, batch_size=16, max_length=64,
                         iptts=False, bootstrap_resamples=0, seed=42)
    )  # fmt: skip
    return folder / "model"


def agreement(args, classifier: Path, ghc, iptts) -> dict:
    """fp32 vs bf16 on a trained classifier: argmax agreement, probabilities, F1 and FPRD."""
    from peftdebias.downstream import classifier_manifest, load_classifier, predict
    from peftdebias.metrics import axis_terms, classification_scores, fprd, iptts_fprd

    model, tokenizer = load_classifier(classifier)
    max_length = classifier_manifest(classifier).get("max_length") or args.max_length
    out = {"classifier": str(classifier), "max_length": max_length}
    for name, data in (("ghc_test", ghc), ("iptts", iptts)):
        texts, gold = data["text"][:], data["label"][:]
        probs = {p: predict(model, tokenizer, data, max_length, precision=p)
                 for p in ("fp32", "bf16")}  # fmt: skip
        pred = {p: v.argmax(1) for p, v in probs.items()}
        if name == "iptts":
            bias = {p: iptts_fprd(texts, gold, v).fprd for p, v in pred.items()}
        else:
            bias = {p: fprd(texts, gold, v, axis_terms("group")).fprd for p, v in pred.items()}
        f1 = {p: classification_scores(gold, v).macro_f1 for p, v in pred.items()}
        difference = abs(bias["fp32"] - bias["bf16"]) if None not in bias.values() else None
        out[name] = {
            "n": len(texts),
            "argmax_agreement": float((pred["fp32"] == pred["bf16"]).mean()),
            "argmax_flips": int((pred["fp32"] != pred["bf16"]).sum()),
            "max_abs_prob_diff": float(np.abs(probs["fp32"] - probs["bf16"]).max()),
            "mean_abs_prob_diff": float(np.abs(probs["fp32"] - probs["bf16"]).mean()),
            "fprd_fp32": bias["fp32"],
            "fprd_bf16": bias["bf16"],
            "fprd_abs_diff": difference,
            "macro_f1_fp32": f1["fp32"],
            "macro_f1_bf16": f1["bf16"],
        }
    out["criterion"] = "argmax agreement >= 0.999 and |FPRD(bf16) - FPRD(fp32)| <= 1e-3"
    out["bf16_agrees"] = all(
        out[name]["argmax_agreement"] >= 0.999
        and out[name]["fprd_abs_diff"] is not None
        and out[name]["fprd_abs_diff"] <= 1e-3
        for name in ("ghc_test", "iptts")
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--max-length", type=int, default=128, help="inference max length")
    parser.add_argument("--iptts-limit", type=int, help="score only a seeded IPTTS sample")
    parser.add_argument("--classifier", help="trained downstream model/ folder (agreement)")
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per variant")
    parser.add_argument("--no-agreement", dest="agreement", action="store_false")
    parser.add_argument("--output", default=str(RESULTS / "inference.json"))
    args = parser.parse_args()

    import transformers

    from peftdebias.data import load
    from peftdebias.downstream import evaluate_datasets, predict
    from peftdebias.metrics import MetricOptions, MetricWarning, axis_terms
    from peftdebias.models import load_sequence_classifier, load_tokenizer

    transformers.logging.set_verbosity_error()
    warnings.simplefilter("ignore", MetricWarning)  # skipped terms: not what is measured here
    logging.getLogger("peftdebias").setLevel(logging.ERROR)
    load_before = os.getloadavg()
    ghc = load("ghc", "test", args.data_dir)
    iptts = load("iptts", "test", args.data_dir).remove_columns("attribute")
    if args.iptts_limit:
        iptts = iptts.shuffle(seed=0).select(range(min(args.iptts_limit, len(iptts))))
    model = load_sequence_classifier(args.model, num_labels=2).eval()
    tokenizer = load_tokenizer(args.model)
    options = MetricOptions(terms=axis_terms("group"), terms_source="group")
    sets = {"test": ghc, "iptts": iptts}
    predict(model, tokenizer, ghc.select(range(64)), args.max_length)  # warm-up (oneDNN)
    predict(model, tokenizer, ghc.select(range(64)), args.max_length, precision="bf16")
    result: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": args.model,
        "max_length": args.max_length,
        "iptts_sentences": len(iptts),
        "ghc_test_posts": len(ghc),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # IPTTS scoring alone (tokenization + model) and the full evaluation (predictions
        # files, every metric; after: + the bootstrap intervals). The variants alternate,
        # --repeats times, and the fastest run of each counts, so that a change of load
        # during the benchmark does not favour one of them.
        scoring = {
            "before": lambda: old_predict(model, tokenizer, iptts, args.max_length),
            "after_fp32": lambda: predict(model, tokenizer, iptts, args.max_length),
            "after_bf16": lambda: predict(
                model, tokenizer, iptts, args.max_length, precision="bf16"
            ),
        }
        evaluation = {
            "before": lambda: old_evaluate(
                model, tokenizer, sets, folder, options, args.max_length
            ),
            "after_fp32": lambda: evaluate_datasets(
                model, tokenizer, sets, folder, options, args.max_length
            ),
            "after_bf16": lambda: evaluate_datasets(
                model, tokenizer, sets, folder, options, args.max_length, precision="bf16"
            ),
        }
        for key, variants in (("iptts_scoring", scoring),
                              ("ghc_test_plus_iptts_evaluation", evaluation)):  # fmt: skip
            runs: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.repeats):
                for name, run in variants.items():
                    runs[name].append(timed(run)[1])
            section = {}
            for name, seconds in runs.items():
                best = min(seconds)
                section[name] = {"seconds": best, "all_seconds": seconds}
                if key == "iptts_scoring":
                    section[name]["sentences_per_second"] = len(iptts) / best
            section["speedup_fp32"] = (
                section["before"]["seconds"] / section["after_fp32"]["seconds"]
            )
            section["speedup_bf16"] = (
                section["before"]["seconds"] / section["after_bf16"]["seconds"]
            )
            result[key] = section
        result["iptts_scoring"]["before"]["batch_size"] = OLD_BATCH_SIZE
        result["ghc_test_plus_iptts_evaluation"]["note"] = (
            "after includes the 1,000-resample bootstrap intervals"
        )
        if args.agreement:
            classifier = Path(args.classifier) if args.classifier else None
            if classifier is None:
                classifier, seconds = timed(train_classifier, args, folder / "classifier")
                result["classifier_training_seconds"] = seconds
            result["bf16_agreement"] = agreement(args, classifier, ghc, iptts)
    load_after = os.getloadavg()
    result["load_average_1min"] = {"before": load_before[0], "after": load_after[0]}
    # the load before the run: the one after includes the benchmark's own threads
    result["under_load"] = load_before[0] > 0.5 * (os.cpu_count() or 1)
    result["aim_iptts_all_within_90s"] = (
        len(iptts) == 76_564 and result["iptts_scoring"]["after_fp32"]["seconds"] <= 90
    )
    result["aim_iptts_all_within_90s_bf16"] = (
        len(iptts) == 76_564 and result["iptts_scoring"]["after_bf16"]["seconds"] <= 90
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
