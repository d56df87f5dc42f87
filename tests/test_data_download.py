"""Downloading missing files: against a local HTTP server on 127.0.0.1, never the internet."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from peftdebias.data import get_source, load
from peftdebias.data.download import DATA_URL_ENV, fetch, parse_sha256sums, sha256_of
from peftdebias.data.registry import DataSource
from peftdebias.data.tables import to_dataset
from peftdebias.errors import DataError
from test_data_support import isolate, refused_url


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated download cache; downloads go to a refused local port unless a test says so."""
    return isolate(tmp_path, monkeypatch)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (random port); yields (folder, base URL)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _toy_source(content: bytes) -> DataSource:
    return DataSource(
        name="toy",
        description="toy set for download tests",
        kind="text",
        files={"test": "toy/lines.txt"},
        loader=lambda path, split: to_dataset({"text": path.read_text().splitlines()}, split),
        columns=("text",),
        source="the toy repository",
        sha256={"toy/lines.txt": hashlib.sha256(content).hexdigest()},
    )


def test_download_from_mirror_into_cache(cache, mirror, monkeypatch, data_dir, tmp_path):
    folder, base = mirror
    (folder / "ghc").mkdir()
    shutil.copy(data_dir / "ghc" / "dev.tsv", folder / "ghc" / "dev.tsv")
    monkeypatch.setenv(DATA_URL_ENV, base)
    empty = tmp_path / "data"
    empty.mkdir()
    dataset = load("ghc", "dev", empty)
    assert len(dataset) == 2755
    cached = cache / "ghc" / "dev.tsv"
    assert sha256_of(cached) == get_source("ghc").sha256["ghc/dev.tsv"]
    assert sorted(path.name for path in cached.parent.iterdir()) == ["dev.tsv"]  # no temp left
    # Second load: served from the cache, the mirror is no longer needed.
    (folder / "ghc" / "dev.tsv").unlink()
    assert len(load("ghc", "dev", empty)) == 2755


def test_fetch_parameters_override_environment(mirror, tmp_path):
    folder, base = mirror
    content = b"alpha\nbeta\n"
    (folder / "toy").mkdir()
    (folder / "toy" / "lines.txt").write_bytes(content)
    path = fetch(_toy_source(content), "test", None, base_url=base, cache_dir=tmp_path / "c")
    assert path == tmp_path / "c" / "toy" / "lines.txt" and path.read_bytes() == content


def test_checksum_mismatch_leaves_nothing(mirror, tmp_path):
    folder, base = mirror
    (folder / "toy").mkdir()
    (folder / "toy" / "lines.txt").write_bytes(b"tampered\n")
    cache = tmp_path / "c"
    with pytest.raises(DataError, match="does not match the expected") as info:
        fetch(_toy_source(b"original\n"), "test", None, base_url=base, cache_dir=cache)
    assert "toy/lines.txt" in str(info.value)
    assert not any(path.is_file() for path in cache.rglob("*"))


def test_http_error_is_reported(mirror, tmp_path):
    _, base = mirror  # the file is not on the server: 404
    with pytest.raises(DataError, match=r"downloading .*toy/lines.txt failed \(File not found\)"):
        fetch(_toy_source(b"x"), "test", tmp_path, base_url=base, cache_dir=tmp_path / "c")


def test_offline_error_names_file_directory_and_origin(cache, tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        load("gap", "validation", empty)
    message = str(info.value)
    assert "gap/gap-validation.tsv" in message
    assert f"in data directory {empty}" in message and str(cache) in message
    assert "Connection refused" in message
    assert "google-research-datasets/gap-coreference" in message
    assert not (cache / "gap" / "gap-validation.tsv").exists()


def test_refused_port_without_environment(tmp_path):
    with pytest.raises(DataError, match=r"file toy/lines.txt not found \(no --data-dir"):
        fetch(_toy_source(b"x"), "test", None, base_url=refused_url(), cache_dir=tmp_path)


DOWNLOADABLE = ("ghc", "ghc-full", "stormfront", "founta", "iptts", "mnli", "snli", "gap")
DOWNLOADABLE += ("winobias", "wikitext-2")


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_registered_urls_are_pinned_and_checksummed(name):
    source = get_source(name)
    relatives = {relative for split in source.splits for relative in source.candidates(split)}
    assert set(source.urls) == relatives == set(source.sha256)
    for url in source.urls.values():
        assert url.startswith("https://github.com/") and "/raw/" in url, url


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_checksums_match_the_real_files(data_dir, name):
    for relative, digest in get_source(name).sha256.items():
        assert sha256_of(data_dir / relative) == digest, relative


def test_parse_sha256sums():
    text = f"{'a' * 64}  ghc/dev.tsv\n{'b' * 64}  nli/snli.tsv\n"
    assert parse_sha256sums(text) == {"ghc/dev.tsv": "a" * 64, "nli/snli.tsv": "b" * 64}
