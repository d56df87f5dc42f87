"""Property tests of CDA: sentences built from list terms and filler words."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peftdebias.cda import CounterfactualAugmenter, WordList, load_word_list

# Words that are in no list, several of which contain a term inside them.
FILLERS = (
    "the", "cat", "sat", "on", "a", "mat", "today", "quickly", "blue", "they", "them",
    "hershey", "mankind", "sheriff", "history", "themselves", "manchester", "whitewash",
    "blackboard", "asiatic", "jewelry", "churchill", "kingdom", "sonnet", "heather", "1984",
)  # fmt: skip
SEPARATORS = (" ", ", ", " ... ", "; ", " (", ") ", "\n", " - ", '"')
AUGMENTERS = {
    axis: CounterfactualAugmenter(load_word_list(axis))
    for axis in ("gender", "race", "religion", "group")
}


def unambiguous_tuples(word_list: WordList) -> list[tuple[str, ...]]:
    """Tuples none of whose terms occurs in another tuple of the list."""
    counts = Counter(term for row in word_list.tuples for term in row)
    return [row for row in word_list.tuples if all(counts[term] == 1 for term in row)]


def styled(term: str, style: str) -> str:
    if style == "upper":
        return term.upper()
    if style == "title":
        return " ".join(word[:1].upper() + word[1:] for word in term.split(" "))
    return term


def sentences(rows: list[tuple[str, ...]], min_terms: int = 1):
    """(sentence, terms in order): fillers and styled terms, a filler between two terms."""
    term = st.sampled_from(rows).flatmap(
        lambda row: st.tuples(
            st.just(row), st.integers(0, len(row) - 1), st.sampled_from(("lower", "title", "upper"))
        )
    )
    chunk = st.tuples(st.lists(st.sampled_from(FILLERS), min_size=1, max_size=3), term)
    return st.tuples(
        st.lists(chunk, min_size=min_terms, max_size=5),
        st.lists(st.sampled_from(FILLERS), max_size=3),
        st.lists(st.sampled_from(SEPARATORS), min_size=40, max_size=40),
    ).map(_join)


def _join(parts) -> tuple[str, list[str]]:
    chunks, tail, separators = parts
    tokens, terms = [], []
    for fillers, (row, position, style) in chunks:
        tokens.extend(fillers)
        tokens.append(styled(row[position], style))
        terms.append(row[position])
    tokens.extend(tail)
    text = tokens[0]
    for token, separator in zip(tokens[1:], separators, strict=False):
        text += separator + token
    return text, terms


def test_fillers_are_in_no_list() -> None:
    for augmenter in AUGMENTERS.values():
        assert not set(FILLERS) & augmenter.word_list.terms


PAIRS = unambiguous_tuples(load_word_list("gender"))


@settings(max_examples=200, deadline=None)
@given(sentences(PAIRS))
def test_pair_swap_twice_is_identity(example) -> None:
    text, terms = example
    augmenter = AUGMENTERS["gender"]
    assert augmenter.matches(text) == terms
    (swapped,) = augmenter.counterfactuals(text)
    assert swapped != text
    assert augmenter.counterfactuals(swapped) == [text]


@pytest.mark.parametrize("axis", ["race", "religion"])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_ternary_rotations_invert(axis, data) -> None:
    augmenter = AUGMENTERS[axis]
    text, terms = data.draw(sentences(unambiguous_tuples(augmenter.word_list)))
    counterfactuals = augmenter.counterfactuals(text)
    assert len(counterfactuals) == 2  # n - 1 for triples
    assert len({text, *counterfactuals}) == 3
    for k, counterfactual in enumerate(counterfactuals, start=1):
        # rotating by k then by n - k brings every term back to its position
        assert augmenter.counterfactuals(counterfactual)[3 - k - 1] == text
        assert len(augmenter.matches(counterfactual)) == len(terms)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(AUGMENTERS)), st.data())
def test_fallback_regex_agrees_with_fast_path(axis, data) -> None:
    # "İ" lengthens when lowercased, which routes the text through the case-insensitive regex
    augmenter = AUGMENTERS[axis]
    text, terms = data.draw(sentences(augmenter.word_list.tuples))
    prefixed = augmenter.counterfactuals("İ " + text)
    assert prefixed == ["İ " + counterfactual for counterfactual in augmenter.counterfactuals(text)]
    assert augmenter.matches("İ " + text) == augmenter.matches(text) == terms


@settings(max_examples=100, deadline=None)
@given(sentences(unambiguous_tuples(AUGMENTERS["group"].word_list)))
def test_mixed_arity_yields_largest_arity_minus_one(example) -> None:
    text, terms = example
    augmenter = AUGMENTERS["group"]
    arity = {term: len(row) for row in augmenter.word_list.tuples for term in row}
    counterfactuals = augmenter.counterfactuals(text)
    assert len(counterfactuals) == max(arity[term] for term in terms) - 1
    assert text not in counterfactuals
    assert len(set(counterfactuals)) == len(counterfactuals)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(FILLERS), min_size=1, max_size=12),
    st.lists(st.sampled_from(SEPARATORS), min_size=12, max_size=12),
)
def test_no_attribute_word_leaves_text_unchanged(words, separators) -> None:
    text = words[0] + "".join(s + w for s, w in zip(separators, words[1:], strict=False))
    for augmenter in AUGMENTERS.values():
        assert augmenter.matches(text) == []
        assert augmenter.counterfactuals(text) == []
        assert augmenter.augment_texts([text], keep_original=False) == [text]
        assert augmenter.augment_texts([text], drop_unmatched=True) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_fails(text) -> None:
    for augmenter in AUGMENTERS.values():
        counterfactuals = augmenter.counterfactuals(text)
        assert (counterfactuals == []) == (augmenter.matches(text) == [])
