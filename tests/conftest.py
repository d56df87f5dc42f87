"""Shared fixtures: the real data directory and tiny model checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from peftdebias.testing import save_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


def _real_data_dir() -> Path | None:
    candidate = os.environ.get("PEFTDEBIAS_DATA_DIR") or REPO_ROOT.parent / "shared" / "data"
    path = Path(candidate)
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data directory (../shared/data or $PEFTDEBIAS_DATA_DIR); skip when absent."""
    path = _real_data_dir()
    if path is None:
        pytest.skip(
            "real data directory not found: set PEFTDEBIAS_DATA_DIR or put shared/ beside the repo"
        )
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """Folder of a tiny random BERT masked-LM with the MiniLM tokenizer."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-bert"), "bert")


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> Path:
    """Folder of a tiny random RoBERTa masked-LM with the MiniLM tokenizer."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-roberta"), "roberta")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test that uses the real data directory ``real_data`` (``-m "not
    real_data"`` runs the rest, which need nothing beyond the installed packages)."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_data)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line: how many tests needed the real data, and how they ended."""
    outcomes: dict[str, int] = {}
    total = 0
    for status in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(status, []):
            if "real_data" in getattr(report, "keywords", {}) and report.when in (
                "call",
                "setup",
            ):
                if report.when == "setup" and status == "passed":
                    continue  # counted at its call
                outcomes[status] = outcomes.get(status, 0) + 1
                total += 1
    where = _real_data_dir()
    found = f"found at {where}" if where else "not found (set PEFTDEBIAS_DATA_DIR)"
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())) or "none run"
    terminalreporter.write_line(f"real-data tests ({found}): {total}: {counts}")
