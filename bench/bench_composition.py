"""Composing debiasing modules across bias axes (issue 16), measured small on real data.

1. Upstream, default model, LoRA, ``--upstream-steps`` steps each: a gender module on GAP
   text (gap-test.tsv, the GAP task's training split), a group (race, religion, sexuality)
   module on the first ``--corpus-texts`` GHC training posts, and one joint ``gender,group``
   module on both corpora together.
2. Downstream GHC, one run per seed of ``--seeds`` (quick preset: ``--train-examples``
   posts, 1 epoch, length 64, bf16 autocast and length-grouped batches as in
   ``configs/neighbourhood.yaml``; dev/test subsampled to ``--eval-examples``, IPTTS to
   ``--iptts-examples``, default all): FT, each module alone, the two composed
   (``--debias gender --debias group``) and the joint module.
3. Bias of both axes for each: FPRD over the group terms and over the gender terms on the GHC
   test set, FPRD on IPTTS, and CrowS-Pairs gender and race-color of the masked LM with the
   same module(s) (the FT row: the base model's); macro-F1 for the task. With several seeds,
   each downstream number is averaged over seeds and compared with FT's, paired over seeds
   (mean difference, 95 % t-interval; ``paired_comparison``).

Runs live in ``--work`` and are skipped when their result exists (re-running resumes).
Writes ``bench/results/composition.json``.

    python bench/bench_composition.py --data-dir ../shared/data [--work /tmp/peftdebias-comp]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from peftdebias.experiments.records import ModuleRecord

RESULTS = Path(__file__).parent / "results"
# start -> the upstream modules it composes ([]: no module)
STARTS = {
    "ft": [],
    "gender": ["gender"],
    "group": ["group"],
    "gender+group": ["gender", "group"],
    "joint": ["joint"],
}


def corpora(work: Path, args) -> dict[str, tuple[str, str, str, int | None]]:
    """Module name -> (axis, corpus, split, max texts); the joint corpus is both in one file."""
    from peftdebias.data import load_text_corpus

    joint = work / "joint-corpus.txt"
    if not joint.is_file():
        texts = load_text_corpus("gap", args.data_dir, split="test")
        texts += load_text_corpus("ghc", args.data_dir)[: args.corpus_texts]
        joint.parent.mkdir(parents=True, exist_ok=True)
        joint.write_text("".join(" ".join(t.split()) + "\n" for t in texts), encoding="utf-8")
    return {
        "gender": ("gender", "gap", "test", None),
        "group": ("group", "ghc", "train", args.corpus_texts),
        "joint": ("gender,group", str(joint), "train", None),
    }


def upstream(work: Path, name: str, spec: tuple[str, str, str, int | None], args) -> dict:
    from peftdebias.upstream import UpstreamConfig, train_upstream

    axis, corpus, split, max_texts = spec
    out = work / "upstream" / name
    if not (out / "debias.json").is_file():
        train_upstream(
            UpstreamConfig(axis=axis, corpus=corpus, corpus_split=split, method="lora",
                           output=str(out), data_dir=args.data_dir, max_texts=max_texts,
                           max_steps=args.upstream_steps, eval_steps=args.upstream_steps // 2,
                           overwrite=True)
        )  # fmt: skip
    meta = ModuleRecord.load(out / "debias.json")
    return {
        "axes": meta.axes,
        "corpus": meta.corpus,
        "heldout_loss": [meta.heldout_before.loss, meta.heldout_after.loss],
        "steps": meta.training.steps,
        "seconds": meta.training.seconds,
    }


def joint_corpus_counts(work: Path, args) -> dict[str, int]:
    """Texts of the joint corpus with gender words, group words, both."""
    from peftdebias.cda import CounterfactualAugmenter, load_axes

    texts = (work / "joint-corpus.txt").read_text(encoding="utf-8").splitlines()
    gender, group = (CounterfactualAugmenter(wl) for wl in load_axes("gender,group"))
    hits = [(bool(gender.matches(t)), bool(group.matches(t))) for t in texts]
    return {
        "texts": len(texts),
        "gender": sum(g for g, _ in hits),
        "group": sum(r for _, r in hits),
        "both": sum(g and r for g, r in hits),
    }


def downstream(work: Path, start: str, seed: int, args) -> dict:
    from peftdebias.downstream import DownstreamConfig, train_downstream
    from peftdebias.metrics import MetricOptions, axis_terms, compute_metrics, read_predictions
    from peftdebias.metrics.results import MetricsFile, SplitResult

    out = work / "downstream" / start / f"s{seed}"
    modules = [str(work / "upstream" / name) for name in STARTS[start]]
    if not (out / "metrics.json").is_file():
        start_option = {"debias": modules} if modules else {"baseline": "ft"}
        train_downstream(
            DownstreamConfig(task="ghc", output=str(out), data_dir=args.data_dir,
                             max_train_examples=args.train_examples,
                             max_eval_examples=args.eval_examples,
                             max_iptts_examples=args.iptts_examples, bootstrap_resamples=0,
                             bf16=True, group_by_length=True, seed=seed, overwrite=True,
                             **start_option)
        )  # fmt: skip
    metrics = MetricsFile.load(out / "metrics.json")
    test = metrics.splits["test"].metrics
    gender = SplitResult.from_json(
        compute_metrics(
            read_predictions(out / "predictions-test.jsonl"),
            ["fprd"],
            MetricOptions(terms=axis_terms("gender"), terms_source="gender"),
        )
    ).metrics.fprd
    return {
        "macro_f1": test.classification.macro_f1,
        "fprd_group": test.fprd.fprd,
        "fprd_gender": gender.fprd,
        "fprd_iptts": metrics.splits["iptts"].metrics.iptts_fprd.fprd,
        "module_frozen_checksum": metrics.module_frozen_checksum,
        "modules": metrics.modules,
        "seconds": metrics.seconds,
    }


NUMBERS = ("macro_f1", "fprd_group", "fprd_gender", "fprd_iptts")


def summarize(runs: list[dict], ft_runs: list[dict], seeds: list[int]) -> dict:
    """Per downstream number: the mean over seeds and, against FT, the paired difference
    with its 95 % t-interval (None with one seed); ``runs``: the per-seed records."""
    from peftdebias.metrics.intervals import paired_comparison

    summary: dict = {}
    for key in NUMBERS:
        values = dict(zip(seeds, (run[key] for run in runs), strict=True))
        ft = dict(zip(seeds, (run[key] for run in ft_runs), strict=True))
        diff = paired_comparison(values, ft).difference
        summary[key] = sum(values.values()) / len(values)
        summary[f"{key}_vs_ft"] = [diff.estimate, diff.low, diff.high]
    summary["module_frozen_checksum"] = runs[0]["module_frozen_checksum"]
    summary["runs"] = [{"seed": seed, **run} for seed, run in zip(seeds, runs, strict=True)]
    return summary


def crows(work: Path, start: str, args) -> dict[str, float]:
    """CrowS-Pairs (bias-bench scoring) gender and race-color of the LM with the modules."""
    from peftdebias.intrinsic import IntrinsicConfig, evaluate_intrinsic
    from peftdebias.intrinsic.results import IntrinsicResult
    from peftdebias.upstream import load_debiased_lm

    modules = [str(work / "upstream" / name) for name in STARTS[start]]
    model, tokenizer, missing = load_debiased_lm(debias=modules or None)
    scores = {}
    for bias_type in ("gender", "race"):
        config = IntrinsicConfig(benchmarks=("crows",), bias_type=bias_type)
        result = evaluate_intrinsic(model.eval(), tokenizer, config, args.data_dir, missing)
        scores[f"crows_{bias_type}"] = IntrinsicResult.from_json(result).crows.metric
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("PEFTDEBIAS_DATA_DIR"))
    parser.add_argument("--work", default="/tmp/peftdebias-composition")
    parser.add_argument("--upstream-steps", type=int, default=100)
    parser.add_argument("--corpus-texts", type=int, default=2000)
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--eval-examples", type=int, help="seeded dev/test subsample")
    parser.add_argument("--iptts-examples", type=int, help="seeded IPTTS subsample (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="downstream seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared CPUs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    started = time.time()
    specs = corpora(work, args)
    modules = {name: upstream(work, name, spec, args) for name, spec in specs.items()}
    runs = {start: [downstream(work, start, seed, args) for seed in args.seeds] for start in STARTS}
    rows = []
    for start in STARTS:
        row = {"start": start, **summarize(runs[start], runs["ft"], args.seeds),
               **crows(work, start, args)}  # fmt: skip
        print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
        rows.append(row)
    result = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("data_dir", "work")},
        "model": "minilm",
        "method": "lora",
        "upstream": modules,
        "joint_corpus": joint_corpus_counts(work, args),
        "rows": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "seconds": round(time.time() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "composition.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
