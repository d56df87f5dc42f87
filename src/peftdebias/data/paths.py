"""Where data files are looked for: the data directory (``--data-dir`` or
``$PEFTDEBIAS_DATA_DIR``) and the download cache (``$PEFTDEBIAS_CACHE``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

DATA_DIR_ENV = "PEFTDEBIAS_DATA_DIR"
CACHE_ENV = "PEFTDEBIAS_CACHE"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """``data_dir`` if given, else ``$PEFTDEBIAS_DATA_DIR``, else ``None``."""
    value = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV)
    if value in (None, ""):
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        origin = "--data-dir" if data_dir not in (None, "") else f"${DATA_DIR_ENV}"
        raise DataError(f"data directory {path} (from {origin}) does not exist")
    return path


def resolve_cache_dir() -> Path:
    """Download cache: ``$PEFTDEBIAS_CACHE`` if set, else ``~/.cache/peftdebias``."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "peftdebias"
