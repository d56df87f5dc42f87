"""CDA word lists: tuples of attribute terms along one bias axis, and where they come from.

A word list is a sequence of tuples ``(t_0, ..., t_{n-1})`` whose position ``i`` names the
same group in every tuple (gender: ``(male, female)``; race: ``(black, white, asian)``).
Files are JSON in the bias-bench format ``{"axis": [[t_0, t_1, ...], ...]}`` or csv/tsv with
one tuple per row (``#`` starts a comment line). Terms are stored casefolded with single
spaces; the matcher (:mod:`peftdebias.cda.augment`) restores the case of the text.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ConfigError, DataError

# a term paired with two words, chosen by context: term -> (before a noun, otherwise), e.g.
# "her book" -> "his book", "saw her" -> "saw him" (see peftdebias.cda.augment)
CONTEXT_RULES: dict[str, tuple[str, str]] = {"her": ("his", "him")}

AXES: tuple[str, ...] = ("gender", "race", "religion", "group")
"""Axes with a word list shipped in ``peftdebias/resources/wordlists/<axis>.json``."""

# Prefixes of ``load_word_list("<prefix>:<axis>")`` -> registered data set of the data dir.
DATA_SET_PREFIXES: dict[str, str] = {
    "bias-bench": "cda-words",
    "cda-words": "cda-words",
    "peft-debias": "cda-words-peftdebias",
    "cda-words-peftdebias": "cda-words-peftdebias",
}
_FILE_SUFFIXES = {".json", ".csv", ".tsv", ".txt"}


def normalize_term(term: str) -> str:
    """Casefold, map the typographic apostrophe to ``'`` and collapse whitespace."""
    return " ".join(term.replace("\u2019", "'").casefold().split())


@dataclass(frozen=True)
class WordList:
    """Attribute-term tuples of one axis; ``source`` names the file in error messages."""

    axis: str
    tuples: tuple[tuple[str, ...], ...]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        tuples = tuple(
            _check_tuple(row, f"{self.source}: tuple {i + 1}") for i, row in enumerate(self.tuples)
        )
        if not tuples:
            raise DataError(f"word list {self.source} has no tuples for axis {self.axis!r}")
        _check_groups(tuples, [f"tuple {i + 1}" for i in range(len(tuples))], self.source)
        object.__setattr__(self, "tuples", tuples)

    @property
    def arity(self) -> int:
        """Largest tuple length ``n``: a matched sentence yields up to ``n - 1`` counterfactuals."""
        return max(len(row) for row in self.tuples)

    @property
    def terms(self) -> frozenset[str]:
        return frozenset(term for row in self.tuples for term in row)

    def __len__(self) -> int:
        return len(self.tuples)


def _check_tuple(row: object, where: str) -> tuple[str, ...]:
    """Validate one tuple: at least two distinct non-empty string terms."""
    if isinstance(row, str) or not isinstance(row, list | tuple):
        raise DataError(f"{where}: expected a list of terms, got {row!r}")
    if not all(isinstance(term, str) for term in row):
        raise DataError(f"{where}: every term must be a string, got {list(row)!r}")
    terms = tuple(normalize_term(term) for term in row)
    if len(terms) < 2 or not all(any(ch.isalnum() for ch in term) for term in terms):
        raise DataError(f"{where}: need at least two non-empty terms, got {list(row)!r}")
    if len(set(terms)) != len(terms):
        raise DataError(f"{where}: terms must differ, got {list(row)!r}")
    return terms


def _check_groups(tuples: Sequence[tuple[str, ...]], labels: Sequence[str], source: str) -> None:
    """A word listed in several tuples must name the same group (position) in each: in
    (he, she) and (she, they) ``she`` is female in one and male in the other, and the swaps
    contradict each other ("they are there" -> "she are there", "she" -> "he")."""
    seen: dict[str, tuple[int, int]] = {}  # term -> (tuple index, position) of first use
    for number, row in enumerate(tuples):
        for position, term in enumerate(row):
            first = seen.setdefault(term, (number, position))
            if first[1] != position:
                other = tuples[first[0]]
                raise DataError(
                    f"{source}: {term!r} is word {first[1] + 1} of {labels[first[0]]} "
                    f"{list(other)} but word {position + 1} of {labels[number]} {list(row)}; "
                    "position i names the same group in every tuple, so a word listed twice "
                    "must keep its position (remove or reorder one of the tuples)"
                )


def one_way_swaps(word_list: WordList) -> list[str]:
    """Descriptions of the one-way swaps a word listed in several tuples makes: it is
    replaced as in its first tuple, so e.g. (he, she), (they, she) turn "they" into "she"
    but "she" only into "he". ``her`` paired with both ``his`` and ``him`` is not listed: the
    augmenter picks between them by context."""
    counterparts: dict[str, set[str]] = {}
    for row in word_list.tuples:
        for position, term in enumerate(row):
            counterparts.setdefault(term, set()).add(row[(position + 1) % len(row)])
    first: dict[str, tuple[str, ...]] = {}
    found = []
    for row in word_list.tuples:
        n = len(row)
        for position, term in enumerate(row):
            if term not in first:
                first[term] = row
                continue
            if set(CONTEXT_RULES.get(term, ("",))) <= counterparts[term]:
                continue
            earlier = first[term]
            back = earlier[(earlier.index(term) + 1) % len(earlier)]
            source = row[(position - 1) % n]
            found.append(f"{source!r} -> {term!r} but {term!r} -> {back!r}")
    return found


def read_word_lists(path: str | os.PathLike, axis: str | None = None) -> dict[str, WordList]:
    """All word lists in ``path``: every key of a JSON file, or one list (``axis`` or the file
    stem) for a csv/tsv file. Errors name the file and line or entry."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"word list file {path} does not exist")
    if path.suffix.lower() == ".json":
        return _read_json(path)
    name = axis or path.stem
    return {name: WordList(name, _read_delimited(path), str(path))}


def _read_json(path: Path) -> dict[str, WordList]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}, line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not isinstance(data, dict) or not data:
        raise DataError(f'{path}: expected a JSON object {{"axis": [[term, ...], ...]}}')
    lists = {}
    for key, rows in data.items():
        if not isinstance(rows, list):
            raise DataError(f"{path}: axis {key!r} must map to a list of tuples")
        rows = [
            _check_tuple(row, f"{path}: axis {key!r}, entry {i + 1}") for i, row in enumerate(rows)
        ]
        _check_groups(rows, [f"axis {key!r}, entry {i + 1}" for i in range(len(rows))], str(path))
        lists[key] = WordList(key, tuple(rows), str(path))
    return lists


def _read_delimited(path: Path) -> tuple[tuple[str, ...], ...]:
    delimiter = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    rows, lines = [], []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
                cells = [cell.strip() for cell in row]
                if not any(cells) or cells[0].startswith("#"):
                    continue
                rows.append(_check_tuple([c for c in cells if c], f"{path}, line {number}"))
                lines.append(f"line {number}")
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: cannot parse as {'tsv' if delimiter == chr(9) else 'csv'}: {exc}"
        ) from exc
    if not rows:
        raise DataError(f"word list {path} has no tuples")
    _check_groups(rows, lines, str(path))
    return tuple(rows)


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or Path(spec).suffix.lower() in _FILE_SUFFIXES


def load_word_list(
    spec: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    axis: str | None = None,
) -> WordList:
    """Load a word list.

    ``spec`` is one of: a shipped axis (``gender``, ``race``, ``religion``, ``group``); a data
    set of the data directory with an axis, ``bias-bench:gender`` (McGill-NLP/bias-bench file)
    or ``peft-debias:group`` (PEFTDebias reference-code file); or a path to a JSON/csv/tsv
    file, from which ``axis`` picks the key (needed only when a JSON file has several).
    """
    text = os.fspath(spec)
    prefix, _, rest = text.partition(":")
    if rest and prefix.lower() in DATA_SET_PREFIXES:
        return _from_data_set(DATA_SET_PREFIXES[prefix.lower()], rest, data_dir)
    if isinstance(spec, os.PathLike) or _looks_like_path(text) or Path(text).is_file():
        return check_two_way(_pick(read_word_lists(text, axis), axis, text), text)
    key = text.strip().lower()
    if key not in AXES:
        raise ConfigError(
            f"unknown CDA axis {text!r}; valid axes: {', '.join(AXES)} "
            f"(or {', '.join(f'{p}:AXIS' for p in ('bias-bench', 'peft-debias'))}, "
            "or a .json/.csv word-list file)"
        )
    resource = resources.files("peftdebias") / "resources" / "wordlists" / f"{key}.json"
    with resources.as_file(resource) as path:
        return _pick(read_word_lists(path), key, str(path))


def check_two_way(word_list: WordList, where: str) -> WordList:
    """``word_list``, unless a word listed in several of its tuples makes a swap go one way
    (:func:`one_way_swaps`): then a :class:`DataError` naming ``where``."""
    swaps = one_way_swaps(word_list)
    if swaps:
        shown = "; ".join(swaps[:3]) + ("; ..." if len(swaps) > 3 else "")
        raise DataError(
            f"word list {where}: a word listed in several tuples is replaced as in its first "
            f"tuple only, so {len(swaps)} swap(s) go one way ({shown}); list each word in "
            "one tuple (the published lists, which do this on purpose, load as "
            "bias-bench:AXIS or peft-debias:AXIS)"
        )
    return word_list


def _from_data_set(name: str, axis: str, data_dir: str | os.PathLike | None) -> WordList:
    from ..data.registry import get_source, locate  # local: imports datasets

    path = locate(get_source(name), "all", data_dir)
    return _pick(read_word_lists(path), axis, f"{name} ({path})")


def _pick(lists: dict[str, WordList], axis: str | None, where: str) -> WordList:
    """The list for ``axis``, or the only list of the file when ``axis`` is None."""
    if axis is None and len(lists) == 1:
        return next(iter(lists.values()))
    if axis is not None and axis in lists:
        return lists[axis]
    if axis is None:
        raise ConfigError(
            f"word list {where} holds several axes ({', '.join(lists)}); choose one with --axis"
        )
    raise ConfigError(
        f"word list {where} has no axis {axis!r}; axes in the file: {', '.join(lists)}"
    )


def load_axes(spec: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> list[WordList]:
    """The word lists of an ``--axis`` value: one axis (any :func:`load_word_list` spec), or
    several joined by commas (``gender,race``) for a joint module. A path to an existing file
    is one axis even if it holds a comma; an unknown axis or one given twice is an error
    naming the value."""
    text = os.fspath(spec)
    if Path(text).is_file() or "," not in text:
        return [load_word_list(spec, data_dir)]
    lists: list[WordList] = []
    for part in (part.strip() for part in text.split(",")):
        try:
            word_list = load_word_list(part, data_dir)
        except (ConfigError, DataError) as exc:
            raise type(exc)(f"--axis {text!r}: {exc}") from None
        if any(other.axis == word_list.axis for other in lists):
            raise ConfigError(f"--axis {text!r}: axis {word_list.axis!r} is given twice")
        lists.append(word_list)
    return lists


# what :func:`as_word_lists` takes: a spec of :func:`load_axes`, a WordList, several, an
# ``{axis: tuples}`` mapping, or the tuples of one axis
WordListLike = (
    str
    | os.PathLike
    | WordList
    | Sequence[WordList]
    | Mapping[str, Sequence[Sequence[str]]]
    | Sequence[Sequence[str]]
)


def as_word_lists(
    value: WordListLike, axis: str | None = None, data_dir: str | os.PathLike | None = None
) -> list[WordList]:
    """The word lists of an in-memory or named word list (several: one joint module).

    ``value``: an ``--axis`` spec (:func:`load_axes`; with ``axis``, the key of a JSON file
    that holds several); a :class:`WordList` or a list of them; a mapping ``{axis: [[t_0,
    t_1, ...], ...]}`` (``axis`` picks one key); or the tuples of one axis, named ``axis``
    (default ``custom``). Tuples given in memory are checked as a file's are.
    """
    if isinstance(value, str | os.PathLike):
        if axis is not None and Path(value).is_file():
            return [load_word_list(value, data_dir, axis=axis)]
        return load_axes(value, data_dir)
    if isinstance(value, WordList):
        return [value]
    if not isinstance(value, Mapping) and value and all(isinstance(v, WordList) for v in value):
        return list(value)
    if isinstance(value, Mapping):
        if axis is not None and axis not in value:
            raise ConfigError(f"word list has no axis {axis!r}; axes: {', '.join(value)}")
        tuples = {key: value[key] for key in ([axis] if axis is not None else value)}
    else:
        tuples = {axis or "custom": value}
    return [
        check_two_way(WordList(key, tuple(rows), f"{key!r} (in memory)"), f"{key!r} (in memory)")
        for key, rows in tuples.items()
    ]
