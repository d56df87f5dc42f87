"""Write RESULTS.md: the measured tables of an experiment grid next to the paper's numbers.

    peftdebias run configs/offline-cpu.yaml --data-dir ../shared/data --output runs/offline-cpu
    python bench/results_md.py --run runs/offline-cpu --report results/offline-cpu

The grid's report (tables, CSVs, PNGs) goes to --report (committed; runs/ is not); RESULTS.md
links to it. Paper numbers: bench/paper_numbers.json. The discussion is kept by hand in
bench/results_discussion.md and included verbatim.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
from datetime import datetime
from pathlib import Path

from peftdebias.experiments.collect import Collected, Stat, comparison
from peftdebias.experiments.config import load_config
from peftdebias.experiments.report import write_report
from peftdebias.io import atomic_open

HERE = Path(__file__).resolve().parent
ROWS = ["FT", "CDA", "CLP", "Full-Debias", "Adapter", "Prompt", "Prefix", "LoRA", "SFT"]
# our task -> (paper block, [(title, our column, scale, paper column or None)])
HATE = [
    ("F1", "task", 100, "F1"),
    ("FPRD", "FPRD", 1, None),
    ("FPRD-IPTTS", "FPRD-IPTTS", 1, None),
    ("FPRD ref.", "FPRD (ref. code)", 1, "FPRD"),
    ("FPRD-IPTTS ref.", "FPRD-IPTTS (ref. code)", 1, "FPRD-IPTTS"),
]
TASKS = {
    "ghc": ("GHC (race, in-domain)", HATE),
    "stormfront": ("GHC -> LHC (race, transfer)", HATE),
    "founta": ("GHC -> LHC (race, transfer)", HATE),
    "mnli": (
        "BiasBios -> MNLI (gender, transfer)",
        [
            ("Acc", "task", 100, "Acc"),
            ("FN", "Bias-NLI FN", 1, "Bias-NLI FN"),
            ("NN", "Bias-NLI NN", 1, None),
        ],
    ),
    "gap": (
        "BiasBios (gender, in-domain)",
        [
            ("macro-F1", "task", 100, None),
            ("GAP F1", "GAP F1", 100, None),
            ("F/M", "GAP F/M", 1, None),
        ],
    ),
}
INTRINSIC = ["SS LM", "SS", "CrowS", "SEAT ES"]  # Table 1 columns (paper: all but SEAT)


def fmt(stat: Stat | None, scale: float = 1, marker: str = "") -> str:
    """``mean [95 % interval]`` (scaled), the marker and the number of seeds."""
    if stat is None or stat.mean is None:
        return "–"
    text = f"{stat.mean * scale:.2f}"
    interval = stat.interval
    if interval.defined:
        text += f" [{interval.low * scale:.2f}, {interval.high * scale:.2f}]"
    return f"{text}{marker} ({stat.n})"


def paper_value(block: dict, row: str, column: str | None) -> str:
    if column is None or row not in block["rows"] or column not in block["columns"]:
        return "–"
    return f"{block['rows'][row][block['columns'].index(column)]:g}"


def hardware() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = names[0].strip() if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read_text()).group(1))
        memory = f", {kib / 2**20:.0f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} cores{memory}, no GPU ({platform.platform()})"


def timing(collected: Collected) -> list[str]:
    manifest = collected.manifest
    by_kind: dict[str, list[float]] = {}
    for cell in manifest["cells"].values():
        if cell["status"] == "finished" and cell.get("seconds") is not None:
            by_kind.setdefault(cell["kind"], []).append(cell["seconds"])
    ends = [c["ended"] for c in manifest["cells"].values() if c.get("ended")]
    first = datetime.fromisoformat(manifest["runs"][0]["started"])
    span = (datetime.fromisoformat(max(ends)) - first).total_seconds() if ends else 0.0
    total = sum(sum(seconds) for seconds in by_kind.values())
    lines = [
        f"- compute: {total / 3600:.2f} h in finished cells; {span / 3600:.2f} h from the first "
        f"start to the last cell's end ({len(manifest['runs'])} invocations of `peftdebias run`);"
    ]
    for kind, seconds in sorted(by_kind.items()):
        lines.append(
            f"- {kind}: {len(seconds)} cells, {sum(seconds) / 60:.0f} min in all, "
            f"median {statistics.median(seconds) / 60:.1f} min per cell;"
        )
    return lines


def config_name(manifest: dict, named: str | None) -> str:
    """The config file to cite: ``named`` once it is checked to hold the config the grid ran
    (a run started from another checkout records that checkout's path), else the recorded one."""
    if named is None:
        return manifest.get("config_file")
    ran = manifest["config"]
    if load_config(named, {"data_dir": ran.get("data_dir")}).to_dict() != ran:
        raise SystemExit(f"--config {named} is not the config {manifest.get('config_file')} ran")
    return named


def code_versions(manifest: dict) -> str:
    """The commits that ran the finished cells, with how many cells each ran."""
    counts: dict[str, int] = {}
    for cell in manifest["cells"].values():
        if cell["status"] != "finished" or cell.get("run") is None:
            continue
        git = manifest["runs"][cell["run"]].get("git") or {}
        label = git.get("commit", "?")[:10] + (" (dirty)" if git.get("dirty") else "")
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"commit {label} ({n} cells)" for label, n in counts.items()) or "unknown"


def task_options(config: dict) -> str:
    """Per-task downstream options that override the common ones."""
    tasks = config["downstream"]["tasks"]
    overrides = [f"{t['task']} {json.dumps(t['options'])}" for t in tasks if t.get("options")]
    return "; ".join(overrides) or "none"


def table1(collected: Collected, paper: dict) -> list[str]:
    """Per bias type: our rows next to the paper's. The paper's BERT row is set against the
    base model with the warmed-up head and no module (the base row's head is random)."""
    labels = sorted(collected.intrinsic)
    base = next((label for label in labels if label.endswith("(no module)")), None)
    head = next((label for label in labels if label.endswith("head, no module)")), None)
    # a model that ships a trained (or restored) head has no head-only row: its base row is
    # the one the paper's BERT row stands for
    rows = [(base, None if head else "BERT"), (head, "BERT"), *((row, row) for row in ROWS[1:])]
    lines = []
    for bias_type, axis in (("gender", "gender"), ("race", "group")):
        block = {**paper["table1"][bias_type], "columns": paper["table1"]["columns"]}
        titles = [f"{t} | paper {t}" if t in block["columns"] else t for t in INTRINSIC]
        lines += [
            f"### {bias_type} (modules learned on "
            f"{_module_corpus(collected.manifest['config'], axis)}; paper: {block['corpus']})",
            "",
            "| row | " + " | ".join(titles) + " |",
            "|---|" + "---|" * (len(INTRINSIC) + len(block["columns"])),
        ]
        for label, paper_row in rows:
            values = collected.intrinsic.get(label, {}) if label else {}
            if not values:  # no intrinsic row (e.g. the downstream-only baselines)
                continue
            cells = []
            for column in INTRINSIC:
                cells.append(fmt(values.get(f"{bias_type} {column}")))
                if column in block["columns"]:
                    cells.append(paper_value(block, paper_row, column) if paper_row else "–")
            mark = " †" if label in collected.untrained_head_rows else ""
            lines.append(f"| {label}{mark} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _module_corpus(config: dict, axis: str) -> str:
    for module in (config.get("upstream") or {}).get("modules", []):
        if module.get("axis") == axis:
            return module["corpus"] + (
                f" ({module['corpus_split']})" if module.get("corpus_split") else ""
            )
    return "–"


def table2(collected: Collected, paper: dict) -> list[str]:
    lines = []
    for task, (block_name, columns) in TASKS.items():
        if task not in collected.extrinsic:
            continue
        block = paper["table2"][block_name]
        role = collected.tasks[task]["role"]
        header = []
        for title, _, _, paper_column in columns:
            header.append(title)
            if paper_column:
                header.append(f"paper {paper_column}")
        lines += [
            f"### {task} ({role}); paper: {block_name}",
            "",
            "| row | " + " | ".join(header) + " |",
            "|---|" + "---|" * len(header),
        ]
        rows = collected.extrinsic[task]
        for row in ROWS:
            if row not in rows and row not in block["rows"]:
                continue
            cells = []
            for _, column, scale, paper_column in columns:
                stat, ft = rows.get(row, {}).get(column), rows.get("FT", {}).get(column)
                found = comparison(stat, ft) if stat and ft and row != "FT" else None
                marker = "*" if found is not None and found.significant else ""
                cells.append(fmt(stat, scale, marker))
                if paper_column:
                    cells.append(paper_value(block, row, paper_column))
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines.append("")
        if task == "gap":
            lines += [
                "The paper's in-domain gender task is Bias in Bios (not available offline): "
                + ", ".join(
                    f"{r} Acc {v[0]:g} / TPR-GAP {v[1]:g}" for r, v in block["rows"].items()
                )
                + ".",
                "",
            ]
    return lines


def plots(made: list[tuple[Path, str]], results_md: Path) -> list[str]:
    lines = []
    for path, caption in made:
        lines += [
            f"![{caption}]({os.path.relpath(path, results_md.parent)})",
            "",
            f"*{caption}*",
            "",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/offline-cpu")
    parser.add_argument("--report", default="results/offline-cpu")
    parser.add_argument("--output", default="RESULTS.md")
    parser.add_argument("--config", help="config file to cite (checked against the run)")
    parser.add_argument("--discussion", default=str(HERE / "results_discussion.md"))
    args = parser.parse_args()

    paper = json.loads((HERE / "paper_numbers.json").read_text())
    report = write_report(args.run, output=args.report)
    collected = report.collected
    manifest = collected.manifest
    cells = manifest["cells"].values()
    finished = sum(c["status"] == "finished" for c in cells)
    config = manifest["config"]
    status = (
        "complete"
        if finished == len(manifest["cells"])
        else f"PARTIAL: {finished} of {len(manifest['cells'])} cells finished"
    )
    out = Path(args.output)
    config_file = config_name(manifest, args.config)
    lines = [
        f"# Reproduction: `{config_file}` ({status})",
        "",
        "PEFTDebias (Agarwal et al., EMNLP 2023) re-run end to end with this package on the "
        "data available offline and the embedded default model, next to the paper's numbers "
        "(BERT-base, GPU, full data). Generated by `python bench/results_md.py`; the full "
        f"report with CSVs and plots is in [`{args.report}/`]({args.report}/report.md).",
        "",
        "## Setup",
        "",
        f"- command: `peftdebias run {config_file} --data-dir ../shared/data "
        f"--output {args.run}`, then `python bench/results_md.py`;",
        f"- model: `{config['model']}` (all-MiniLM-L6-v2, 22.7M parameters; its masked-LM "
        "head is not shipped and is warmed up on each upstream corpus with the encoder frozen);",
        f"- hardware: {hardware()};",
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items()) + ";",
        f"- code: {code_versions(manifest)};",
        f"- seeds: downstream {config['seeds']}; upstream modules and intrinsic scores: seed "
        f"{config['seeds'][0]} (one module per method and axis, as in the paper);",
        "- upstream: "
        + json.dumps(config["upstream"]["options"])
        + f" (preset `{config['upstream']['preset']}`; overrides "
        + json.dumps(config["upstream"].get("method_overrides", {}))
        + ");",
        "- downstream: "
        + json.dumps(config["downstream"]["options"])
        + f" (preset `{config['downstream']['preset']}`); per task: {task_options(config)};",
        "- intrinsic: "
        + ", ".join(config["intrinsic"]["benchmarks"])
        + " "
        + json.dumps(config["intrinsic"].get("options", {}))
        + ";",
        *timing(collected),
        "",
        "Values are means with their 95 % confidence interval in brackets (t-interval over "
        "seeds; a single run: bootstrap over test examples, Wilson interval for CrowS-Pairs, "
        "bootstrap over items for StereoSet) and the number of seeds. Cells marked `*` differ "
        "from FT: the 95 % interval of the difference, paired over seeds, excludes zero (the "
        "report's differences table gives it with its p-value). Acc and F1 are in percent "
        "like the paper's. "
        "FPRD: our definition (sum over identity terms of |FPR_term − FPR| on gold negatives, "
        "whole-word matching); \"ref.\": the reference code's variant, the scale of the paper's "
        "FPRD numbers. CrowS/SS: percent, ideal 50; SS LM ideal 100; SEAT ES: mean |effect "
        "size|.",
        "",
        "## Table 1: intrinsic bias after the upstream phase",
        "",
        *table1(collected, paper),
        "† no trained masked-LM head ships with the default model: this row is scored with a "
        "randomly initialised head and is not meaningful. Every module row uses the head "
        "warmed up at the start of its upstream run (the same for all methods of a corpus); "
        'the "warmed-up head, no module" row is that head on the base model, the '
        "reference the paper's BERT row stands for.",
        "",
        "## Table 2: task performance and extrinsic bias after the downstream phase",
        "",
        *table2(collected, paper),
        "## Plots",
        "",
        *plots(report.plots, out),
    ]
    discussion = Path(args.discussion)
    if discussion.is_file():
        lines += [discussion.read_text().strip(), ""]
    with atomic_open(out, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    print(f"wrote {out} ({status}); report in {args.report}")


if __name__ == "__main__":
    main()
