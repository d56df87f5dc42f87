"""Checks run before anything is loaded or trained, with one-line errors that name the option
or file at fault and say how to fix it.

- names that become paths (cell ids, module names) and paths that must stay in a folder;
- numeric options (steps, batch size, learning rate, lengths, subsample sizes);
- input files (exist, readable, UTF-8, enough rows), model folders (safetensors weights
  only: a pickle is never loaded), checkpoints to resume, output files and folders;
- :func:`validate_upstream` / :func:`validate_downstream`: all of the above for one config,
  called first thing by ``train_upstream`` / ``train_downstream``.

Heavy libraries (torch, transformers) are imported inside the functions that need them.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import logging
import math
import os
import re
import typing
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import ConfigError, DataError, OutputExistsError

if TYPE_CHECKING:
    from .downstream import DownstreamConfig
    from .upstream import UpstreamConfig

logger = logging.getLogger(__name__)

# --- names and paths --------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, where: str) -> str:
    """``name`` if it is safe as one path component (letters, digits, ``._-``, not starting
    with a dot or dash); else :class:`ConfigError` naming ``where``."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: {name!r} cannot be used in a file name; use letters, digits, '.', '_' "
            "and '-' only, starting with a letter or digit"
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
    ``strict``), finite, and a whole number when ``integer``."""

    minimum: float
    integer: bool = True
    strict: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is invalid, or ``None``."""
        if self.integer:
            ok = isinstance(value, int) and not isinstance(value, bool)
            kind = "an integer"
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
            kind = "a finite number"
        if ok and (value > self.minimum if self.strict else value >= self.minimum):
            return None
        relation = ">" if self.strict else ">="
        return f"must be {kind} {relation} {self.minimum:g}, got {value!r}"


MIN_MAX_LENGTH = 8  # shorter inputs leave almost nothing to mask or classify
STEPS, COUNT = Bound(1), Bound(1)
NON_NEGATIVE = Bound(0)
POSITIVE = Bound(0, integer=False, strict=True)
UPSTREAM_BOUNDS: dict[str, Bound] = {
    "max_steps": STEPS, "eval_steps": STEPS, "batch_size": COUNT, "learning_rate": POSITIVE,
    "max_length": Bound(MIN_MAX_LENGTH), "head_warmup_steps": NON_NEGATIVE,
    "calibration_steps": STEPS, "max_texts": COUNT,
    "consistency_weight": Bound(0, integer=False),
}  # fmt: skip
DOWNSTREAM_BOUNDS: dict[str, Bound] = {
    "epochs": POSITIVE, "batch_size": COUNT, "learning_rate": POSITIVE,
    "max_length": Bound(MIN_MAX_LENGTH), "max_train_examples": COUNT,
    "max_eval_examples": COUNT, "max_iptts_examples": COUNT, "max_bias_nli_examples": COUNT,
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


# ranges of float method options (every integer option, r, alpha, block size, ..., is >= 1)
METHOD_FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {  # low, high, high included
    "dropout": (0.0, 1.0, False),
    "density": (0.0, 1.0, True),
}


def _method_option_problem(key: str, value: Any, hint: Any) -> str | None:
    """Why ``value`` (already of type ``hint``) is out of range for option ``key``."""
    if hint is int:
        return COUNT.problem(value)
    if hint is not float:
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    low, high, closed = METHOD_FLOAT_RANGES.get(key, (-math.inf, math.inf, True))
    if value < low or value > high or (value == high and not closed):
        return f"must lie in [{low:g}, {high:g}{']' if closed else ')'}, got {value!r}"
    return None


def check_method_options(
    method: str, options: Mapping[str, Any], where: str, label: Callable[[str], str]
) -> None:
    """Options of ``method`` must be its fields, of the field's type and range; errors name
    the options as ``where`` (all of them) or ``label(key)`` (one)."""
    from .methods import get_method
    from .typed import convert

    try:
        chosen = get_method(method, **options)  # unknown method or option names
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    hints = typing.get_type_hints(chosen.config_class)
    for key, value in options.items():
        if hints[key] not in (int, float, bool, str):
            continue  # lists (target_modules): the method and peft check them
        convert(value, hints[key], label(key))
        problem = _method_option_problem(key, value, hints[key])
        if problem:
            raise ConfigError(f"{label(key)} {problem}")


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


def check_task_file(path: str | os.PathLike, option: str = "--task") -> None:
    """A csv/tsv/jsonl task file: UTF-8 and at least :data:`MIN_TASK_ROWS` rows."""
    path = check_text_file(path, option)
    header, rows = count_records(path)
    if rows == 0:
        what = "has a header but no data rows" if header else "is empty"
        raise DataError(
            f"{option} {path} {what}; it needs a header row and at least {MIN_TASK_ROWS} rows"
        )
    if rows < MIN_TASK_ROWS:
        raise DataError(
            f"{option} {path} has only {rows} rows; it needs at least {MIN_TASK_ROWS} "
            "(it is split 80/10/10 into train, dev and test)"
        )


def read_term_file(path: str | os.PathLike, option: str) -> list[str]:
    """Identity terms of a UTF-8 term file (one per line)."""
    from .metrics.terms import read_terms

    return read_terms(check_text_file(path, option))


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


def umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have (0666/0777 less the
    umask): ``tempfile`` creates 0600 files and 0700 folders, which an atomic rename would
    otherwise keep."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~umask())


# --- max length -------------------------------------------------------------------------------


def position_limit(model: str | os.PathLike | None) -> int | None:
    """Tokens per input the model's position embeddings allow, or ``None`` when unknown."""
    from transformers import AutoConfig

    from .models import resolve_model

    resolved = resolve_model(model)
    try:
        config = AutoConfig.from_pretrained(resolved.location, local_files_only=resolved.local)
    except (OSError, ValueError):
        return None  # the model loader reports it
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    if "roberta" in str(getattr(config, "model_type", "")) or config.model_type == "camembert":
        limit -= (config.pad_token_id or 0) + 1  # positions start after the padding index
    return limit


def clamp_max_length(
    value: int, model: str | os.PathLike | None, reserved: int = 0, option: str = "--max-length"
) -> int:
    """``value`` refused below :data:`MIN_MAX_LENGTH` and lowered, with a warning, to the
    positions the model has (less ``reserved`` virtual tokens of prompt tuning)."""
    problem = Bound(MIN_MAX_LENGTH).problem(value)
    if problem:
        raise ConfigError(f"{option} {problem}")
    limit = position_limit(model)
    if limit is None:
        return value
    limit -= reserved
    if limit < MIN_MAX_LENGTH:
        raise ConfigError(f"model {model} leaves only {limit} positions for the input")
    if value > limit:
        logger.warning(
            "%s %d exceeds the %d positions of model %s%s; using %d",
            option, value, limit, model, f" (less {reserved} virtual tokens)" if reserved else "",
            limit,
        )  # fmt: skip
        return limit
    return value


# --- whole configs ----------------------------------------------------------------------------


def _check_input_path(value: str | None, option: str) -> None:
    """An option that may name a file (corpus, word list) must then be UTF-8."""
    if value and Path(value).is_file():
        check_text_file(value, option)


def validate_upstream(config: UpstreamConfig) -> UpstreamConfig:
    """Check an :class:`~peftdebias.upstream.UpstreamConfig` before anything is loaded; returns
    it, with ``max_length`` clamped to the model's positions where needed."""
    from .methods import get_method
    from .presets import upstream_preset

    check_settings(dataclasses.asdict(config), UPSTREAM_BOUNDS, cli_option)
    options = config.method_options
    check_method_options(config.method, options, "--method-option", "--method-option {}".format)
    check_data_dir(config.data_dir)
    _check_input_path(config.corpus, "--corpus")
    _check_input_path(config.axis, "--axis")
    check_model(config.model)
    check_output_dir(config.output, config.overwrite, resume=config.resume, marker="debias.json")
    if config.resume:
        check_checkpoints(Path(config.output) / "checkpoints")
    wanted = config.max_length or upstream_preset(config.preset).max_length
    virtual = get_method(config.method, **config.method_options).virtual_tokens
    length = clamp_max_length(wanted, config.model, virtual)
    return config if length == wanted else dataclasses.replace(config, max_length=length)


def _module_virtual_tokens(value: str | list[str] | None, option: str) -> int:
    """Positions the module(s) in ``value`` (one folder or several) prepend (0 without one);
    reads their module.json, and checks that several modules compose."""
    from .methods.compose import as_folders, check_composition
    from .methods.registry import method_of

    folders = as_folders(value)
    if len(folders) > 1:
        check_composition(folders, option)
        return 0  # prompt-learning modules do not compose
    if not folders:
        return 0
    try:
        return method_of(folders[0]).virtual_tokens
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def validate_downstream(config: DownstreamConfig) -> DownstreamConfig:
    """Check a :class:`~peftdebias.downstream.DownstreamConfig` before anything is loaded or
    trained; returns it, with ``max_length`` clamped to the model's positions where needed."""
    from .downstream import DOWNSTREAM_PRESETS
    from .metrics.terms import axis_terms

    check_settings(dataclasses.asdict(config), DOWNSTREAM_BOUNDS, cli_option)
    check_class_weights(config.class_weights, "--class-weights")
    check_data_dir(config.data_dir)
    if Path(config.task).is_file():
        check_task_file(config.task)
    if config.fprd_terms:
        read_term_file(config.fprd_terms, "--fprd-terms")
    else:
        try:
            axis_terms(config.fprd_axis)
        except ConfigError as exc:
            raise ConfigError(f"--fprd-axis: {exc}; or give --fprd-terms FILE") from None
    check_model(config.model)
    virtual = _module_virtual_tokens(config.debias, "--debias")
    _module_virtual_tokens(config.full_debias, "--full-debias")
    check_output_dir(config.output, config.overwrite, resume=config.resume, marker="metrics.json")
    if config.resume:
        check_checkpoints(Path(config.output) / "checkpoints")
    preset = DOWNSTREAM_PRESETS.get(config.preset)
    wanted = config.max_length or (preset.max_length if preset else None)
    if wanted is None:
        return config  # train_downstream names the unknown preset
    length = clamp_max_length(wanted, config.model, virtual)
    return config if length == wanted else dataclasses.replace(config, max_length=length)
