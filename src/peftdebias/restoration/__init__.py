"""MLM restoration: give an encoder without a trained masked-LM head a real one (a trained
head plus a small low-rank encoder delta), shipped for the default model and loadable for
any other. See docs/restoration.md."""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it; imported on first use, so that the light
# ``options`` module (read by ``peftdebias restore-mlm --help``) loads without torch
_API: dict[str, str] = {
    "DEFAULT_CORPORA": "options",
    "RestoreConfig": "options",
    "RestoreResult": "train",
    "apply_restoration": "artefact",
    "is_restoration": "artefact",
    "read_record": "artefact",
    "restore_mlm": "train",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
