"""Shared helpers of the data tests: isolation from the network and the user's cache."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from peftdebias.data.download import DATA_URL_ENV
from peftdebias.data.paths import CACHE_ENV, DATA_DIR_ENV


def refused_url() -> str:
    """``http://127.0.0.1:PORT`` on a port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty cache under tmp_path, downloads pointed at a refused local port; returns the cache.

    Each data test module wraps this in an autouse fixture, so no test reads the user's cache
    or reaches the internet.
    """
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.setenv(DATA_URL_ENV, refused_url())
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    return cache
