"""Reduced-scale real run of PEFTDebias on GHC with the default model (issue: downstream).

1. Upstream, axis ``group``, corpus = the first ``--corpus-texts`` GHC training posts: LoRA,
   prefix tuning, bottleneck adapter, and Full-Debias (MLM head warmed up first, see
   docs/upstream.md).
2. Downstream on GHC (``--train-examples`` posts, 1 epoch, length 64; IPTTS subsampled to
   ``--iptts-examples``, seeded): FT and every module,
   FT and the module with the lowest seed-1 FPRD over 3 seeds; macro-F1, FPRD (group terms),
   FPRD on IPTTS, run time.
3. Transfer: the same modules (and FT) downstream on Stormfront and Founta.

Each run lives in ``--work`` and is skipped when its result exists (re-running resumes).
Writes ``bench/results/ghc.json`` and ``bench/results/ghc.md``.

    python bench/bench_ghc.py --data-dir ../shared/data [--work /tmp/peftdebias-ghc]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from peftdebias.experiments.records import HeadWarmup, ModuleRecord
from peftdebias.metrics.results import MetricsFile

RESULTS = Path(__file__).parent / "results"
MODULES = ("lora", "prefix", "adapter")


def upstream(work: Path, method: str, args) -> dict:
    from peftdebias.upstream import UpstreamConfig, train_upstream

    out = work / "upstream" / method
    if not (out / "debias.json").is_file():
        started = time.time()
        train_upstream(
            UpstreamConfig(
                axis="group",
                corpus="ghc",
                method=method,
                output=str(out),
                preset="quick",
                data_dir=args.data_dir,
                max_texts=args.corpus_texts,
                max_steps=args.upstream_steps,
                eval_steps=max(1, args.upstream_steps // 3),
                head_warmup_steps=args.warmup_steps,
                learning_rate=1e-4 if method == "full" else None,
                overwrite=True,
            )
        )
        print(f"upstream {method}: {time.time() - started:.0f} s", flush=True)
    meta = ModuleRecord.load(out / "debias.json")
    return {
        "method": method,
        "trainable_percent": meta.trainable_percent,
        "heldout_loss_before": meta.heldout_before.loss,
        "heldout_loss_after": meta.heldout_after.loss,
        "accuracy_before": meta.heldout_before.accuracy,
        "accuracy_after": meta.heldout_after.accuracy,
        "head_warmup": _warmup_accuracy(meta.head_warmup),
        "seconds": meta.training.seconds,
    }


def _warmup_accuracy(warmup: HeadWarmup | None) -> dict[str, float | None] | None:
    """Held-out masked-token accuracy before and after the MLM-head warm-up (None: none)."""
    if warmup is None:
        return None
    return {"before": warmup.heldout_before.accuracy, "after": warmup.heldout_after.accuracy}


def downstream(work: Path, task: str, start: str, seed: int, args) -> dict:
    from peftdebias.downstream import DownstreamConfig, train_downstream

    out = work / "downstream" / task / start / f"s{seed}"
    if not (out / "metrics.json").is_file():
        kwargs = (
            {"baseline": "ft"}
            if start == "ft"
            else (
                {"full_debias": str(work / "upstream" / "full")}
                if start == "full"
                else {"debias": str(work / "upstream" / start)}
            )
        )
        train_downstream(
            DownstreamConfig(
                task=task,
                output=str(out),
                preset="quick",
                seed=seed,
                data_dir=args.data_dir,
                max_train_examples=args.train_examples,
                overwrite=True,
                **kwargs,
            )
        )
    metrics = MetricsFile.load(out / "metrics.json")
    test = metrics.splits["test"].metrics
    iptts = metrics.splits["iptts"].metrics if "iptts" in metrics.splits else None
    row = {
        "task": task,
        "start": start,
        "seed": seed,
        "macro_f1": test.classification.macro_f1,
        "accuracy": test.classification.accuracy,
        "fprd": test.fprd.fprd,
        "fprd_iptts": iptts.lookup(("iptts-fprd", "fprd")) if iptts else None,
        "fprd_ref": test.fprd.fprd_reference_code.fprd,
        "fprd_iptts_ref": iptts.lookup(("fprd", "fprd_reference_code", "fprd")) if iptts else None,
        "seconds": metrics.seconds,
    }
    print(json.dumps(row), flush=True)
    return row


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["start"]), []).append(row)
    table = []
    for (task, start), runs in groups.items():
        entry = {"task": task, "start": start, "seeds": len(runs)}
        for key in ("macro_f1", "fprd", "fprd_iptts", "fprd_ref", "fprd_iptts_ref", "seconds"):
            values = [r[key] for r in runs if r[key] is not None]
            entry[key] = statistics.mean(values) if values else None
            entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
        table.append(entry)
    return table


def paired_comparison(rows: list[dict], task: str, module: str) -> dict:
    """Per-seed differences module − FT on ``task``: mean, sample std, paired t-test p."""
    from scipy import stats

    by_seed = {(r["start"], r["seed"]): r for r in rows if r["task"] == task}
    seeds = sorted(s for start, s in by_seed if start == module and ("ft", s) in by_seed)
    differences = {}
    for key in ("macro_f1", "fprd", "fprd_iptts", "fprd_ref"):
        ours = [by_seed[(module, s)][key] for s in seeds]
        ft = [by_seed[("ft", s)][key] for s in seeds]
        diffs = [a - b for a, b in zip(ours, ft, strict=True)]
        p = float(stats.ttest_rel(ours, ft).pvalue) if len(seeds) > 1 else None
        differences[key] = {
            "mean": statistics.mean(diffs),
            "std": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
            "p": p,
        }
    return {"module": module, "seeds": len(seeds), "differences": differences}


def markdown(result: dict) -> str:
    def cell(entry, key):
        if entry[key] is None:
            return "–"
        std = entry.get(f"{key}_std")
        return f"{entry[key]:.3f}" + (f" ± {std:.3f}" if std is not None else "")

    lines = [
        "# GHC reduced-scale run (default model, CPU)",
        "",
        "## Upstream (axis group, GHC text)",
        "",
        "| method | trainable % | held-out MLM loss before → after "
        "| masked acc before → after | s |",
        "|---|---|---|---|---|",
    ]
    for u in result["upstream"]:
        lines.append(
            f"| {u['method']} | {u['trainable_percent']:.3f} | {u['heldout_loss_before']:.3f} → "
            f"{u['heldout_loss_after']:.3f} | {u['accuracy_before']:.3f} → "
            f"{u['accuracy_after']:.3f} | {u['seconds']:.0f} |"
        )
    lines += [
        "",
        "## Downstream (test split; mean ± std over seeds)",
        "",
        "| task | start | seeds | macro-F1 | FPRD | FPRD IPTTS | FPRD ref. | FPRD IPTTS ref. | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in result["summary"]:
        lines.append(
            f"| {e['task']} | {e['start']} | {e['seeds']} | {cell(e, 'macro_f1')} "
            f"| {cell(e, 'fprd')} | {cell(e, 'fprd_iptts')} | {cell(e, 'fprd_ref')} "
            f"| {cell(e, 'fprd_iptts_ref')} | {e['seconds']:.0f} |"
        )
    paired = result["paired"]
    lines += [
        "",
        f"## {paired['module']} vs FT on GHC, paired by seed ({paired['seeds']} seeds)",
        "",
        "| metric | mean difference (module − FT) ± std | paired t-test p |",
        "|---|---|---|",
    ]
    for key, d in paired["differences"].items():
        p = "n/a" if d["p"] is None else f"{d['p']:.3g}"
        lines.append(f"| {key} | {d['mean']:+.4f} ± {d['std']:.4f} | {p} |")
    lines += ["", f"Settings: {json.dumps(result['settings'])}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    parser.add_argument("--work", default="/tmp/peftdebias-ghc")
    parser.add_argument("--corpus-texts", type=int, default=4000)
    parser.add_argument("--upstream-steps", type=int, default=150)
    parser.add_argument("--warmup-steps", type=int, default=150)
    parser.add_argument("--train-examples", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--iptts-examples",
        type=int,
        default=5000,
        help="seeded IPTTS subsample per model (all 76,564 take ~5-10 min per model here)",
    )
    args = parser.parse_args()
    work = Path(args.work)
    ups = [upstream(work, method, args) for method in (*MODULES, "full")]
    rows = [downstream(work, "ghc", start, 1, args) for start in ("ft", "full", *MODULES)]
    best = min((r for r in rows if r["start"] in MODULES), key=lambda r: r["fprd"])["start"]
    for seed in range(2, args.seeds + 1):
        rows += [downstream(work, "ghc", start, seed, args) for start in ("ft", best)]
    for task in ("stormfront", "founta"):
        rows += [downstream(work, task, start, 1, args) for start in ("ft", *MODULES)]
    result = {
        "paired": paired_comparison(rows, "ghc", best),
        "settings": {k: v for k, v in vars(args).items() if k != "work"}
        | {
            "model": "minilm",
            "downstream_preset": "quick (1 epoch, length 64, dev/test 1000)",
            "upstream_preset": "quick (batch 16, length 64)",
            "fprd_terms": "group axis",
        },
        "best_module": best,
        "upstream": ups,
        "runs": rows,
        "summary": summarise(rows),
        # sums of the runs' own times (re-running only re-reads finished runs)
        "upstream_seconds": round(sum(u["seconds"] for u in ups)),
        "downstream_seconds": round(sum(r["seconds"] for r in rows)),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ghc.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "ghc.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
