"""Counterfactual data augmentation: word lists and the swapper (see ``docs/cda.md``).

>>> augmenter = CounterfactualAugmenter(load_word_list("gender"))
>>> augmenter.counterfactuals("He said HIS father's car is hers.")
["She said HER mother's car is his."]
"""

from .augment import (
    AugmentedText,
    CounterfactualAugmenter,
    MultiAxisAugmenter,
    axis_augmenter,
    match_case,
)
from .files import CdaSummary, augment_file, read_texts
from .wordlists import (
    AXES,
    WordList,
    as_word_lists,
    load_axes,
    load_word_list,
    read_word_lists,
)

__all__ = [
    "AXES",
    "AugmentedText",
    "CdaSummary",
    "CounterfactualAugmenter",
    "MultiAxisAugmenter",
    "WordList",
    "as_word_lists",
    "augment_file",
    "axis_augmenter",
    "load_axes",
    "load_word_list",
    "match_case",
    "read_texts",
    "read_word_lists",
]
