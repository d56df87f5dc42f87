"""The upstream artefact folder: which files it owns, and writing it atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..io import owned_entries, prepare_output_dir, remove_entries, write_json
from ..methods.base import METADATA_FILE, MODULE_FILES
from ..training.heads import save_head
from .config import UpstreamConfig

HEAD_FILE = "mlm_head.safetensors"  # the warmed-up MLM head, when the base model had none
# the artefact's files whatever the method, besides those its debias.json lists (`files`)
ARTEFACT_FILES = (METADATA_FILE, HEAD_FILE, *MODULE_FILES)
# what `upstream` writes into its output folder: --overwrite removes these (and the files
# the earlier artefact's debias.json lists) before training, and nothing else
OUTPUTS = (*ARTEFACT_FILES, "checkpoints", ".module.*.tmp")


def recorded_files(output: Path) -> list[str]:
    """The files the artefact in ``output`` recorded in its ``debias.json`` (plain names)."""
    try:
        files = json.loads((output / METADATA_FILE).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(files, list):
        return []
    return [
        name
        for name in files
        if isinstance(name, str)
        and name not in {"", ".", ".."}
        and not any(char in name for char in "/\\*?[]")
    ]


def prepare_artefact_dir(config: UpstreamConfig) -> Path:
    """The output folder, created; with ``overwrite`` the earlier artefact's files removed."""
    output = Path(config.output)
    owned = (*OUTPUTS, *recorded_files(output))
    return prepare_output_dir(output, config.overwrite, owned=owned, resume=config.resume)


def save_artefact(method, model, tokenizer, output: Path, metadata: dict[str, Any]) -> None:
    """Write the module and ``debias.json`` so that a reader never sees a partial artefact:
    files go to a temporary folder first, ``debias.json`` is moved in last, and the files of
    an earlier artefact in ``output`` that this one does not have (a warmed-up head, a
    method's weights) are removed, so none is read with the new ``debias.json``. The files
    written are listed in ``debias.json`` (``files``)."""
    tmp = Path(tempfile.mkdtemp(prefix=".module.", suffix=".tmp", dir=output))
    try:
        method.save(model, tmp, overwrite=True)
        tokenizer.save_pretrained(tmp)
        if metadata.get("head_warmup"):
            save_head(model, tmp / HEAD_FILE)
        metadata["files"] = sorted({item.name for item in tmp.iterdir()} | {METADATA_FILE})
        write_json(tmp / METADATA_FILE, metadata)
        earlier = owned_entries(output, (*ARTEFACT_FILES, *recorded_files(output)))
        (output / METADATA_FILE).unlink(missing_ok=True)
        remove_entries(p for p in earlier if p.name not in metadata["files"] and p != tmp)
        for item in sorted(tmp.iterdir(), key=lambda p: p.name == METADATA_FILE):
            target = output / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
