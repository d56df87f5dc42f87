"""Identity term lists and whole-word term matching for FPRD.

A term list is a text file with one term per line (blank lines and lines starting with
``#`` are ignored), e.g. the lists shipped in ``peftdebias/resources/identity_terms/`` or
``ghc/identity_group_words.txt``. A text contains term t when t occurs as a whole word
(or, for a multi-word term, a contiguous run of whole words), case-insensitively.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .names import AXES

# Axis name -> shipped list files it unites. "group" is the mixed axis of the PEFTDebias
# hate-speech experiments (race, religion and sexual orientation together).


def parse_terms(text: str) -> list[str]:
    """Terms of a term-list text: stripped, lower-cased, de-duplicated in order."""
    terms: dict[str, None] = {}
    for line in text.splitlines():
        term = " ".join(line.split()).lower()
        if term and not term.startswith("#"):
            terms[term] = None
    return list(terms)


def read_terms(path: str | os.PathLike) -> list[str]:
    """Terms of the file ``path``; :class:`DataError` when missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"term list {path} does not exist")
    terms = parse_terms(path.read_text(encoding="utf-8"))
    if not terms:
        raise DataError(f"term list {path} holds no terms")
    return terms


def axis_terms(axis: str) -> list[str]:
    """The identity terms shipped for ``axis`` (see :data:`AXES`)."""
    if axis not in AXES:
        raise ConfigError(f"unknown axis {axis!r}; valid axes: {', '.join(AXES)}")
    folder = resources.files("peftdebias").joinpath("resources", "identity_terms")
    terms: dict[str, None] = {}
    for name in AXES[axis]:
        terms.update(dict.fromkeys(parse_terms(folder.joinpath(f"{name}.txt").read_text("utf-8"))))
    return list(terms)


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
    columns: dict[tuple[str, ...], list[int]] = {}
    for j, term in enumerate(terms):
        key = words(term)
        if not key:
            raise ValueError(f"identity term {term!r} contains no word")
        columns.setdefault(key, []).append(j)
    lengths = sorted({len(key) for key in columns}, reverse=True)
    matrix = np.zeros((len(texts), len(terms)), dtype=bool)
    for i, text in enumerate(texts):
        tokens = words(text)
        if longest_only:
            position = 0
            while position < len(tokens):
                step = 1
                for n in lengths:
                    found = columns.get(tokens[position : position + n])
                    if found and position + n <= len(tokens):  # a full n-word match
                        matrix[i, found], step = True, n
                        break
                position += step
            continue
        for n in lengths:
            for position in range(len(tokens) - n + 1):
                found = columns.get(tokens[position : position + n])
                if found:
                    matrix[i, found] = True
    return matrix
