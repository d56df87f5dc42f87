"""Identity term lists and whole-word term matching for FPRD.

A term list is a text file with one term per line (blank lines and lines starting with
``#`` are ignored), e.g. the lists shipped in ``peftdebias/resources/identity_terms/`` or
``ghc/identity_group_words.txt``. A text contains term t when t occurs as a whole word
(or, for a multi-word term, a contiguous run of whole words), case-insensitively. Terms are
normalised to their words (:func:`normalize_term`), so spellings that differ only in
punctuation or hyphenation ("african-american", "african american") are one term.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..validation import check_text_file
from .names import AXES

# Axis name -> shipped list files it unites. "group" is the mixed axis of the PEFTDebias
# hate-speech experiments (race, religion and sexual orientation together).


def normalize_term(term: str) -> str:
    """The matching form of ``term``: its lower-cased :func:`words` joined by single spaces.

    Terms that differ only in case, punctuation, hyphenation or spacing ("African-American",
    "african american", "african  american") have the same form and match the same texts;
    '' when the term holds no word.
    """
    return " ".join(words(term))


def normalize_terms(terms: Sequence[str], where: str = "identity terms") -> list[str]:
    """``terms`` in :func:`normalize_term` form, duplicates dropped (first kept, in order),
    so that two spellings of one term never count an example twice. A term without any
    word is a :class:`DataError` naming ``where``."""
    unique: dict[str, None] = {}
    for term in terms:
        key = normalize_term(term)
        if not key:
            raise DataError(f"{where}: identity term {term!r} contains no word")
        unique.setdefault(key, None)
    return list(unique)


def parse_terms(text: str, where: str = "term list") -> list[str]:
    """Terms of a term-list text, normalised (:func:`normalize_term`) and de-duplicated in
    order; a line without any word is a :class:`DataError` naming ``where`` and the line."""
    terms: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        term = normalize_term(stripped)
        if not term:
            raise DataError(f"{where}, line {number}: {stripped!r} contains no word")
        terms.setdefault(term, None)
    return list(terms)


def read_terms(path: str | os.PathLike) -> list[str]:
    """Terms of the file ``path``; :class:`DataError` when missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"term list {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"term list {path}: not UTF-8 text ({exc.reason})") from exc
    terms = parse_terms(text, f"term list {path}")
    if not terms:
        raise DataError(f"term list {path} holds no terms")
    return terms


def read_term_file(path: str | os.PathLike, option: str) -> list[str]:
    """Identity terms of a UTF-8 term file (one per line); errors name ``option``."""
    return read_terms(check_text_file(path, option))


def axis_terms(axis: str) -> list[str]:
    """The identity terms shipped for ``axis`` (see :data:`AXES`)."""
    if axis not in AXES:
        raise ConfigError(f"unknown axis {axis!r}; valid axes: {', '.join(AXES)}")
    folder = resources.files("peftdebias").joinpath("resources", "identity_terms")
    terms: dict[str, None] = {}
    for name in AXES[axis]:
        text = folder.joinpath(f"{name}.txt").read_text("utf-8")
        terms.update(dict.fromkeys(parse_terms(text, f"identity_terms/{name}.txt")))
    return list(terms)


def reference_code_terms() -> list[str]:
    """The 54 identity words (``group_bias_words``) of the PEFTDebias reference code's FPRD,
    shipped as ``resources/identity_terms/reference_code.txt`` (axis ``reference-code``)."""
    return axis_terms("reference-code")


_WORD = re.compile(r"\w+")


def words(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens (runs of letters, digits and underscores) of ``text``."""
    return tuple(_WORD.findall(text.lower()))


def term_matrix(
    texts: Sequence[str], terms: Sequence[str], longest_only: bool = False
) -> np.ndarray:
    """Boolean matrix M (len(texts) x len(terms)), M[i, j] = text i contains term j.

    Texts and terms are split into :func:`words`; a text contains a term when the term's
    words occur in it contiguously ("African  American" and "african-american" both
    contain "african american"; "jewelry" does not contain "jew").

    With ``longest_only`` a text is scanned left to right for non-overlapping matches,
    longest term first, so that "african american" counts for that term only and not also
    for "african" and "american" (used for IPTTS, one identity term per sentence).
    """
    columns: Columns = {}
    for j, term in enumerate(terms):
        key = words(term)
        if not key:
            raise ValueError(f"identity term {term!r} contains no word")
        columns.setdefault(key, []).append(j)
    lengths = sorted({len(key) for key in columns}, reverse=True)
    scan = _longest_matches if longest_only else _all_matches
    matrix = np.zeros((len(texts), len(terms)), dtype=bool)
    for i, text in enumerate(texts):
        for found in scan(words(text), columns, lengths):
            matrix[i, found] = True
    return matrix


Columns = dict[tuple[str, ...], list[int]]  # a term's words -> its column(s)


def _all_matches(tokens: tuple[str, ...], columns: Columns, lengths: list[int]):
    """The columns of every contiguous occurrence of a term in ``tokens``."""
    for n in lengths:
        for position in range(len(tokens) - n + 1):
            found = columns.get(tokens[position : position + n])
            if found:
                yield found


def _longest_matches(tokens: tuple[str, ...], columns: Columns, lengths: list[int]):
    """Left to right, non-overlapping, the longest term first at each position."""
    position = 0
    while position < len(tokens):
        step = 1
        for n in lengths:
            found = columns.get(tokens[position : position + n])
            if found and position + n <= len(tokens):  # a full n-word match
                step = n
                yield found
                break
        position += step
