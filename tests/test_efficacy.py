"""The efficacy table (bias removed per trainable parameter and per minute of upstream
training) on known answers: paired with FT downstream, paired over items intrinsically."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from peftdebias.experiments.collect import Collected, Stat, TaskInfo
from peftdebias.experiments.efficacy import (
    _stereoset_distance,
    best_rows,
    efficacy_markdown,
    extrinsic_efficacy,
    intrinsic_efficacy,
    item_difference,
)
from peftdebias.experiments.records import Manifest, ModuleRecord
from peftdebias.intrinsic.registry import ScoredCell
from peftdebias.intrinsic.stereoset import term_scores

SEEDS = (1, 2, 3)
EMPTY = Manifest(config={}, cells={})


def _module(parameters: int, seconds: float) -> ModuleRecord:
    data = {"trainable_parameters": parameters, "training": {"seconds": seconds}}
    return ModuleRecord.from_json(data, "debias.json")


def _stat(values) -> Stat:
    return Stat(values=dict(zip(SEEDS, values, strict=True)))


def _extrinsic(rows: dict[str, dict[str, list[float]]]) -> Collected:
    collected = Collected(root=None, manifest=EMPTY)
    collected.tasks["ghc"] = TaskInfo("in-domain", "race", "macro_f1")
    collected.extrinsic["ghc"] = {
        label: {column: _stat(values) for column, values in columns.items()}
        for label, columns in rows.items()
    }
    return collected


FT = {"task": [0.70, 0.71, 0.69], "FPRD": [30.0, 32.0, 28.0], "GAP F/M": [1.2, 0.8, 1.1]}


def test_halving_fprd_with_100k_parameters_in_two_minutes():
    half = {"task": FT["task"], "FPRD": [15.0, 16.5, 13.5], "GAP F/M": [1.1, 0.9, 1.05]}
    collected = _extrinsic({"FT": FT, "LoRA": half, "CDA": half})
    collected.upstream[("LoRA", "race")] = _module(100_000, 120.0)
    collected.upstream[("LoRA", "gender")] = _module(5, 1.0)  # another axis: not this task's
    found = {e.measure: e for e in extrinsic_efficacy(collected)}
    assert {e.row for e in extrinsic_efficacy(collected)} == {"LoRA"}  # CDA has no module
    fprd = found["FPRD"]  # 30, 32, 28 -> 15, 16.5, 13.5: 15 FPRD points removed, half
    assert fprd.reduction.estimate == pytest.approx(15.0)
    assert fprd.share.estimate == pytest.approx(50.0)
    assert fprd.per_million.estimate == pytest.approx(150.0)
    assert fprd.per_minute.estimate == pytest.approx(7.5)
    assert fprd.measured and fprd.seeds == 3
    # the paired t-interval of FT - row (differences 15, 15.5, 14.5: mean 15, sd 0.5)
    half_width = 4.302653 * 0.5 / 3**0.5
    assert fprd.reduction.low == pytest.approx(15.0 - half_width, rel=1e-5)
    assert fprd.reduction.high == pytest.approx(15.0 + half_width, rel=1e-5)
    assert fprd.per_million.low == pytest.approx(fprd.reduction.low * 10)
    # GAP F/M: distance from 1 goes 0.2, 0.2, 0.1 -> 0.1, 0.1, 0.05: half, even though
    # the values move in opposite directions
    assert found["GAP F/M"].share.estimate == pytest.approx(50.0)
    assert found["GAP F/M"].reduction.estimate == pytest.approx(0.25 / 3)
    assert best_rows(list(found.values()))[("ghc", "FPRD")] == {
        "per_million": "LoRA", "per_minute": "LoRA"
    }  # fmt: skip


def test_a_noisy_change_is_not_measured():
    noisy = {"task": FT["task"], "FPRD": [10.0, 45.0, 20.0]}
    collected = _extrinsic({"FT": FT, "Prompt": noisy})
    collected.upstream[("Prompt", "race")] = _module(10_000, 60.0)
    (found,) = extrinsic_efficacy(collected)
    assert found.reduction.low < 0 < found.reduction.high and not found.measured
    assert best_rows([found])[("ghc", "FPRD")] == {"per_million": None, "per_minute": None}
    lines, rows = efficacy_markdown(collected)
    assert "- FPRD: no row lowers it measurably." in lines
    assert rows[0]["trainable_parameters"] == 10_000 and rows[0]["measured"] is False


def _crows_cell(tmp_path, name: str, outcomes: list[str]) -> ScoredCell:
    folder = tmp_path / name
    folder.mkdir()
    lines = [json.dumps({"id": str(i), "direction": "stereo", "outcome": outcome})
             for i, outcome in enumerate(outcomes)]  # fmt: skip
    (folder / "crows-gender_scores.jsonl").write_text("\n".join(lines) + "\n")
    return ScoredCell(folder, "gender", None)


def test_crows_difference_is_paired_over_shared_items(tmp_path):
    base = _crows_cell(tmp_path, "base", ["more"] * 70 + ["less"] * 30)  # 70 %: 20 from 50
    row = _crows_cell(tmp_path, "row", ["more"] * 50 + ["less"] * 50)  # 50 %: 0 from 50
    diff = item_difference(base, row, "crows", 50.0)
    assert diff.estimate == pytest.approx(-20.0) and diff.n == 100
    assert diff.high < 0  # the same 20 pairs flip on every resample: a clear reduction
    same = item_difference(base, base, "crows", 50.0)
    assert same.estimate == same.low == same.high == 0.0
    assert item_difference(base, row, "stereoset", 50.0) is None  # no score file


def test_stereoset_distance_matches_the_benchmark_scoring():
    rng = random.Random(0)
    items = []
    for i in range(200):
        stereotype, anti, unrelated = (rng.random() for _ in range(3))
        items.append({"id": str(i), "target": f"t{i % 7}",
                      "scores": {"stereotype": stereotype, "anti_stereotype": anti,
                                 "unrelated": unrelated}})  # fmt: skip
    targets = [item["target"] for item in items]
    pro = [float(item["scores"]["stereotype"] > item["scores"]["anti_stereotype"])
           for item in items]  # fmt: skip

    distance = _stereoset_distance(np.asarray(targets), np.asarray(pro), 50.0)
    assert distance == pytest.approx(abs(term_scores(items)["ss"] - 50.0))


def test_intrinsic_rows_are_compared_with_the_base_model(tmp_path):
    collected = Collected(root=None, manifest=EMPTY)
    base = _crows_cell(tmp_path, "base", ["more"] * 70 + ["less"] * 30)
    row = _crows_cell(tmp_path, "row", ["more"] * 60 + ["less"] * 40)
    collected.intrinsic = {"minilm (no module)": {"gender CrowS": Stat({0: 70.0})},
                           "LoRA": {"gender CrowS": Stat({42: 60.0})}}  # fmt: skip
    collected.intrinsic_cells = {("minilm (no module)", "gender"): base, ("LoRA", "gender"): row}
    collected.intrinsic_axes = {("LoRA", "gender"): "gender"}
    collected.upstream[("LoRA", "gender")] = _module(50_000, 30.0)
    (found,) = intrinsic_efficacy(collected)
    assert (found.scope, found.row, found.measure) == ("gender", "LoRA", "CrowS")
    assert found.reduction.estimate == pytest.approx(10.0)  # distance 20 -> 10 points
    assert found.share.estimate == pytest.approx(50.0)
    assert found.per_minute.estimate == pytest.approx(20.0)
    assert found.per_million.estimate == pytest.approx(200.0)
    assert found.reference == pytest.approx(20.0)


def test_upstream_labels_name_the_axis_only_when_there_are_several():
    collected = Collected(root=None, manifest=EMPTY)
    collected.upstream[("LoRA", "race")] = _module(1, 1.0)
    assert list(collected.upstream_by_label()) == ["LoRA"]
    collected.upstream[("LoRA", "gender")] = _module(1, 1.0)
    assert sorted(collected.upstream_by_label()) == ["LoRA (gender)", "LoRA (race)"]


def test_best_rows_skip_a_measured_row_without_a_cost():
    half = {"task": FT["task"], "FPRD": [15.0, 16.5, 13.5]}
    collected = _extrinsic({"FT": FT, "LoRA": half, "SFT": half})
    collected.upstream[("LoRA", "race")] = _module(100_000, 120.0)
    collected.upstream[("SFT", "race")] = ModuleRecord.from_json({}, "debias.json")  # no cost
    found = extrinsic_efficacy(collected)
    assert all(e.measured for e in found) and {e.row for e in found} == {"LoRA", "SFT"}
    assert best_rows(found)[("ghc", "FPRD")] == {"per_million": "LoRA", "per_minute": "LoRA"}
