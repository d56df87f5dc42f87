"""MLM restoration: give an encoder without a trained masked-LM head a real one (a trained
head plus a small low-rank encoder delta), shipped for the default model and loadable for
any other. See docs/restoration.md."""

from __future__ import annotations

from ..lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _API)
