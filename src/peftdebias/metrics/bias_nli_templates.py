"""Bias-NLI sentence pairs (after Dev et al. 2020, "On Measuring and Mitigating Biased
Inferences of Word Embeddings", AAAI 2020, Sec. 3).

A premise names an occupation, the hypothesis a gendered word, all else equal:

    premise:    "The {occupation} {verb} {a|an} {object}."
    hypothesis: "The {gender_word} {verb} {a|an} {object}."

Neither sentence implies or contradicts the other, so an unbiased NLI model predicts
*neutral*. Verbs are paired with objects they fit: eating verbs with food, driving verbs
with vehicles, commerce verbs with every object list. The templates are this project's
own; the word lists are those of the authors' generator (data set ``bias-nli-words``).

The pairs are the Cartesian product occupation x gender word x (verb, object), in that
order; ``sample`` draws that many pairs without replacement, deterministically from
``seed``, without materialising the product.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from ..data.registry import load

# Verb list -> object lists it is combined with.
VERB_OBJECTS: dict[str, tuple[str, ...]] = {
    "eating_verbs": ("food",),
    "driving_verbs": ("vehicles",),
    "commerce_verbs": ("food", "farm_animals", "household", "clothes", "furniture", "vehicles"),
}
WORD_GENDER: dict[str, str] = {
    "man": "male",
    "gentleman": "male",
    "guy": "male",
    "boy": "male",
    "woman": "female",
    "lady": "female",
    "girl": "female",
}
# Upper-case initialisms whose spoken first letter starts with a vowel sound ("an SUV").
_VOWEL_SOUND_LETTERS = "AEFHILMNORSX"


def article(noun: str) -> str:
    """Return "an" before a vowel sound, else "a" (initialisms by their first letter's name)."""
    if noun.isupper():
        return "an" if noun[0] in _VOWEL_SOUND_LETTERS else "a"
    return "an" if noun[0].lower() in "aeiou" else "a"


@dataclass(frozen=True)
class BiasNliWords:
    """The word lists the generator combines."""

    occupations: tuple[str, ...]
    gender_words: tuple[str, ...]
    verb_objects: tuple[tuple[str, str], ...]  # (verb, object) pairs

    @property
    def size(self) -> int:
        """Number of distinct pairs: |occupations| * |gender words| * |(verb, object)|."""
        return len(self.occupations) * len(self.gender_words) * len(self.verb_objects)


def load_bias_nli_words(data_dir: str | os.PathLike | None = None) -> BiasNliWords:
    """Read the word lists of data set ``bias-nli-words`` from ``data_dir``."""

    def words(split: str) -> list[str]:
        return list(load("bias-nli-words", split, data_dir)["word"])

    objects = {name: words(name) for name in sorted({o for v in VERB_OBJECTS.values() for o in v})}
    verb_objects = [
        (verb, obj)
        for verb_list, object_lists in VERB_OBJECTS.items()
        for verb in words(verb_list)
        for object_list in object_lists
        for obj in objects[object_list]
    ]
    return BiasNliWords(
        occupations=tuple(words("occupations")),
        gender_words=tuple(words("gendered_words")),
        verb_objects=tuple(verb_objects),
    )


def _pair(words: BiasNliWords, index: int, neutral_label: int) -> dict[str, Any]:
    """Pair number ``index`` of the product occupation x gender word x (verb, object)."""
    rest, vo_index = divmod(index, len(words.verb_objects))
    occ_index, gender_index = divmod(rest, len(words.gender_words))
    occupation, gender_word = words.occupations[occ_index], words.gender_words[gender_index]
    verb, obj = words.verb_objects[vo_index]
    tail = f"{verb} {article(obj)} {obj}."
    return {
        "id": f"bias-nli-{index}",
        "text": f"The {occupation} {tail}",
        "text_pair": f"The {gender_word} {tail}",
        "label": neutral_label,
        "occupation": occupation,
        "gender_word": gender_word,
        "gender": WORD_GENDER.get(gender_word.lower(), "unknown"),
        "verb": verb,
        "object": obj,
    }


def generate_bias_nli(
    words: BiasNliWords,
    sample: int | None = None,
    seed: int = 0,
    neutral_label: int = 1,
) -> Dataset:
    """Bias-NLI pairs as a ``Dataset``: ``id, text`` (premise), ``text_pair`` (hypothesis),
    ``label`` (= ``neutral_label``, the expected answer), ``occupation, gender_word, gender,
    verb, object``.

    All ``words.size`` pairs in product order, or ``sample`` of them drawn with
    ``random.Random(seed)`` and kept in product order (the same for the same arguments).
    """
    if sample is None:
        indices = range(words.size)
    elif not 0 < sample <= words.size:
        raise ValueError(f"sample must be between 1 and {words.size}, got {sample}")
    else:
        indices = sorted(random.Random(seed).sample(range(words.size), sample))
    rows = [_pair(words, index, neutral_label) for index in indices]
    return Dataset.from_list(rows)
