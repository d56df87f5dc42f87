"""MLM restoration: give an encoder without a trained masked-LM head a real one (a trained
head plus a small low-rank encoder delta), shipped for the default model and loadable for
any other. See docs/restoration.md."""

from .artefact import apply_restoration, is_restoration, read_record
from .train import DEFAULT_CORPORA, RestoreConfig, RestoreResult, restore_mlm

__all__ = [
    "DEFAULT_CORPORA",
    "RestoreConfig",
    "RestoreResult",
    "apply_restoration",
    "is_restoration",
    "read_record",
    "restore_mlm",
]
