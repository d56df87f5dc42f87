"""Typed result records (``peftdebias.records``) and the registries the report reads: clear
errors for a missing or renamed key, round trips, every committed result file read and written
back byte for byte, the report of committed cells equal to the one the dict-based report wrote
(``tests/data/report_subset``), and a registered metric or Table 1 column showing up in the
tables."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from peftdebias.errors import ConfigError
from peftdebias.experiments.collect import collect
from peftdebias.experiments.records import CellRecord, Manifest, ModuleRecord
from peftdebias.experiments.report import write_report
from peftdebias.intrinsic import registry as intrinsic_registry
from peftdebias.intrinsic.results import IntrinsicCellFile, IntrinsicResult
from peftdebias.metrics import registry
from peftdebias.metrics.intervals import Interval
from peftdebias.metrics.results import (
    ClassificationRecord,
    FprdRecord,
    MetricsFile,
    SplitMetrics,
    SplitResult,
    TermRow,
)
from peftdebias.records import ResultsFormatError

REPO = Path(__file__).resolve().parents[1]
POWERED = REPO / "results" / "powered"
SUBSET_DATA = Path(__file__).parent / "data" / "report_subset"  # frozen manifest, golden report
RECORDS = {
    "metrics.json": MetricsFile,
    "intrinsic.json": IntrinsicCellFile,
    "cell.json": CellRecord,
    "debias.json": ModuleRecord,
    "manifest.json": Manifest,
}
# committed cells of the powered grid behind the golden report: several seeds, single runs
# (stored bootstrap intervals), both tasks, intrinsic cells with per-item scores, a skipped
# head-only cell and two upstream modules
SUBSET = (
    "intrinsic/base",
    "intrinsic/head-group-ghc",
    "intrinsic/adapter-group-ghc-s42",
    "upstream/adapter-group-ghc-s42",
    "upstream/lora-group-ghc-s42",
    "downstream/ghc/ft/s42",
    "downstream/ghc/ft/s43",
    "downstream/ghc/adapter-group-ghc-s42/s42",
    "downstream/ghc/adapter-group-ghc-s42/s43",
    "downstream/ghc/prompt-group-ghc-s42/s42",
    "downstream/stormfront/ft/s42",
    "downstream/stormfront/adapter-group-ghc-s42/s42",
)


def subset_store(folder: Path) -> Path:
    """A results store of the :data:`SUBSET` cells of ``results/powered`` (finished cells do
    not change) with the frozen manifest of those cells."""
    for cid in SUBSET:
        shutil.copytree(POWERED / cid, folder / cid)
    shutil.copy(SUBSET_DATA / "manifest.json", folder / "manifest.json")
    return folder


def _split(**metrics) -> dict:
    return {"test": {"n": 4, "metrics": metrics}}


def _write(folder: Path, data: dict) -> Path:
    path = folder / "metrics.json"
    path.write_text(json.dumps(data))
    return path


# --- errors -------------------------------------------------------------------------------


def test_a_missing_key_names_the_file_and_the_key_path(tmp_path):
    path = _write(tmp_path, {"splits": _split(fprd={"overall_fpr": 0.1})})
    with pytest.raises(ResultsFormatError) as caught:
        MetricsFile.load(path)
    message = str(caught.value)
    assert str(path) in message and "'splits.test.metrics.fprd.fprd'" in message
    assert "FprdRecord.fprd" in message and "'overall_fpr'" in message


def test_a_renamed_key_is_named_with_the_key_found_instead(tmp_path):
    classification = {"acuracy": 0.9, "macro_f1": 0.8}
    path = _write(tmp_path, {"splits": _split(classification=classification)})
    with pytest.raises(ResultsFormatError, match=r"classification\.accuracy'.*'acuracy'.*renamed"):
        MetricsFile.load(path)
    with pytest.raises(ResultsFormatError, match=r"metrics\.json: key 'splits': missing"):
        MetricsFile.load(_write(tmp_path, {"split": {}}))


def test_a_value_of_the_wrong_type_is_named(tmp_path):
    path = _write(tmp_path, {"splits": _split(fprd={"fprd": "high"})})
    with pytest.raises(
        ResultsFormatError, match=r"'splits.test.metrics.fprd.fprd': expected a number"
    ):
        MetricsFile.load(path)
    with pytest.raises(ResultsFormatError, match=r"intervals.fprd.fprd.low'.*missing"):
        SplitResult.from_json(
            {"metrics": {}, "intervals": {"fprd.fprd": {"estimate": 1.0}}}, "x.json"
        )
    with pytest.raises(ResultsFormatError, match="cannot read"):
        MetricsFile.load(tmp_path / "absent.json")


def test_the_report_stops_at_a_renamed_key_instead_of_an_empty_cell(tmp_path):
    store = subset_store(tmp_path / "store")
    path = store / "downstream/ghc/ft/s43/metrics.json"
    data = json.loads(path.read_text())
    test = data["splits"]["test"]["metrics"]["fprd"]
    test["fprd_value"] = test.pop("fprd")
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsFormatError, match=r"ft/s43/metrics\.json: key .*'fprd_value'"):
        collect(store)


# --- round trips ----------------------------------------------------------------------------


def test_built_records_round_trip():
    interval = Interval(30.0, 25.0, 35.0, "percentile bootstrap", 100, n_resamples=1000)
    fprd = FprdRecord(30.0, 0.1, per_term=[TermRow("gay", 5, 3, 1, 1 / 3, 0.2)])
    split = SplitResult(
        SplitMetrics(classification=ClassificationRecord(0.9, 0.8), fprd=fprd),
        n=100,
        intervals={"fprd.fprd": interval},
    )
    metrics = MetricsFile({"test": split}, task="ghc", selection_metric="macro_f1")
    data = metrics.to_json()
    assert data["splits"]["test"]["metrics"]["fprd"]["per_term"][0]["term"] == "gay"
    assert "tpr-gap" not in data["splits"]["test"]["metrics"]  # unset: not written
    again = MetricsFile.from_json(json.loads(json.dumps(data)))
    assert again == metrics and again.to_json() == data
    assert again.splits["test"].interval(("fprd", "fprd")) == interval
    assert again.splits["test"].metrics.lookup(("fprd", "per_term")) == fprd.per_term


def test_unknown_keys_and_key_order_are_kept():
    data = {"z": 1, "splits": {}, "a": [1, {"b": None}], "task": None, "selection_metric": "f1"}
    metrics = MetricsFile.from_json(data)
    assert metrics.extra == {"z": 1, "a": [1, {"b": None}]} and metrics.task_metric == "f1"
    assert list(metrics.to_json()) == list(data) and metrics.to_json() == data


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_committed_result_file_loads_and_writes_back_byte_identical(name):
    paths = sorted((REPO / "results").rglob(name))
    assert paths or name != "metrics.json"
    for path in paths:
        record = RECORDS[name].load(path)
        text = json.dumps(record.to_json(), indent=2, sort_keys=False, default=str) + "\n"
        assert text == path.read_text(encoding="utf-8"), path
        assert RECORDS[name].from_json(record.to_json()) == record


def test_committed_intrinsic_results_are_typed():
    record = IntrinsicCellFile.load(POWERED / "intrinsic/base/intrinsic.json")
    race = record.bias_types["race"]
    assert isinstance(race, IntrinsicResult) and race.head_trained
    assert race.crows.n == 515 and race.stereoset.by_domain["race"].ss == race.stereoset.overall.ss
    assert len(race.seat.absolute_effect_sizes()) == len(race.seat.tests)
    assert (
        IntrinsicCellFile.load(POWERED / "intrinsic/head-group-ghc/intrinsic.json").bias_types
        is None
    )


# --- the report -----------------------------------------------------------------------------


def test_report_of_committed_cells_equals_the_dict_based_report(tmp_path):
    """``tests/data/report_subset/golden`` was written from the same cells by the report
    before it read typed records (commit 34d614d); the FPR-IPTTS column was added later
    (the files then differed only by that column), then the efficacy section and
    ``efficacy.csv`` (report.md then differed only by that section)."""
    store = subset_store(tmp_path / "store")
    out = tmp_path / "report"
    write_report(store, out)
    assert sorted(SUBSET_DATA.glob("golden/*"))
    for golden in sorted(SUBSET_DATA.glob("golden/*")):
        assert (out / golden.name).read_text() == golden.read_text(), golden.name


def test_committed_results_rebuild_the_report(tmp_path):
    report = write_report(POWERED, tmp_path)
    rows = list(csv.DictReader((tmp_path / "table2_extrinsic.csv").open()))
    ft = next(r for r in rows if (r["row"], r["task"], r["metric"]) == ("FT", "ghc", "FPRD"))
    values = [
        MetricsFile.load(POWERED / f"downstream/ghc/ft/s{seed}/metrics.json")
        .splits["test"]
        .metrics.fprd.fprd
        for seed in ft["seeds"].split()
    ]
    assert float(ft["mean"]) == pytest.approx(sum(values) / len(values))
    results = (tmp_path / "results.md").read_text()
    assert "| row | F1 | paper F1 | FPRD |" in results and "## Goal check" in results
    assert "(results store:" in results and tmp_path / "results.md" in report.files


# --- registries -----------------------------------------------------------------------------


def test_a_registered_metric_shows_up_as_a_column(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_METRICS", list(registry._METRICS))
    registry.register(
        registry.ReportedMetric("FPR", "test", ("fprd", "overall_fpr"), registry.LOWER, paper="F1")
    )
    store = subset_store(tmp_path / "store")
    report = write_report(store, tmp_path / "out")
    ghc = report.markdown.split("### ghc (in-domain)")[1]
    assert (
        "| row | F1 | FPRD | FPRD-IPTTS | FPR-IPTTS (all terms) | FPRD (ref. code) "
        "| FPRD-IPTTS (ref. code) | FPR |" in ghc
    )
    fpr = [
        MetricsFile.load(store / f"downstream/ghc/ft/s{s}/metrics.json")
        .splits["test"]
        .metrics.fprd.overall_fpr
        for s in (42, 43)
    ]
    rows = {
        (r["row"], r["task"], r["metric"]): r
        for r in csv.DictReader((tmp_path / "out" / "table2_extrinsic.csv").open())
    }
    assert float(rows[("FT", "ghc", "FPR")]["mean"]) == pytest.approx(sum(fpr) / 2)
    assert "| FPR | paper F1 |" in (tmp_path / "out" / "results.md").read_text()


def test_a_metric_path_must_follow_the_records(monkeypatch):
    monkeypatch.setattr(registry, "_METRICS", list(registry._METRICS))
    with pytest.raises(ConfigError, match=r"fprd\.fprd_value is no field"):
        registry.register(registry.ReportedMetric("X", "test", ("fprd", "fprd_value"), "lower"))
    with pytest.raises(ConfigError, match="registered already"):
        registry.register(registry.ReportedMetric("FPRD", "test", ("fprd", "fprd"), "lower"))
    assert registry.goal_metrics() == ("FPRD", "FPRD-IPTTS")


def test_a_table1_column_shows_up(tmp_path, monkeypatch):
    monkeypatch.setattr(intrinsic_registry, "_COLUMNS", list(intrinsic_registry._COLUMNS))
    intrinsic_registry.register_column(
        intrinsic_registry.TableColumn(
            "ICAT", "stereoset", lambda r, b: r.stereoset.overall.icat, lambda cell, value: None
        )
    )
    store = subset_store(tmp_path / "store")
    report = write_report(store, tmp_path / "out")
    assert "| model | race SS LM | race SS | race CrowS | race SEAT ES | race ICAT |" in (
        report.markdown
    )
    base = IntrinsicCellFile.load(store / "intrinsic/base/intrinsic.json")
    assert f"| {base.bias_types['race'].stereoset.overall.icat:.3f} |" in report.markdown
