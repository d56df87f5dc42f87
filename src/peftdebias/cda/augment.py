"""Counterfactual data augmentation (CDA; Zhao et al. 2018, Webster et al. 2020).

Rules (``docs/cda.md`` has the rationale):

- **Matching**: whole words, case-insensitive, longest term first; a term is not matched
  inside a longer word (``hershey``, ``mankind``) but is next to punctuation, an apostrophe or
  a hyphen (``man's`` -> ``woman's``, ``He'll`` -> ``She'll``, ``ex-wife`` -> ``ex-husband``,
  ``anti-white`` -> ``anti-asian``). Words of a multi-word term may be separated by any
  whitespace.
- **Rotation**: a term at position ``i`` of a tuple of length ``m`` becomes position
  ``(i + k) mod m`` in counterfactual ``k``, for every match of the sentence at once. A
  sentence whose longest matched tuple has length ``n`` yields exactly ``n - 1``
  counterfactuals, ``k = 1 .. n-1`` (pairs: one, the swap).
- **Ambiguity**: a term listed in several tuples uses the first one, except ``her`` which, when
  the list pairs it with both ``his`` and ``him``, becomes ``his`` before a content word and
  ``him`` before a function word, punctuation or the end (``her book`` -> ``his
  book``, ``saw her.`` -> ``saw him.``).
- **Case**: the replacement takes the case pattern of the matched text (``HIS`` -> ``HER``,
  ``Father`` -> ``Mother``, ``African American`` -> ``European American``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

from ..errors import DataError
from .wordlists import CONTEXT_RULES, WordList, normalize_term

# After ``her``, these words mark an object pronoun (``him``); any other word (letters or
# digits, up to an apostrophe) is taken as part of a noun phrase (``his``). Prepositions,
# determiners, pronouns, conjunctions, auxiliaries, common adverbs, and common verbs that follow
# an object in a bare-infinitive clause (``let her go``).
_FUNCTION_WORD_TEXT = """
    about above across after against along among around as at before behind below beneath
    beside besides between beyond but by despite down during except for from in inside into
    like near of off on onto out outside over past per since than through throughout till to
    toward towards under underneath until up upon via with within without
    a an the this that these those my your his her its our their some any no every each all
    both either neither another such what which whose who whom
    i me you he she it we they us them him himself herself myself yourself ourselves
    themselves itself
    and or nor so yet because if when while whereas unless although though tho whether then
    not too very now again back away here there today tonight tomorrow yesterday already just
    also even still ever never always well alone anymore anyway once really much more most
    less enough
    is are was were be been being am has have had do does did will would shall should can
    could may might must
    go get know see make take come leave stay say think feel look talk win die live work speak
    try tell walk sleep eat cry laugh fall run help let
"""
FUNCTION_WORDS: frozenset[str] = frozenset(_FUNCTION_WORD_TEXT.split())
_NEXT_WORD = re.compile(r"\s*([^\W_][\w-]*)")
_WORD_PARTS = re.compile(r"[^\s-]+")
_LEFT = r"(?<!\w)"
_RIGHT = r"(?!\w)"


@dataclass(frozen=True)
class AugmentedText:
    """One text of the augmented corpus: an original (``rotation == 0``) or counterfactual."""

    text: str
    source: int  # index of the input text it came from
    original: str
    rotation: int  # k of counterfactual k; 0 for the original itself
    matched: tuple[str, ...]  # attribute terms found in ``original``, in order, normalised

    @property
    def is_counterfactual(self) -> bool:
        return self.rotation > 0

    def to_dict(self) -> dict:
        row = asdict(self)
        row["matched"] = list(self.matched)
        row["is_counterfactual"] = self.is_counterfactual
        return row


# (start, end, surface text, normalised term, rotation table: rot[j] = term at offset j)
_Match = tuple[int, int, str, str, tuple[str, ...]]


class CounterfactualAugmenter:
    """Swap the attribute terms of a :class:`WordList` in text (see module docstring)."""

    def __init__(self, word_list: WordList) -> None:
        self.word_list = word_list
        self._rotations: dict[str, tuple[str, ...]] = {}
        candidates: dict[str, list[str]] = {}
        for row in word_list.tuples:
            n = len(row)
            for i, term in enumerate(row):
                self._rotations.setdefault(term, tuple(row[(i + j) % n] for j in range(n)))
                candidates.setdefault(term, [])
                if row[(i + 1) % n] not in candidates[term]:
                    candidates[term].append(row[(i + 1) % n])
        self.ambiguous: dict[str, tuple[str, ...]] = {
            term: tuple(found) for term, found in candidates.items() if len(found) > 1
        }
        """Terms with several counterparts (counterfactual 1) in the list, in list order."""
        self._context: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
            term: ((term, before_noun), (term, otherwise))
            for term, (before_noun, otherwise) in CONTEXT_RULES.items()
            if len(self._rotations.get(term, ())) == 2
            and {before_noun, otherwise} <= set(candidates[term])
        }
        self._pattern, self._fallback = _compile(self._rotations)

    @property
    def axis(self) -> str:
        return self.word_list.axis

    def _scan(self, text: str) -> list[_Match]:
        found = []
        lowered = text.lower()
        if len(lowered) == len(text):  # offsets agree: match the lowercased text (faster)
            matches = self._pattern.finditer(lowered)
        else:
            matches = self._fallback.finditer(text)
        for match in matches:
            surface = text[match.start() : match.end()]
            term = normalize_term(match.group())
            rotation = self._rotations.get(term)
            if rotation is None:  # a Unicode case-insensitive match that casefolds differently
                continue
            if term in self._context:
                before_noun, otherwise = self._context[term]
                following = _NEXT_WORD.match(text, match.end())
                noun_next = following is not None and (
                    following.group(1).casefold() not in FUNCTION_WORDS
                )
                rotation = before_noun if noun_next else otherwise
            found.append((match.start(), match.end(), surface, term, rotation))
        return found

    def matches(self, text: str) -> list[str]:
        """The attribute terms of ``text`` in order of occurrence (normalised, repeats kept)."""
        return [term for _, _, _, term, _ in self._scan(text)]

    def counterfactuals(self, text: str) -> list[str]:
        """Counterfactuals ``k = 1 .. n-1`` of ``text`` (``[]`` when no term matches)."""
        return _render_all(text, self._scan(text))

    def iter_augment(
        self, texts: Iterable[str], *, keep_original: bool = True, drop_unmatched: bool = False
    ) -> Iterator[AugmentedText]:
        """Augmented corpus, input order kept.

        ``keep_original=True`` is two-sided CDA (a matched text is followed by its
        counterfactuals), ``False`` one-sided (the counterfactuals replace it). Texts with no
        attribute term are passed through unchanged unless ``drop_unmatched``.
        """
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(f"text {index} is a {type(text).__name__}, not a string")
            found = self._scan(text)
            if not found:
                if not drop_unmatched:
                    yield AugmentedText(text, index, text, 0, ())
                continue
            matched = tuple(term for _, _, _, term, _ in found)
            if keep_original:
                yield AugmentedText(text, index, text, 0, matched)
            for k, counterfactual in enumerate(_render_all(text, found), start=1):
                yield AugmentedText(counterfactual, index, text, k, matched)

    def augment(
        self, texts: Iterable[str], *, keep_original: bool = True, drop_unmatched: bool = False
    ) -> list[AugmentedText]:
        """:meth:`iter_augment` as a list."""
        return list(
            self.iter_augment(texts, keep_original=keep_original, drop_unmatched=drop_unmatched)
        )

    def augment_texts(
        self, texts: Iterable[str], *, keep_original: bool = True, drop_unmatched: bool = False
    ) -> list[str]:
        """Only the texts of :meth:`augment` (e.g. an MLM training corpus)."""
        return [
            record.text
            for record in self.iter_augment(
                texts, keep_original=keep_original, drop_unmatched=drop_unmatched
            )
        ]


class MultiAxisAugmenter:
    """Counterfactuals along several axes for one joint module (``upstream --axis
    gender,race``): each axis' :class:`CounterfactualAugmenter` swaps only its own words, and a
    text gets the counterfactuals of every axis it matches, axis by axis (an n-tuple axis gives
    n - 1), duplicates and the text itself dropped. Axes are not crossed: "he is black" gets
    "she is black" (gender) and "he is white", "he is asian" (race), not "she is white"."""

    def __init__(self, augmenters: Sequence[CounterfactualAugmenter]) -> None:
        self.augmenters = tuple(augmenters)

    @property
    def axis(self) -> str:
        return ",".join(augmenter.axis for augmenter in self.augmenters)

    def counterfactuals(self, text: str) -> list[str]:
        """The counterfactuals of ``text`` along each axis, in axis order, without repeats."""
        found = dict.fromkeys(
            other for augmenter in self.augmenters for other in augmenter.counterfactuals(text)
        )
        found.pop(text, None)
        return list(found)


def axis_augmenter(
    word_lists: Sequence[WordList],
) -> CounterfactualAugmenter | MultiAxisAugmenter:
    """The augmenter of one word list, or the joint one of several (:func:`load_axes`)."""
    augmenters = [CounterfactualAugmenter(word_list) for word_list in word_lists]
    return augmenters[0] if len(augmenters) == 1 else MultiAxisAugmenter(augmenters)


def _render_all(text: str, found: list[_Match]) -> list[str]:
    if not found:
        return []
    n = max(len(rotation) for *_, rotation in found)
    return [_render(text, found, k) for k in range(1, n)]


def _render(text: str, found: list[_Match], k: int) -> str:
    pieces = []
    position = 0
    for start, end, surface, _, rotation in found:
        pieces.append(text[position:start])
        offset = k % len(rotation)
        pieces.append(surface if offset == 0 else match_case(surface, rotation[offset]))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def match_case(source: str, target: str) -> str:
    """``target`` in the case pattern of ``source``: UPPER (two or more letters, all upper),
    Each Word Capitalised (words split at spaces and hyphens), First capitalised, or as is."""
    letters = [ch for ch in source if ch.isalpha()]
    if len(letters) > 1 and all(ch.isupper() for ch in letters):
        return target.upper()
    if not source[:1].isupper():
        return target
    words = _WORD_PARTS.findall(source)
    if len(words) > 1 and all(word[:1].isupper() for word in words):
        return _WORD_PARTS.sub(lambda part: part.group()[:1].upper() + part.group()[1:], target)
    return target[:1].upper() + target[1:]


def _compile(terms: Iterable[str]) -> tuple[re.Pattern, re.Pattern]:
    """Regexes matching exactly ``terms`` as whole words, built as a character trie so that
    matching costs one branch per character instead of one attempt per term (longer terms are
    tried first). The first matches lowercased text: each alternative starts with its literal
    first character, which lets the regex engine skip straight to candidate positions. The
    second, case-insensitive, serves texts whose length changes when lowercased."""
    root: dict[str, dict] = {}
    for term in terms:
        node = root
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}
    fast = "|".join(
        _char_regex(char) + r"(?<!\w.)" + _node_regex(child) for char, child in sorted(root.items())
    )
    return (
        re.compile("(?:" + fast + ")" + _RIGHT),
        re.compile(_LEFT + "(?:" + _node_regex(root) + ")" + _RIGHT, re.IGNORECASE),
    )


def _node_regex(node: dict[str, dict]) -> str:
    branches = [
        _char_regex(char) + _node_regex(child) for char, child in sorted(node.items()) if char
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a term ends here: the continuation is optional (greedy = longest first)
        return "(?:" + body + ")?"
    return body


def _char_regex(char: str) -> str:
    """A space matches any whitespace run, ``'`` also the typographic apostrophe."""
    if char == " ":
        return r"\s+"
    if char == "'":
        return "['\u2019]"
    return re.escape(char)
