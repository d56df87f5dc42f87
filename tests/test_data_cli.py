"""``peftdebias data list|fetch`` and the inventory behind it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from peftdebias.cli import main
from peftdebias.data import format_inventory, inventory
from test_data_support import isolate


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated download cache; downloads go to a refused local port unless a test says so."""
    return isolate(tmp_path, monkeypatch)


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.split()[0] == name)


@pytest.fixture(scope="module")
def real_inventory(data_dir):
    """Inventory of the real data directory, computed once (it loads every set)."""
    return inventory(data_dir)


def test_list_real_data(real_inventory):
    output = format_inventory(real_inventory)
    assert "train=22042 dev=2755 test=2756" in _row(output, "ghc")
    assert "test=76564" in _row(output, "iptts")
    assert "dev=2000 test=2000 validation=454" in _row(output, "gap")
    assert "8/8 splits, 3168 rows" in _row(output, "winobias")
    assert _row(output, "bias-in-bios").split()[1] == "missing"
    assert "LabHC/bias_in_bios" in output  # where to get the missing set


def test_inventory_finds_every_folder_of_the_data_dir(data_dir, real_inventory):
    statuses = real_inventory
    used = {
        split.path.relative_to(data_dir).parts[0]
        for status in statuses
        for split in status.splits
        if split.path is not None
    }
    folders = {path.name for path in data_dir.iterdir() if path.is_dir()}
    assert folders <= used, f"folders no registered data set reads: {sorted(folders - used)}"
    assert not [status.source.name for status in statuses if status.status == "error"]


def test_list_partial_and_broken_sets(data_dir, tmp_path, capsys):
    (tmp_path / "ghc").mkdir()
    shutil.copy(data_dir / "ghc" / "dev.tsv", tmp_path / "ghc" / "dev.tsv")
    (tmp_path / "nli").mkdir()
    (tmp_path / "nli" / "snli.tsv").write_text("entailment\tonly two fields\n")
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert _row(output, "ghc").split()[1:3] == ["partial", "train=missing"]
    assert "dev=2755 test=missing" in _row(output, "ghc")
    assert _row(output, "snli").split()[1] == "error"
    assert "error: snli test:" in output and "expected 3 tab-separated fields" in output
    assert _row(output, "gap").split()[1] == "missing"


def test_list_without_counting(data_dir, capsys):
    assert main(["data", "list", "--no-count", "--data-dir", str(data_dir)]) == 0
    assert "train=found dev=found test=found" in _row(capsys.readouterr().out, "ghc")


def test_list_bad_data_dir(tmp_path, capsys):
    assert main(["data", "list", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "data directory" in capsys.readouterr().err


def test_fetch_command_reports_paths_and_offline_error(data_dir, tmp_path, capsys):
    assert main(["data", "fetch", "snli", "--data-dir", str(data_dir)]) == 0
    assert f"snli test: {data_dir / 'nli' / 'snli.tsv'}" in capsys.readouterr().out
    assert main(["data", "fetch", "snli", "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "nli/snli.tsv not found" in error and "jind11/TextFooler" in error
