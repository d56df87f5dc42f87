"""Downloading a missing data file from its original public source, checksum-verified.

A file missing from the data directory is looked up in the cache (``$PEFTDEBIAS_CACHE``,
default ``~/.cache/peftdebias``, laid out like the data directory) and otherwise downloaded
there from the raw GitHub URL of the repository and commit it was published at
(``DataSource.urls``). The download is streamed to a temporary file, its SHA-256 compared
with ``DataSource.sha256`` and only then renamed into place, so the cache never holds a
partial or corrupted file.

``$PEFTDEBIAS_DATA_URL`` (or ``base_url=``) replaces the original URLs by a mirror laid out
like the data directory: ``{base_url}/{relative path}``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from ..io import atomic_open
from .paths import DATA_DIR_ENV, resolve_cache_dir

if TYPE_CHECKING:
    from .registry import DataSource

DATA_URL_ENV = "PEFTDEBIAS_DATA_URL"
_CHUNK = 1 << 16


def github_raw(repo: str, commit: str, path: str) -> str:
    """URL of ``path`` in GitHub repository ``repo`` (owner/name) at ``commit``."""
    return f"https://github.com/{repo}/raw/{commit}/{path}"


def pinned(repo: str, commit: str, files: dict[str, str]) -> dict[str, str]:
    """``{relative path: path in repo}`` -> ``DataSource.urls`` for ``repo`` at ``commit``."""
    return {relative: github_raw(repo, commit, remote) for relative, remote in files.items()}


def parse_sha256sums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``<hex>  <relative path>`` per line) -> ``{path: hex}``."""
    sums = {}
    for line in text.strip().splitlines():
        digest, relative = line.split()
        sums[relative] = digest
    return sums


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    source: DataSource,
    split: str,
    root: Path | None,
    *,
    base_url: str | None = None,
    cache_dir: Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``source``'s file for ``split`` into the cache and return its path.

    Raises :class:`DataError` naming the expected file, the directory searched and where to
    get the file when there is no URL, the connection fails or the checksum differs.
    """
    relative = source.candidates(split)[0]
    cache = cache_dir if cache_dir is not None else resolve_cache_dir()
    target = cache / relative
    if target.is_file():
        return target
    base_url = base_url if base_url is not None else os.environ.get(DATA_URL_ENV) or None
    url = f"{base_url.rstrip('/')}/{relative}" if base_url else source.urls.get(relative)
    where = f"in data directory {root}" if root else f"(no --data-dir or ${DATA_DIR_ENV} given)"
    missing = f"data set {source.name!r}: file {relative} not found {where} nor in cache {cache}"
    get_it = f"get it from {source.source} and pass its directory with --data-dir"
    if url is None:
        raise DataError(f"{missing}; {get_it}")
    try:
        _download(url, target, source.sha256.get(relative), timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"{missing}; downloading {url} failed ({reason}); {get_it}") from exc
    return target


def _download(url: str, target: Path, expected: str | None, timeout: float) -> None:
    """Stream ``url`` to ``target`` atomically; a checksum mismatch leaves nothing behind."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_open(target, "wb") as out:
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        if expected is not None and digest.hexdigest() != expected:
            raise DataError(
                f"{url}: SHA-256 {digest.hexdigest()} does not match the expected {expected}; "
                f"the file was not saved to {target}"
            )
