"""User-facing errors.

Every error a user can fix (bad option, missing file, malformed row) is raised as a
:class:`PeftDebiasError` subclass with a message that names the file, column or option at
fault. The CLI prints the message on one line and exits with status 2; the Python API lets
it propagate.
"""

from __future__ import annotations


class PeftDebiasError(Exception):
    """Base class of all errors caused by user input or environment."""


class DataError(PeftDebiasError):
    """A data file is missing, malformed, or lacks a required column."""


class ModelNotFoundError(PeftDebiasError):
    """A model id or folder could not be resolved."""


class ConfigError(PeftDebiasError):
    """An option or configuration value is invalid."""


class OutputExistsError(PeftDebiasError):
    """An output path exists and ``overwrite`` was not requested."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that it stops a run as Ctrl-C does."""


# --- environment and file errors raised by libraries, as one line ------------------------------

_FILE_LOCALS = ("path", "filename", "file", "f", "handle", "target", "output", "self")


def _file_of(value: object) -> str | None:
    """A file path held by ``value`` (a path, a path string or an open file), if it exists."""
    import os

    name = getattr(value, "name", None) if hasattr(value, "read") else value
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name or len(name) > 4096 or "\n" in name:
        return None
    if os.path.exists(name) or (os.sep in name and os.path.isdir(os.path.dirname(name))):
        return name
    return None


def file_in_traceback(exc: BaseException) -> str | None:
    """The file an exception was raised about: its ``filename``, else the first local
    variable holding a path or an open file, innermost frame first."""
    filename = getattr(exc, "filename2", None) or getattr(exc, "filename", None)
    if filename:
        return _target_of(str(filename))
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for key in _FILE_LOCALS:
            found = _file_of(frame.f_locals.get(key)) if key in frame.f_locals else None
            if found:
                return _target_of(found)
    return None


def _target_of(name: str) -> str:
    """The file an atomic write's temporary sibling (``.NAME.RANDOM.tmp``) stands for."""
    import os
    import re

    folder, base = os.path.split(name)
    match = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", base)
    return os.path.join(folder, match[1]) if match else name


def _os_message(exc: OSError, where: str) -> str:
    """``where: reason; fix`` for an operating-system error."""
    import errno

    fixes = {
        errno.ENOSPC: "no space left on the device; free some space or choose another --output",
        errno.EDQUOT: "disk quota exceeded; free some space or choose another --output",
        errno.EACCES: "permission denied; fix its permissions or choose another path",
        errno.EPERM: "operation not permitted; fix its permissions or choose another path",
        errno.EROFS: "read-only file system; choose another --output",
        errno.EISDIR: "is a directory; give a file path",
        errno.ENOTDIR: "a parent of this path is a file, not a folder; choose another path",
        errno.EEXIST: "exists and is not a folder; choose another path",
        errno.ENOENT: "does not exist",
    }
    reason = fixes.get(exc.errno) or (exc.strerror or str(exc) or type(exc).__name__)
    return f"{where}: {reason}"


def describe(exc: BaseException) -> str | None:
    """A one-line message for a library exception caused by the user's files or the
    environment (unreadable, not UTF-8, a refused pickle, a full disk, ...); ``None`` for any
    other exception (a bug, whose traceback is kept)."""
    import pickle

    where = file_in_traceback(exc) or "a file"
    if isinstance(exc, UnicodeDecodeError):
        return f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
    if isinstance(exc, pickle.UnpicklingError):
        return (
            f"{where} was refused: it is not a weights-only PyTorch file, and unpickling it "
            "could run code; delete it (a checkpoint: start again with --overwrite)"
        )
    if isinstance(exc, OSError):
        return _os_message(exc, where)
    if type(exc).__name__ == "SafetensorError":
        return f"{where} is not a readable safetensors file ({exc}); write it again"
    if type(exc).__name__ == "EmptyDataError":
        return f"{where} is empty; give a table with a header row and data rows"
    return None


def one_line(message: str) -> str:
    """``message`` with its lines joined by '; ' (library messages often span several)."""
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
