"""The report's goal check (row vs FT: score within 1 point, bias down >= 40 % with the
interval of the difference below zero) and the upstream curve table, on known answers."""

from __future__ import annotations

import pytest

from peftdebias.experiments.collect import Collected, Stat
from peftdebias.experiments.curves import curves_markdown, flattened
from peftdebias.experiments.goal import goal_markdown, goal_rows
from peftdebias.experiments.records import CurvePoint, Manifest, ModuleRecord

SEEDS = (1, 2, 3, 4, 5)


def _stat(values):
    return Stat(values=dict(zip(SEEDS, values, strict=True)))


EMPTY = Manifest(config={}, cells={})


def _collected(rows):
    collected = Collected(root=None, manifest=EMPTY)
    collected.extrinsic["ghc"] = {
        label: {column: _stat(values) for column, values in columns.items()}
        for label, columns in rows.items()
    }
    return collected


FT = {"task": [0.70, 0.71, 0.69, 0.70, 0.70], "FPRD": [30, 32, 28, 31, 29],
      "FPRD-IPTTS": [13, 14, 12, 13, 13]}  # fmt: skip


def test_a_row_halving_both_fprds_at_equal_f1_meets_the_goal():
    good = {"task": [0.70, 0.705, 0.695, 0.70, 0.70], "FPRD": [15, 16, 14, 15.5, 14.5],
            "FPRD-IPTTS": [6, 7, 6, 6.5, 6.5]}  # fmt: skip
    rows, best = goal_rows(_collected({"FT": FT, "Good": good}))
    (row,) = rows
    assert row.meets and row.seeds == 5
    fprd = {c.column: c for c in row.bias}["FPRD"]
    assert fprd.relative == pytest.approx((15 - 30) / 30)
    assert fprd.lower
    assert best == {"ghc": {"FPRD": "Good", "FPRD-IPTTS": "Good"}}
    text = "\n".join(goal_markdown(_collected({"FT": FT, "Good": good})))
    assert "| Good | 5 |" in text and "**yes**" in text and "-50 %" in text


@pytest.mark.parametrize(
    "change",
    [
        {"task": [0.68, 0.69, 0.67, 0.68, 0.68]},  # 2 points worse
        {"FPRD": [22, 24, 21, 23, 22]},  # only about -25 %
        {"FPRD": [5, 60, 2, 50, 1]},  # -41 % on average, interval includes zero
        {"FPRD-IPTTS": [13, 14, 12, 13, 13]},  # one metric unchanged
    ],
)
def test_rows_short_of_the_goal(change):
    row = {"task": FT["task"], "FPRD": [15, 16, 14, 15.5, 14.5], "FPRD-IPTTS": [6, 7, 6, 6, 7]}
    row.update(change)
    rows, best = goal_rows(_collected({"FT": FT, "Other": row}))
    assert not rows[0].meets
    if "task" in change:  # 2 points below FT: not eligible as the best row
        assert best["ghc"] == {"FPRD": "FT", "FPRD-IPTTS": "FT"}


def test_a_single_seed_cannot_meet_the_goal():
    collected = Collected(root=None, manifest=EMPTY)
    collected.extrinsic["ghc"] = {
        "FT": {"task": Stat({1: 0.7}), "FPRD": Stat({1: 30.0})},
        "Low": {"task": Stat({1: 0.7}), "FPRD": Stat({1: 1.0})},
    }
    rows, best = goal_rows(collected)
    assert not rows[0].meets and best["ghc"]["FPRD"] == "Low"


def test_flattened_curves():
    curve = [CurvePoint(s, v) for s, v in [(250, 5.0), (500, 4.5), (750, 4.48)]]
    assert flattened(curve)  # 0.4 % below the best earlier loss
    assert not flattened([*curve[:2], CurvePoint(750, 4.3)])
    assert flattened([*curve[:2], CurvePoint(750, 4.9)])  # worse: flat
    assert flattened(curve[:1]) is None


def test_curves_table_lists_each_module_by_step():
    curve = [{"step": 250, "heldout_loss": 5.1}, {"step": 500, "heldout_loss": 5.05}]
    meta = {
        "trainable_percent": 0.323,
        "heldout_before": {"loss": 5.27},
        "training": {"steps": 500, "seconds": 90.0, "curve": curve},
    }
    lines = curves_markdown({"LoRA": ModuleRecord.from_json(meta, "debias.json")})
    assert "| module | trainable % | steps | seconds | before | 250 | 500 | flat |" in lines
    assert "| LoRA | 0.323 | 500 | 90.0 | 5.270 | 5.100 | 5.050 | yes |" in lines
    assert curves_markdown({}) == []
