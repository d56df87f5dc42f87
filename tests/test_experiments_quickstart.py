"""Quickstart end to end on a tiny model with the real data, its missing-data error, and the
lazy public Python API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from peftdebias.cli import main
from peftdebias.experiments import QuickstartSizes, plan, quickstart, quickstart_config

TINY = QuickstartSizes(
    corpus_texts=300, head_warmup_steps=0, upstream_steps=2, upstream_batch=4,
    train_examples=48, eval_examples=40, iptts_examples=200, max_length=24,
)  # fmt: skip


def test_quickstart_config_is_the_issue_setup():
    cells = {c.id: c for c in plan(quickstart_config())}
    assert sorted(cells) == [
        "downstream/ghc/ft/s42",
        "downstream/ghc/lora-group-ghc-s42/s42",
        "intrinsic/base",
        "intrinsic/head-group-ghc",  # MiniLM's warmed-up head without the module
        "intrinsic/lora-group-ghc-s42",
        "upstream/lora-group-ghc-s42",
    ]
    up = cells["upstream/lora-group-ghc-s42"].params
    assert [up[k] for k in ("method", "axis", "corpus", "model")] == [
        "lora",
        "group",
        "ghc",
        "minilm",
    ]
    assert cells["intrinsic/lora-group-ghc-s42"].params["bias_types"] == ["race"]
    assert cells["intrinsic/lora-group-ghc-s42"].params["benchmarks"] == ["crows"]
    assert cells["intrinsic/head-group-ghc"].needs == ("upstream/lora-group-ghc-s42",)
    assert cells["downstream/ghc/ft/s42"].params["options"]["max_iptts_examples"] == 2000


def test_quickstart_end_to_end_on_a_tiny_model(tiny_bert, data_dir, tmp_path):
    out = tmp_path / "qs"
    result = quickstart(data_dir, out, str(tiny_bert), TINY)
    assert result.ok and result.failed == {}
    lines = result.table.splitlines()
    assert lines[0] == "### ghc (in-domain)"
    header = (
        "| row | F1 | FPRD | FPRD-IPTTS | FPR-IPTTS (all terms) | FPRD (ref. code) "
        "| FPRD-IPTTS (ref. code) |"
    )
    assert lines[2] == header
    lines = lines[2:]
    assert lines[2].startswith("| FT | ") and lines[3].startswith("| LoRA | ")
    assert "| model | race CrowS |" in result.table
    metrics = json.loads((out / "downstream/ghc/lora-group-ghc-s42/s42/metrics.json").read_text())
    f1 = metrics["splits"]["test"]["metrics"]["classification"]["macro_f1"]
    assert lines[3].split(" | ")[1].startswith(f"{f1:.3f} [")  # one seed: bootstrap interval
    assert metrics["splits"]["iptts"]["metrics"]["classification"]["n"] == 200
    assert metrics["train_examples"] == 48
    intrinsic = json.loads((out / "intrinsic/base/intrinsic.json").read_text())
    crows = intrinsic["bias_types"]["race"]["crows"]
    assert crows["n"] + len(crows["skipped"]) == 516  # CrowS-Pairs race-color pairs
    assert {p.name for p in result.plots} == {
        "fpr-terms-ghc-test.png", "fpr-terms-ghc-iptts.png", "score-vs-bias-ghc.png",
    }  # fmt: skip
    assert result.report.read_text().startswith("# Experiment report: quickstart")
    # re-running resumes: nothing left to do, same table
    again = quickstart(data_dir, out, str(tiny_bert), TINY)
    assert again.table == result.table


def test_quickstart_without_data_says_which_files_and_fails(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("PEFTDEBIAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PEFTDEBIAS_DATA_URL", "http://127.0.0.1:9")  # offline: refused
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "qs"
    assert main(["quickstart", "--data-dir", str(empty), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    for needed in ("ghc/train.tsv", "ghc/dev.tsv", "ghc/test.tsv", "iptts/bias_madlibs_77k.csv",
                   "crows_pairs/crows_pairs_anonymized.csv"):  # fmt: skip
        assert needed in err
    assert "--data-dir" in err and "McGill-NLP/bias-bench" in err
    assert not out.exists()


def test_public_api_is_lazy_and_complete():
    code = (
        "import sys, peftdebias as p; assert 'torch' not in sys.modules, 'eager torch';"
        "from peftdebias.upstream import train_upstream;"
        "assert p.train_upstream is train_upstream;"
        "names = ['UpstreamConfig', 'DownstreamConfig', 'train_downstream', 'IntrinsicConfig',"
        " 'evaluate_intrinsic', 'load_debiased_lm', 'compute_metrics', 'read_predictions',"
        " 'load_config', 'run_experiment', 'write_report', 'quickstart', 'run', 'report'];"
        "assert all(getattr(p, n).__doc__ for n in names), names;"
        "assert set(names) <= set(dir(p))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    import peftdebias

    with pytest.raises(AttributeError, match="nonexistent"):
        peftdebias.nonexistent  # noqa: B018
