"""Registry of named data sets.

Each data set is a :class:`DataSource`: the files it reads (relative to the data directory,
laid out like ``../shared/data``), where to get them, and one loader that returns a
``datasets.Dataset`` with normalised columns:

- classification sets: ``text`` (str), ``label`` (int), optional ``text_pair`` (str),
  ``attribute`` (protected attribute, str) and ``id`` (str);
- other kinds document their columns in ``DataSource.columns``.

The data directory is ``--data-dir`` when given, else ``$PEFTDEBIAS_DATA_DIR``. A file
missing there is looked up in the download cache (``$PEFTDEBIAS_CACHE``, default
``~/.cache/peftdebias``) and, failing that, downloaded (:mod:`peftdebias.data.download`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset

from ..errors import ConfigError
from .paths import resolve_cache_dir, resolve_data_dir

Loader = Callable[[Path, str], Dataset]


@dataclass(frozen=True)
class DataSource:
    """A named data set: its files per split, its loader and its provenance."""

    name: str
    description: str
    kind: str  # classification | pairs | coref | text | intrinsic | words
    # split -> path relative to the data directory, or a tuple of alternatives (first found wins)
    files: dict[str, str | tuple[str, ...]]
    loader: Loader  # (absolute file path, split) -> Dataset
    columns: tuple[str, ...]
    source: str  # human-readable origin (repository/paper), shown in errors
    urls: dict[str, str] = field(default_factory=dict)  # relative path -> download URL
    sha256: dict[str, str] = field(default_factory=dict)  # relative path -> checksum
    num_labels: int | None = None
    label_names: tuple[str, ...] | None = None
    attribute: str | None = None  # protected attribute axis, e.g. "gender"

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.files)

    def candidates(self, split: str) -> tuple[str, ...]:
        """Relative paths that may hold ``split``, preferred first."""
        if split not in self.files:
            raise ConfigError(
                f"data set {self.name!r} has no split {split!r}; splits: {', '.join(self.splits)}"
            )
        value = self.files[split]
        return (value,) if isinstance(value, str) else tuple(value)


_REGISTRY: dict[str, DataSource] = {}


def register(source: DataSource) -> DataSource:
    """Add ``source`` to the registry (names are unique)."""
    if source.name in _REGISTRY:
        raise ValueError(f"data set {source.name!r} is registered twice")
    _REGISTRY[source.name] = source
    return source


def _ensure_loaded() -> None:
    # Loader modules register themselves on import; importing the package imports them all.
    from . import sources  # noqa: F401


def list_sources() -> list[DataSource]:
    """All registered data sets, sorted by name."""
    _ensure_loaded()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_source(name: str) -> DataSource:
    """The data set called ``name``; a clear error lists the valid names otherwise."""
    _ensure_loaded()
    key = name.strip().lower().replace("_", "-")
    if key not in _REGISTRY:
        raise ConfigError(f"unknown data set {name!r}; valid names: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[key]


def find_file(
    source: DataSource, split: str, data_dir: str | os.PathLike | None = None
) -> Path | None:
    """Local path of ``source``'s file for ``split`` (data directory, then cache), or ``None``."""
    candidates = source.candidates(split)
    roots = [root for root in (resolve_data_dir(data_dir), resolve_cache_dir()) if root]
    for root in roots:
        for relative in candidates:
            if (root / relative).is_file():
                return root / relative
    return None


def locate(source: DataSource, split: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``source``'s file for ``split``, downloading it when missing and online."""
    found = find_file(source, split, data_dir)
    if found is not None:
        return found
    from .download import fetch  # local import: only needed when a file is missing

    return fetch(source, split, resolve_data_dir(data_dir))


def load(name: str, split: str = "train", data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load split ``split`` of the registered data set ``name`` as a ``datasets.Dataset``."""
    source = get_source(name)
    return source.loader(locate(source, split, data_dir), split)
