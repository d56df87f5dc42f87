"""Checks run before anything is loaded or trained, with one-line errors that name the option
or file at fault and say how to fix it.

- names that become paths (cell ids, module names) and paths that must stay in a folder;
- numeric options (steps, batch size, learning rate, lengths, subsample sizes);
- input files (exist, readable, UTF-8, enough rows), model folders (safetensors weights
  only: a pickle is never loaded), checkpoints to resume, output files and folders.

Low level on purpose: this module imports nothing of the package but its errors, so every
module can use it. Whole configs are checked next to them
(``peftdebias.upstream.config.validate_upstream``,
``peftdebias.downstream.config.validate_downstream``).
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import ConfigError, DataError, OutputExistsError

# --- names and paths --------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")  # "+": method ether+


def check_name(name: str, where: str) -> str:
    """``name`` if it is safe as one path component (letters, digits, ``._+-``, not starting
    with a dot, dash or plus); else :class:`ConfigError` naming ``where``."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: {name!r} cannot be used in a file name; use letters, digits, '.', '_', "
            "'+' and '-' only, starting with a letter or digit"
        )
    return name


def check_relative_id(identifier: str, where: str) -> str:
    """A ``/``-separated relative id (``downstream/ghc/ft/s42``) whose parts pass
    :func:`check_name`."""
    for part in identifier.split("/"):
        check_name(part, where)
    return identifier


def inside(root: str | os.PathLike, relative: str | os.PathLike, where: str) -> Path:
    """``root / relative``, refusing a path that resolves (through ``..`` or symbolic links)
    to ``root`` itself or anywhere outside it."""
    base = Path(root).resolve()
    target = (Path(root) / relative).resolve()
    if target == base or not target.is_relative_to(base):
        raise ConfigError(
            f"{where}: {relative} resolves to {target}, outside the output folder {base}; "
            "refusing to write or delete there"
        )
    return Path(root) / relative


# --- numeric options --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """A numeric option's valid range: at least ``minimum`` (strictly above it when
    ``strict``), below ``below``, finite, and a whole number when ``integer``."""

    minimum: float
    integer: bool = True
    strict: bool = False
    below: float = math.inf

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is invalid, or ``None``."""
        if self.integer:
            ok = isinstance(value, int) and not isinstance(value, bool)
            kind = "an integer"
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
            kind = "a finite number"
        low = value > self.minimum if self.strict else value >= self.minimum
        if ok and low and value < self.below:
            return None
        relation = ">" if self.strict else ">="
        upper = f" and < {self.below:g}" if self.below < math.inf else ""
        return f"must be {kind} {relation} {self.minimum:g}{upper}, got {value!r}"


MIN_MAX_LENGTH = 8  # shorter inputs leave almost nothing to mask or classify
STEPS, COUNT = Bound(1), Bound(1)
NON_NEGATIVE = Bound(0)
POSITIVE = Bound(0, integer=False, strict=True)
FRACTION = Bound(0, integer=False, below=1)
# the training options both phases have (mixed precision is checked where torch is loaded)
TRAINING_BOUNDS: dict[str, Bound] = {"gradient_accumulation_steps": STEPS, "warmup_ratio": FRACTION}
UPSTREAM_BOUNDS: dict[str, Bound] = {
    "max_steps": STEPS, "eval_steps": STEPS, "batch_size": COUNT, "learning_rate": POSITIVE,
    "max_length": Bound(MIN_MAX_LENGTH), "head_warmup_steps": NON_NEGATIVE,
    "calibration_steps": STEPS, "max_texts": COUNT,
    "consistency_weight": Bound(0, integer=False), **TRAINING_BOUNDS,
}  # fmt: skip
DOWNSTREAM_BOUNDS: dict[str, Bound] = {
    "epochs": POSITIVE, "batch_size": COUNT, "learning_rate": POSITIVE,
    "max_length": Bound(MIN_MAX_LENGTH), "max_train_examples": COUNT,
    "max_eval_examples": COUNT, "max_iptts_examples": COUNT, "max_bias_nli_examples": COUNT,
    **TRAINING_BOUNDS,
}  # fmt: skip


def cli_option(name: str) -> str:
    """The command-line spelling of a config field: ``max_steps`` -> ``--max-steps``."""
    return "--" + name.replace("_", "-")


def check_settings(
    values: Mapping[str, Any], bounds: Mapping[str, Bound], label: Callable[[str], str]
) -> None:
    """Every value of ``values`` with a bound (``None`` = the preset's) must satisfy it;
    :class:`ConfigError` names the option as ``label(name)``."""
    for name, bound in bounds.items():
        value = values.get(name)
        problem = None if value is None else bound.problem(value)
        if problem:
            raise ConfigError(f"{label(name)} {problem}")


def check_class_weights(weights: Mapping[Any, Any] | None, where: str) -> None:
    """Class weights must be finite numbers >= 0."""
    for label, weight in (weights or {}).items():
        problem = Bound(0, integer=False).problem(weight)
        if problem:
            raise ConfigError(f"{where}: the weight of class {label} {problem}")


# --- input files ------------------------------------------------------------------------------


def check_data_dir(data_dir: str | os.PathLike | None, option: str = "--data-dir") -> None:
    """A given data directory must exist, be a folder and be readable."""
    if data_dir in (None, ""):
        return
    path = Path(data_dir)
    if not path.is_dir():
        state = "is not a directory" if path.exists() else "does not exist"
        raise DataError(
            f"data directory {path} (from {option}) {state}; pass the folder laid out like "
            "shared/data (ghc/train.tsv, nli/snli.tsv, ...)"
        )
    if not os.access(path, os.R_OK | os.X_OK):
        raise DataError(
            f"data directory {path} (from {option}) is not readable; fix its permissions "
            "(chmod u+rx)"
        )


def _open_input(path: Path, option: str) -> BinaryIO:
    """``path`` opened for binary reading, with one-line errors."""
    if path.is_dir():
        raise DataError(f"{option} {path} is a directory; give a file")
    if not path.is_file():
        raise DataError(f"{option} {path} does not exist")
    try:
        return path.open("rb")
    except OSError as exc:
        raise DataError(
            f"{option} {path} cannot be read ({exc.strerror}); fix its permissions"
        ) from None


def check_text_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a Path if it is a readable UTF-8 file; else :class:`DataError` naming the
    option, the line of the first bad byte, and the fix."""
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with _open_input(path, option) as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                where = line + exc.object[: exc.start].count(b"\n")
                byte = exc.object[exc.start]
                raise DataError(
                    f"{option} {path} is not UTF-8 text (byte 0x{byte:02x} at line {where}); "
                    "save it as UTF-8"
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise DataError(
                f"{option} {path} is not UTF-8 text (truncated character at the end); "
                "save it as UTF-8"
            ) from None
    return path


MIN_TASK_ROWS = 10  # a task file is split 80/10/10 into train/dev/test


def count_records(path: Path) -> tuple[bool, int]:
    """``(has header, data rows)`` of a csv/tsv file, or ``(False, records)`` of a jsonl file,
    counting non-blank lines (a quoted field over several lines counts more than once: the
    loader reports quoting problems). ``path`` must be UTF-8."""
    with path.open(encoding="utf-8") as handle:
        lines = sum(1 for line in handle if line.strip())
    if path.suffix.lower() == ".jsonl":
        return False, lines
    return lines > 0, max(lines - 1, 0)


def check_task_file(path: str | os.PathLike, option: str = "--task", carved: bool = True) -> None:
    """A csv/tsv/jsonl task file: UTF-8 and at least :data:`MIN_TASK_ROWS` rows when it is
    ``carved`` into train, dev and test, else at least one."""
    path = check_text_file(path, option)
    header, rows = count_records(path)
    needed = MIN_TASK_ROWS if carved else 1
    if rows == 0:
        what = "has a header but no data rows" if header else "is empty"
        raise DataError(f"{option} {path} {what}; it needs a header row and at least {needed} rows")
    if carved and rows < MIN_TASK_ROWS:
        raise DataError(
            f"{option} {path} has only {rows} rows; it needs at least {MIN_TASK_ROWS} "
            "(it is split 80/10/10 into train, dev and test)"
        )


def read_json_file(path: str | os.PathLike, fix: str) -> Any:
    """The JSON content of ``path``; :class:`DataError` with ``fix`` when it is unreadable,
    not UTF-8 or not valid JSON (e.g. truncated)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise DataError(f"{path} is unreadable or not valid JSON ({reason}); {fix}") from None


def check_safetensors(path: str | os.PathLike, what: str) -> None:
    """``path`` must be a complete safetensors file (header and data; never a pickle)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # SafetensorError, OSError, ValueError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{what} {path} is not a readable safetensors file ({reason}); "
            "it is truncated, corrupt or a pickle: write it again"
        ) from None


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def check_model(name: str | os.PathLike | None, option: str = "--model") -> None:
    """A local model folder must hold a config and safetensors weights; pickle weights
    (``pytorch_model.bin``) are refused, never unpickled. Aliases and hub ids pass."""
    if name is None:
        return
    path = Path(name).expanduser()
    if not (path / "config.json").is_file() or (path / "restoration.json").is_file():
        return  # an alias, a hub id, a restoration folder: models.resolve_model checks them
    weights = sorted(path.glob("*.safetensors"))
    pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if not weights and pickles:
        raise ConfigError(
            f"{option} {path} holds only pickle weights ({', '.join(pickles)}), which "
            "peftdebias never loads (unpickling can run code); convert them to "
            "model.safetensors (save_pretrained(..., safe_serialization=True))"
        )
    if not weights and not (path / "model.safetensors.index.json").is_file():
        raise ConfigError(
            f"{option} {path} holds a config but no weights (model.safetensors); pass a "
            "folder written by save_pretrained, or a Hugging Face model id"
        )
    for file in weights:
        check_safetensors(file, f"{option} weights")


CHECKPOINT_PICKLES = ("*.pt", "*.pth")


def check_checkpoints(folder: str | os.PathLike) -> None:
    """Every ``checkpoint-*`` folder under ``folder`` (what ``--resume`` continues from) must
    hold valid JSON, safetensors and PyTorch zip archives; a raw pickle is refused."""
    fix = f"delete {folder} or start again with --overwrite"
    for checkpoint in sorted(Path(folder).rglob("checkpoint-*")):
        if not checkpoint.is_dir():
            continue
        for file in sorted(checkpoint.glob("*.json")):
            read_json_file(file, fix)
        for file in sorted(checkpoint.glob("*.safetensors")):
            check_safetensors(file, "checkpoint file")
        for pattern in CHECKPOINT_PICKLES:
            for file in sorted(checkpoint.glob(pattern)):
                if not zipfile.is_zipfile(file):
                    raise ConfigError(
                        f"checkpoint file {file} is not a PyTorch zip archive (truncated, or "
                        f"a raw pickle, which peftdebias never unpickles); {fix}"
                    )


# --- outputs ----------------------------------------------------------------------------------


def check_output_parent(path: str | os.PathLike, option: str = "--output") -> Path:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    path = Path(path)
    ancestor = path.parent if path.parent != Path("") else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(
            f"{option} {path}: {ancestor} is a file, not a folder; choose another path"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{option} {path}: {ancestor} is not writable (read-only or no permission); "
            "choose another path"
        )
    return path


def check_output_file(path: str | os.PathLike, overwrite: bool, option: str = "--output") -> Path:
    """An output file path: not a folder, in a writable folder, new unless ``overwrite``."""
    path = check_output_parent(path, option)
    if path.is_dir():
        raise OutputExistsError(
            f"{option} {path} is a directory; give a file path (even with --overwrite, "
            "a directory is never replaced)"
        )
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{option} {path}: output file already exists; pass --overwrite to replace it"
        )
    return path


def check_output_dir(
    path: str | os.PathLike,
    overwrite: bool,
    option: str = "--output",
    *,
    resume: bool | None = None,
    marker: str | None = None,
) -> Path:
    """An output folder: not a file, in a writable folder, and empty unless ``overwrite``.

    ``resume`` is ``None`` for commands without ``--resume``; otherwise a folder left by an
    interrupted run (checkpoints but no ``marker`` file) is named as such, and the message
    offers ``--resume``.
    """
    path = check_output_parent(path, option)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{option} {path} is a file, not a directory; choose another path")
    if resume or overwrite or not path.is_dir() or not any(path.iterdir()):
        return path
    if resume is None:
        raise OutputExistsError(
            f"output directory {path} is not empty; pass --overwrite to write into it"
        )
    interrupted = (path / "checkpoints").is_dir() and not (marker and (path / marker).exists())
    if interrupted:
        raise OutputExistsError(
            f"output directory {path} holds an interrupted run (checkpoints, no {marker}); "
            "pass --resume to continue it, or --overwrite to start again"
        )
    raise OutputExistsError(
        f"output directory {path} is not empty; pass --overwrite to write into it "
        "(or --resume to continue an interrupted run)"
    )
