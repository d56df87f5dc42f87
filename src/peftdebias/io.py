"""Safe file output: atomic writes and output-directory guards.

Nothing already written is lost: files are written to a temporary sibling and renamed into
place (``os.replace`` is atomic on POSIX), and an existing output is only replaced when the
caller passes ``overwrite=True``; then exactly the outputs the command owns are removed
first (``prepare_output_dir(..., owned=...)``), so no stale output of an earlier run is left.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from .errors import OutputExistsError


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


def check_output_file(path: str | os.PathLike, overwrite: bool) -> Path:
    """Return ``path`` as a Path, refusing an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"output file {path} already exists; pass --overwrite to replace it"
        )
    return path


def _owned_patterns(owned: Iterable[str]) -> list[str]:
    patterns = []
    for name in owned:
        if not name or name in {".", ".."} or "/" in name or os.sep in name:
            raise ValueError(f"owned output name {name!r} must be a plain file or folder name")
        # leftovers of interrupted atomic_open / atomic_dir writes of that name
        patterns += [name, f".{name}.*.tmp", f".{name}.old"]
    return patterns


def owned_entries(path: str | os.PathLike, owned: Iterable[str]) -> list[Path]:
    """Entries of directory ``path`` named by ``owned`` (names or ``fnmatch`` patterns of
    names), and the temporary leftovers of interrupted atomic writes of them."""
    path = Path(path)
    patterns = _owned_patterns(owned)
    if not path.is_dir():
        return []
    return sorted(
        entry
        for entry in path.iterdir()
        if any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in patterns)
    )


def remove_entries(entries: Iterable[Path]) -> None:
    """Remove files and folders (a symbolic link itself, never what it points to)."""
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def prepare_output_dir(
    path: str | os.PathLike,
    overwrite: bool,
    owned: Iterable[str] = (),
    *,
    resume: bool = False,
) -> Path:
    """Create ``path`` as a directory; refuse a non-empty one unless ``overwrite`` or ``resume``.

    ``owned`` names every file and folder the command may write there (plain names or
    ``fnmatch`` patterns of names). With ``overwrite`` those entries, and the leftovers of
    interrupted atomic writes of them, are removed first, so no output of an earlier run
    survives beside the new ones; every other entry (files a user put there) is left alone.
    ``resume`` continues a run: nothing is removed.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
        raise OutputExistsError(
            f"output directory {path} is not empty; pass --overwrite to write into it"
        )
    if overwrite and not resume:
        remove_entries(owned_entries(path, owned))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[TextIO]:
    """Open a temporary sibling of ``path`` for writing and rename it into place on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    apply_umask(tmp)  # mkstemp makes 0600 files; keep the mode a plain open() would give
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write ``rows`` as JSON lines; return the number of rows written."""
    count = 0
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it to ``path`` on success.

    An existing ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    apply_umask(tmp)
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
