"""``peftdebias intrinsic`` end to end on tiny models and small slices of the real data."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from peftdebias.cli import main
from peftdebias.testing import minilm_tokenizer, tiny_config


@pytest.fixture(scope="module")
def small_data(data_dir, tmp_path_factory) -> Path:
    """12 CrowS-Pairs rows (gender and race-color), 12 StereoSet dev items, SEAT weat6."""
    root = tmp_path_factory.mktemp("intrinsic-data")
    (root / "crows_pairs").mkdir()
    source = data_dir / "crows_pairs" / "crows_pairs_anonymized.csv"
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    keep = [r for r in rows if r["bias_type"] == "gender"][:6]
    keep += [r for r in rows if r["bias_type"] == "race-color"][:6]
    with (root / "crows_pairs" / "crows_pairs_anonymized.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep)
    (root / "stereoset").mkdir()
    dev = json.loads((data_dir / "stereoset" / "dev.json").read_text())
    (root / "stereoset" / "dev.json").write_text(json.dumps(dev[:12]))
    (root / "seat").mkdir()
    shutil.copy(data_dir / "seat" / "weat6.jsonl", root / "seat" / "weat6.jsonl")
    return root


@pytest.fixture(scope="module")
def headless_model(tmp_path_factory) -> Path:
    """A tiny encoder checkpoint without any masked-LM head weights."""
    folder = tmp_path_factory.mktemp("headless")
    torch.manual_seed(0)
    AutoModel.from_config(tiny_config("bert")).save_pretrained(folder)
    minilm_tokenizer().save_pretrained(folder)
    return folder


def _run(model: Path, data: Path, output: Path, *extra: str) -> int:
    return main(
        [
            "intrinsic",
            "--model", str(model),
            "--benchmarks", "crows,stereoset,seat",
            "--seat-tests", "weat6",
            "--data-dir", str(data),
            "--output", str(output),
            "--batch-size", "8",
            *extra,
        ]
    )  # fmt: skip


def test_cli_writes_summary_and_details(tiny_bert, small_data, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(tiny_bert, small_data, out) == 0
    result = json.loads((out / "intrinsic.json").read_text())
    assert result["mlm_head"] == {"trained": True}
    assert result["crows"]["n"] == 12 and set(result["crows"]["by_bias_type"]) == {
        "gender",
        "race-color",
    }
    assert result["stereoset"]["overall"]["count"] == 12
    assert result["seat"]["tests"][0]["test"] == "weat6"
    assert result["runtime"]["crows"]["forward_calls"] >= 1
    assert len((out / "crows_scores.jsonl").read_text().splitlines()) == 12
    table = (out / "intrinsic.md").read_text()
    assert "## CrowS-Pairs" in table and "| weat6 |" in table
    assert "## StereoSet" in capsys.readouterr().out
    # an existing output is not overwritten without --overwrite
    assert _run(tiny_bert, small_data, out) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_bias_type_filters_each_benchmark(tiny_bert, small_data, tmp_path):
    out = tmp_path / "race"
    code = main(
        [
            "intrinsic", "--model", str(tiny_bert), "--benchmarks", "crows,stereoset",
            "--bias-type", "race", "--data-dir", str(small_data), "--output", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads((out / "intrinsic.json").read_text())
    assert result["crows"]["n"] == 6 and "by_bias_type" not in result["crows"]
    assert set(result["stereoset"]["by_domain"]) == {"race"}


def test_cli_warns_for_untrained_head(headless_model, small_data, tmp_path, caplog):
    out = tmp_path / "headless"
    assert _run(headless_model, small_data, out) == 0
    result = json.loads((out / "intrinsic.json").read_text())
    assert result["mlm_head"]["trained"] is False
    assert "NOT meaningful" in result["mlm_head"]["warning"]
    assert result["mlm_head"]["missing_keys"]
    assert "NOT meaningful" in caplog.text
    assert "Warning" in (out / "intrinsic.md").read_text()


def test_cli_bad_input(tiny_bert, small_data, tmp_path, capsys):
    assert _run(tiny_bert, small_data, tmp_path / "a", "--bias-type", "height") == 2
    assert "unknown bias type 'height'" in capsys.readouterr().err
    broken = tmp_path / "data"
    shutil.copytree(small_data, broken)
    csv_path = broken / "crows_pairs" / "crows_pairs_anonymized.csv"
    csv_path.write_text(csv_path.read_text().replace("sent_less", "sent_les", 1))
    assert _run(tiny_bert, broken, tmp_path / "b") == 2
    err = capsys.readouterr().err
    assert "crows_pairs_anonymized.csv: missing column(s) sent_less" in err
    assert not (tmp_path / "b" / "intrinsic.json").exists()


def test_cli_debias_module_and_full_model(tiny_bert, small_data, tmp_path):
    from peftdebias.methods import get_method
    from peftdebias.models import load_masked_lm

    method = get_method("lora")
    model = method.attach(load_masked_lm(tiny_bert)[0])
    module = method.save(model, tmp_path / "module")
    base, with_module, full = tmp_path / "base", tmp_path / "module-run", tmp_path / "full"
    assert _run(tiny_bert, small_data, base) == 0
    assert _run(tiny_bert, small_data, with_module, "--debias", str(module)) == 0
    assert _run(Path("minilm"), small_data, full, "--full-debias", str(tiny_bert)) == 0
    results = [json.loads((p / "intrinsic.json").read_text()) for p in (base, with_module, full)]
    assert results[1]["debias"] == str(module) and results[2]["full_debias"] == str(tiny_bert)
    # a fresh LoRA module starts as the identity (B = 0), and --full-debias loads that folder
    for other in results[1:]:
        assert other["crows"]["metric"] == results[0]["crows"]["metric"]
        assert other["stereoset"]["overall"] == results[0]["stereoset"]["overall"]


def test_cli_head_from_scores_the_base_model_with_a_trained_head(
    headless_model, tiny_bert, small_data, tmp_path
):
    """--head-from loads a saved MLM head (here a tiny masked LM's) onto a headless base
    model: it counts as trained; a folder without a head is a clear error (exit 2)."""
    from transformers import AutoModelForMaskedLM

    from peftdebias.training.heads import save_head

    donor = tmp_path / "donor"
    donor.mkdir()
    save_head(AutoModelForMaskedLM.from_pretrained(tiny_bert), donor / "mlm_head.safetensors")
    out = tmp_path / "head"
    assert _run(headless_model, small_data, out, "--head-from", str(donor)) == 0
    result = json.loads((out / "intrinsic.json").read_text())
    assert result["mlm_head"] == {"trained": True} and result["head_from"] == str(donor)
    assert _run(headless_model, small_data, tmp_path / "none", "--head-from", str(tmp_path)) == 2
