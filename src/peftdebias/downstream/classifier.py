"""The saved classifier of a downstream run (``<output>/model``): save and load it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model

from ..errors import DataError
from ..io import atomic_dir, write_json
from ..methods.compose import as_folders, load_modules
from ..models import load_sequence_classifier, load_tokenizer
from .config import DownstreamConfig, start_of

MANIFEST = "downstream.json"


def save_classifier(
    model,
    folder: Path,
    config: DownstreamConfig,
    num_labels: int,
    extra: dict[str, Any] | None = None,
):
    """Save the fine-tuned classifier so that :func:`load_classifier` rebuilds it exactly.

    ``model.safetensors`` holds every tensor of the model as trained (backbone, head and the
    frozen module, under the names the module's wrapper gives them); a copy of the module
    folder (``module/``; composed modules: ``modules/0``, ``modules/1``, ... in the order
    given, listed in the manifest's ``modules``) and ``downstream.json`` say how to rebuild
    the wrapper first (``extra``: more manifest fields, e.g. the task, label names and max
    length that ``predict_file`` reuses).
    """
    sources = as_folders(config.debias) or as_folders(config.full_debias)
    copies = ["module"] if len(sources) == 1 else [f"modules/{i}" for i in range(len(sources))]
    manifest = {"base_model": config.model, "start": start_of(config), "num_labels": num_labels}
    if len(sources) > 1:
        manifest["modules"] = copies
    with atomic_dir(folder) as tmp:
        for source, copy in zip(sources, copies, strict=True):
            shutil.copytree(source, tmp / copy, ignore=shutil.ignore_patterns("checkpoints"))
        # save_model keeps one copy of tensors that wrappers share (prompt/prefix tuning)
        save_model(model, str(tmp / "model.safetensors"))
        write_json(tmp / MANIFEST, {**manifest, **(extra or {})})


def classifier_manifest(folder: str | Path) -> dict[str, Any]:
    """``downstream.json`` of a model folder written by :func:`save_classifier`."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise DataError(f"{folder} is not a downstream model folder (no {MANIFEST})")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder / MANIFEST}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not {"base_model", "start", "num_labels"} <= set(manifest):
        raise DataError(f"{folder / MANIFEST}: not a downstream model manifest")
    return manifest


def load_classifier(folder: str | Path):
    """The classifier saved by :func:`save_classifier` and its tokenizer."""
    folder = Path(folder)
    manifest = classifier_manifest(folder)
    model = load_sequence_classifier(manifest["base_model"], num_labels=manifest["num_labels"])
    if manifest["start"] != "baseline":
        model = load_modules(model, [folder / name for name in manifest.get("modules", ["module"])])
    load_model(model, str(folder / "model.safetensors"))
    return model.eval(), load_tokenizer(manifest["base_model"])
