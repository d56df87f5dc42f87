"""Speed and coverage of CDA over the GHC train text (22,042 posts).

Per word list: seconds for ``CounterfactualAugmenter.augment`` over all posts (best of
``--repeat`` runs, two-sided, unmatched kept; the machine's load average is recorded because
other processes slow it down), sentences per second, the fraction of posts with
at least one attribute word, and the number of counterfactuals. Writes
``bench/results/cda.json`` and prints it.

    python bench/bench_cda.py [--data-dir ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from peftdebias.cda import CounterfactualAugmenter, load_word_list
from peftdebias.data.registry import load
from peftdebias.io import write_json

WORD_LISTS = (
    "gender",
    "race",
    "religion",
    "group",
    "bias-bench:gender",
    "bias-bench:race",
    "bias-bench:religion",
    "peft-debias:group",
)


def bench_word_list(spec: str, texts: list[str], data_dir: str | None, repeat: int) -> dict:
    word_list = load_word_list(spec, data_dir)
    started = time.perf_counter()
    augmenter = CounterfactualAugmenter(word_list)
    build_seconds = time.perf_counter() - started
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        records = augmenter.augment(texts)
        timings.append(time.perf_counter() - started)
    seconds = min(timings)
    matched = len({record.source for record in records if record.matched})
    return {
        "word_list": spec,
        "tuples": len(word_list),
        "terms": len(word_list.terms),
        "build_seconds": round(build_seconds, 4),
        "seconds": round(seconds, 4),
        "seconds_all_runs": [round(t, 4) for t in timings],
        "sentences_per_second": round(len(texts) / seconds),
        "matched_fraction": round(matched / len(texts), 4),
        "matched_texts": matched,
        "counterfactuals": sum(record.is_counterfactual for record in records),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="default: $PEFTDEBIAS_DATA_DIR")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "cda.json"))
    args = parser.parse_args(argv)
    texts = load("ghc", "train", args.data_dir)["text"]
    results = {
        "corpus": "ghc train",
        "texts": len(texts),
        "characters": sum(map(len, texts)),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        },
        "word_lists": [
            bench_word_list(spec, texts, args.data_dir, args.repeat) for spec in WORD_LISTS
        ],
    }
    write_json(args.output, results)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
