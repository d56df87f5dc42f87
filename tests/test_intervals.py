"""Confidence intervals and paired comparisons (peftdebias.metrics.intervals): known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from peftdebias.intrinsic.stereoset import term_scores
from peftdebias.metrics import MetricOptions, compute_metrics
from peftdebias.metrics.classification import classification_scores
from peftdebias.metrics.fprd import fprd
from peftdebias.metrics.gap import gap_scores
from peftdebias.metrics.intervals import (
    Interval,
    accuracy_interval,
    bootstrap_interval,
    bootstrap_patterns,
    crows_interval,
    fprd_interval,
    gap_intervals,
    macro_f1_interval,
    paired_comparison,
    prediction_intervals,
    stereoset_intervals,
    t_interval,
    tpr_gap_interval,
    wilson_interval,
)
from peftdebias.metrics.predictions import Predictions
from peftdebias.metrics.terms import term_matrix
from peftdebias.metrics.tpr_gap import tpr_gap


def _labels(n: int, seed: int = 0, accuracy: float = 0.8, classes: int = 2):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, classes, n)
    wrong = rng.random(n) > accuracy
    pred = np.where(wrong, (gold + 1) % classes, gold)
    return gold, pred


def test_bootstrap_of_a_constant_has_zero_width():
    gold, pred = _labels(50)
    interval = bootstrap_interval(lambda g, p: 0.7, gold, pred, n_resamples=200)
    assert interval.estimate == interval.low == interval.high == 0.7
    assert interval.half_width == 0 and not interval.excludes(0.7) and interval.excludes(0)
    perfect = accuracy_interval(gold, gold, n_resamples=200)
    assert perfect.estimate == perfect.low == perfect.high == 1.0
    same = fprd_interval(np.zeros(40, int), np.zeros(40, int), np.ones((40, 3), bool))
    assert same.estimate == same.low == same.high == 0.0


def test_accuracy_interval_has_the_binomial_width_and_is_seeded():
    gold, pred = _labels(2000, accuracy=0.8)
    interval = accuracy_interval(gold, pred, n_resamples=2000, seed=1)
    p = float((gold == pred).mean())
    expected = 1.959964 * math.sqrt(p * (1 - p) / len(gold))
    assert interval.estimate == pytest.approx(p)
    assert interval.half_width == pytest.approx(expected, rel=0.1)
    assert interval.low < p < interval.high
    assert accuracy_interval(gold, pred, n_resamples=2000, seed=1) == interval
    assert accuracy_interval(gold, pred, n_resamples=2000, seed=2) != interval


def test_vectorised_bootstrap_agrees_with_the_generic_one():
    gold, pred = _labels(400, seed=3, accuracy=0.7, classes=3)
    fast = macro_f1_interval(gold, pred, n_resamples=2000, seed=0)
    slow = bootstrap_interval(
        lambda g, p: classification_scores(g, p).macro_f1, gold, pred, n_resamples=300, seed=0
    )
    assert fast.estimate == pytest.approx(classification_scores(gold, pred).macro_f1)
    assert fast.estimate == slow.estimate
    assert fast.low == pytest.approx(slow.low, abs=0.02)
    assert fast.high == pytest.approx(slow.high, abs=0.02)


def test_pattern_bootstrap_checks_its_inputs():
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_patterns(lambda c, u: c.sum(1), np.zeros(3), n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        accuracy_interval([0, 1], [0, 1], confidence=1.5)


def test_fprd_and_tpr_gap_intervals_reproduce_the_metrics():
    rng = np.random.default_rng(5)
    words = ["muslim", "jew", "gay", "black", "the"]
    texts = [" ".join(rng.choice(words, 3)) for _ in range(300)]
    gold, pred = _labels(300, seed=5, accuracy=0.75)
    terms = ["muslim", "jew", "gay", "black"]
    metric = fprd(texts, gold, pred, terms)
    interval = fprd_interval(gold, pred, term_matrix(texts, terms), n_resamples=300)
    assert interval.estimate == pytest.approx(metric.fprd)
    assert interval.low < metric.fprd < interval.high and interval.undefined == 0
    attribute = rng.choice(["m", "f"], 300)
    gap = tpr_gap_interval(gold, pred, attribute, n_resamples=300)
    assert gap.estimate == pytest.approx(tpr_gap(gold, pred, attribute).rms)
    assert gap.low <= gap.estimate <= gap.high


def test_gap_and_stereoset_intervals_reproduce_the_metrics():
    rng = np.random.default_rng(7)
    gold, pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    pronouns = rng.choice(["he", "she", "his", "her"], 200)
    scores = gap_scores(gold, pred, pronouns)
    intervals = gap_intervals(gold, pred, pronouns, n_resamples=200)
    assert intervals["f1"].estimate == pytest.approx(scores.f1("overall"))
    assert intervals["bias"].estimate == pytest.approx(scores.bias)
    items = [
        {"target": f"t{i % 7}", "bias_type": "race",
         "scores": dict(zip(("stereotype", "anti_stereotype", "unrelated"), rng.random(3),
                            strict=True))}
        for i in range(150)
    ]  # fmt: skip
    expected = term_scores(items)
    found = stereoset_intervals(items, n_resamples=300)
    assert found["ss"].estimate == pytest.approx(expected["ss"])
    assert found["lms"].estimate == pytest.approx(expected["lms"])
    assert found["ss"].low < expected["ss"] < found["ss"].high


def test_t_interval_matches_scipy():
    values = [0.61, 0.64, 0.59, 0.66, 0.62]
    interval = t_interval(values)
    low, high = stats.t.interval(
        0.95, df=len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))
    assert interval.estimate == pytest.approx(np.mean(values)) and interval.n == 5
    one = t_interval([0.5])
    assert one.estimate == 0.5 and one.low is None and not one.excludes(0)


def test_paired_comparison_matches_ttest_rel():
    ft = {1: 10.0, 2: 12.5, 3: 9.0, 4: 11.0, 5: 13.0}
    module = {1: 8.0, 2: 11.0, 3: 8.5, 4: 8.0, 5: 12.0, 6: 1.0}  # seed 6 has no FT pair
    comparison = paired_comparison(module, ft)
    seeds = [1, 2, 3, 4, 5]
    expected = stats.ttest_rel([module[s] for s in seeds], [ft[s] for s in seeds])
    assert comparison.p_value == pytest.approx(expected.pvalue)
    assert comparison.seeds == tuple(seeds)
    differences = [module[s] - ft[s] for s in seeds]
    low, high = stats.t.interval(0.95, df=4, loc=np.mean(differences), scale=stats.sem(differences))
    assert comparison.difference.estimate == pytest.approx(np.mean(differences))
    assert (comparison.difference.low, comparison.difference.high) == (
        pytest.approx(low), pytest.approx(high),
    )  # fmt: skip
    # p < 0.05 exactly when the 95 % interval of the difference excludes zero
    assert comparison.significant == (expected.pvalue < 0.05) == comparison.difference.excludes(0)
    assert paired_comparison({1: 1.0}, {1: 0.5}).p_value is None  # one pair
    constant = paired_comparison({1: 1.0, 2: 2.0}, {1: 0.5, 2: 1.5})
    assert constant.p_value is None and not constant.significant


def test_crows_binomial_interval_half_width_about_six_points_for_262_pairs():
    interval = crows_interval({"stereo_preferred": 100, "antistereo_preferred": 31, "n": 262})
    assert interval.estimate == pytest.approx(50.0)
    assert 5.8 < interval.half_width < 6.2
    assert interval.low < 50 < interval.high and not interval.excludes(50)
    edge = wilson_interval(0, 20)
    assert edge.low == pytest.approx(0.0, abs=1e-12) and 0 < edge.high < 0.2  # stays in [0, 1]


def test_interval_round_trips_and_formats():
    interval = Interval(0.5, 0.4, 0.6, "t over seeds", 3)
    assert Interval.from_dict(interval.to_dict()) == interval
    assert interval.format(2) == "0.50 [0.40, 0.60]"
    assert Interval(None, None, None, "x", 0).format() == "–"


def test_prediction_intervals_cover_every_headline_number():
    rng = np.random.default_rng(11)
    gold, pred = _labels(240, seed=11, accuracy=0.7)
    rows = [
        {"id": i, "gold": int(g), "pred": int(p), "probs": [0.4, 0.6] if p else [0.6, 0.4],
         "text": f"{rng.choice(['the muslim', 'a jew', 'gay folks', 'nobody'])} said {i}",
         "attribute": ["male", "female"][i % 2]}
        for i, (g, p) in enumerate(zip(gold, pred, strict=True))
    ]  # fmt: skip
    predictions = Predictions(rows=rows, lines=list(range(1, 241)))
    options = MetricOptions(terms=["muslim", "jew", "gay"], terms_source="test")
    results = compute_metrics(predictions, options=options)
    found = prediction_intervals(predictions, results, options, n_resamples=200)
    assert {"classification.accuracy", "classification.macro_f1", "tpr-gap.tpr_gap_rms",
            "fprd.fprd"} <= set(found)  # fmt: skip
    metrics = results["metrics"]
    assert found["fprd.fprd"]["estimate"] == pytest.approx(metrics["fprd"]["fprd"])
    assert found["classification.macro_f1"]["estimate"] == pytest.approx(
        metrics["classification"]["macro_f1"]
    )
    for interval in found.values():
        assert interval["low"] <= interval["estimate"] <= interval["high"]


def test_fprd_bootstrap_reports_the_upward_bias_of_pure_noise():
    rng = np.random.default_rng(3)
    texts = [f"{rng.choice(['muslim', 'jew', 'gay', 'christian'])} said {i}" for i in range(400)]
    gold, pred = rng.integers(0, 2, 400), rng.integers(0, 2, 400)  # pred ignores the terms
    terms = ["muslim", "jew", "gay", "christian"]
    interval = fprd_interval(gold, pred, term_matrix(texts, terms), n_resamples=500)
    assert interval.estimate == pytest.approx(fprd(texts, gold, pred, terms).fprd)
    assert interval.bias > 0  # resampling inflates a sum of absolute differences


# --- the experiment report ------------------------------------------------------------------


def _fake_run(root, values: dict[str, dict[int, tuple[float, float]]], single: dict | None):
    """A finished grid folder: downstream cells of task ``toy`` with the given (F1, FPRD) per
    row and seed, and one intrinsic cell with CrowS counts."""
    import json

    cells = {}
    for method, by_seed in values.items():
        for seed, (f1, fprd_value) in by_seed.items():
            cid = f"downstream/toy/{method}/s{seed}"
            (root / cid).mkdir(parents=True)
            (root / cid / "cell.json").write_text("{}")
            classification = {"accuracy": f1, "macro_f1": f1}
            split = {"metrics": {"classification": classification, "fprd": {"fprd": fprd_value}}}
            if single and method in single:
                split["intervals"] = single[method]
            (root / cid / "metrics.json").write_text(
                json.dumps({"selection_metric": "macro_f1", "splits": {"test": split}})
            )
            cells[cid] = {
                "kind": "downstream",
                "status": "finished",
                "params": {
                    "task": "toy",
                    "axis": "group",
                    "role": "in-domain",
                    "method": method,
                    "module": "g",
                    "seed": seed,
                },
            }
    cid = "intrinsic/lora-g-s1"
    (root / cid).mkdir(parents=True)
    (root / cid / "cell.json").write_text("{}")
    crows = {"metric": 50.0, "stereo_preferred": 100, "antistereo_preferred": 31, "n": 262}
    (root / cid / "intrinsic.json").write_text(
        json.dumps({"bias_types": {"race": {"crows": crows}}})
    )
    cells[cid] = {
        "kind": "intrinsic",
        "status": "finished",
        "params": {"method": "lora", "axis": "group", "module": "g", "seed": 1},
    }
    manifest = {
        "name": "fake",
        "config": {"model": "m", "upstream": {"methods": ["lora"]}},
        "versions": {"peftdebias": "0"},
        "runs": [],
        "cells": cells,
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_report_gives_intervals_and_marks_only_differences_that_exclude_zero(tmp_path):
    import csv

    from peftdebias.experiments.report import write_report

    ft = {1: (0.60, 10.0), 2: (0.62, 12.0), 3: (0.61, 11.0), 4: (0.63, 11.5)}
    lora = {1: (0.61, 5.0), 2: (0.60, 6.5), 3: (0.62, 5.2), 4: (0.64, 6.0)}
    stored = {
        "classification.macro_f1": Interval(
            0.7, 0.65, 0.75, "percentile bootstrap", 500, n_resamples=1000
        ).to_dict()
    }
    run = _fake_run(
        tmp_path / "run", {"ft": ft, "lora": lora, "prefix": {1: (0.7, 9.0)}}, {"prefix": stored}
    )
    report = write_report(run, tmp_path / "out")
    rows = {
        (r["row"], r["metric"]): r
        for r in csv.DictReader((tmp_path / "out" / "table2_extrinsic.csv").open())
    }
    fprd_values = [v[1] for v in lora.values()]
    low, high = stats.t.interval(0.95, df=3, loc=np.mean(fprd_values), scale=stats.sem(fprd_values))
    row = rows[("LoRA", "FPRD")]
    assert float(row["ci_low"]) == pytest.approx(low) and float(row["ci_high"]) == pytest.approx(
        high
    )
    differences = [lora[s][1] - ft[s][1] for s in ft]
    assert float(row["diff_vs_ft"]) == pytest.approx(np.mean(differences))
    assert float(row["p_vs_ft"]) == pytest.approx(
        stats.ttest_rel([lora[s][1] for s in ft], [ft[s][1] for s in ft]).pvalue
    )
    assert row["significant"] == "True" and rows[("LoRA", "F1")]["significant"] == "False"
    # a single run shows the bootstrap interval its downstream run stored
    prefix = rows[("Prefix", "F1")]
    assert (float(prefix["ci_low"]), float(prefix["ci_high"])) == (0.65, 0.75)
    assert prefix["ci_method"] == "percentile bootstrap" and prefix["p_vs_ft"] == ""
    lines = report.markdown.split("## Table 2")[1].splitlines()
    lora_line = next(line for line in lines if line.startswith("| LoRA |"))
    assert f"{np.mean(fprd_values):.3f} [{low:.3f}, {high:.3f}]*" in lora_line
    f1_cell = lora_line.split(" | ")[1]
    assert f1_cell.startswith(f"{float(rows[('LoRA', 'F1')]['mean']):.3f} [")
    assert f1_cell.endswith("]")  # the F1 difference's interval includes zero: no mark
    assert "| Prefix | 0.700 [0.650, 0.750] |" in report.markdown
    assert "### Differences from FT (paired over seeds)" in report.markdown
    crows = next(r for r in csv.DictReader((tmp_path / "out" / "table1_intrinsic.csv").open()))
    assert crows["ci_method"].startswith("Wilson")
    assert 5.8 < (float(crows["ci_high"]) - float(crows["ci_low"])) / 2 < 6.2
