"""MLM restoration of the default model: the shipped artefact's learning curve next to a
head-only warm-up (what the upstream phase did before), load time and artefact size.

- ``shipped``: read from ``src/peftdebias/resources/restoration/minilm/restoration.json``
  (made by the command recorded there);
- ``head_only``: ``restore-mlm --rank 0`` on the same corpora, batch and length, trained
  here for ``--head-steps`` steps with a curve point every ``--eval-steps``: the head alone,
  no encoder delta;
- load time: median of 3 ``load_masked_lm`` calls of ``minilm-raw`` and ``minilm``.

Writes ``bench/results/restoration.json`` and prints it.

    python bench/bench_restoration.py --data-dir ../shared/data [--head-steps 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from peftdebias.io import write_json
from peftdebias.models import load_masked_lm, resolve_model
from peftdebias.restoration import RestoreConfig, read_record, restore_mlm

RESULT = Path(__file__).parent / "results" / "restoration.json"


def load_seconds(name: str) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        load_masked_lm(name)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def head_only(shipped: dict, data_dir: str, steps: int, eval_steps: int) -> dict:
    training = shipped["training"]
    with tempfile.TemporaryDirectory() as tmp:
        config = RestoreConfig(
            output=str(Path(tmp) / "head"),
            model="minilm-raw",
            corpora=tuple(training["corpora"]),
            data_dir=data_dir,
            max_steps=steps,
            batch_size=training["batch_size"],
            max_length=training["max_length"],
            learning_rate=training["learning_rate"],
            warmup_steps=training["warmup_steps"],
            rank=0,
            eval_steps=eval_steps,
            curve_texts=training["curve_texts"],
            bf16=training["bf16"],
            seed=training["seed"],
        )
        record = restore_mlm(config).record
    return {
        "steps": steps,
        "seconds": record["training"]["seconds"],
        "trainable_parameters": record["trainable_parameters"],
        "heldout_after": record["heldout"]["after"],
        "curve": record["heldout"]["curve"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("PEFTDEBIAS_DATA_DIR"))
    parser.add_argument("--head-steps", type=int, default=500)
    parser.add_argument("--eval-steps", type=int, default=50)
    args = parser.parse_args()
    folder = Path(resolve_model("minilm").restoration)
    shipped = read_record(folder)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_start": os.getloadavg(),
        },
        "shipped": {
            "command": shipped["command"],
            "steps": shipped["training"]["steps"],
            "seconds": shipped["training"]["seconds"],
            "trainable_parameters": shipped["trainable_parameters"],
            "heldout_before": shipped["heldout"]["before"],
            "heldout_after": shipped["heldout"]["after"],
            "curve": shipped["heldout"]["curve"],
            "artefact_bytes": {p.name: p.stat().st_size for p in sorted(folder.iterdir())},
        },
        "head_only": head_only(shipped, args.data_dir, args.head_steps, args.eval_steps),
        "load_seconds": {
            "minilm-raw": load_seconds("minilm-raw"),
            "minilm": load_seconds("minilm"),
        },
    }
    result["machine"]["load_average_end"] = os.getloadavg()
    write_json(RESULT, result)
    print(RESULT.read_text())


if __name__ == "__main__":
    main()
