"""The upstream corpus: texts loaded and cleaned, a held-out slice split off BEFORE
augmentation (so no counterfactual of a held-out sentence is trained on), and both parts
augmented with counterfactual data augmentation (CDA)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..cda import WordList
from ..data import load_text_corpus
from ..errors import DataError
from .config import UpstreamConfig, UpstreamPlan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Corpus:
    """The texts of one upstream run and their CDA rows (``{"text", "counterfactual"}``)."""

    texts: list[str]  # every usable text
    train_texts: list[str]
    heldout_texts: list[str]
    rows: list[dict[str, str]]  # training rows after CDA
    heldout_rows: list[dict[str, str]]  # held-out rows after two-sided CDA
    matched: int  # training texts with at least one attribute word
    axis: str  # the augmenter's axis ("gender", "gender+race", ...)

    def record(self, config: UpstreamConfig) -> dict[str, Any]:
        """The ``corpus`` entry of ``debias.json``."""
        return {
            "name": config.corpus,
            "split": config.corpus_split,
            "texts": len(self.texts),
            "train_texts": len(self.train_texts),
            "heldout_texts": len(self.heldout_texts),
            "texts_with_attribute_words": self.matched,
            "training_rows_after_cda": len(self.rows),
            "keep_original": config.keep_original,
        }


def build_corpus(texts: list[str], augmenter, keep_original: bool) -> tuple[list[dict], int]:
    """Rows ``{"text", "counterfactual"}`` for the trainer, and how many texts matched.

    Every original text with at least one attribute word yields one row per counterfactual
    (``text`` = counterfactual, ``counterfactual`` = original, for the consistency pairs);
    originals are kept as rows of their own (paired with their first counterfactual) when
    ``keep_original`` (two-sided CDA), and texts without any attribute word stay as plain
    MLM text.
    """
    rows: list[dict] = []
    matched = 0
    for text in texts:
        counterfactuals = augmenter.counterfactuals(text)
        if counterfactuals:
            matched += 1
            if keep_original:
                rows.append({"text": text, "counterfactual": counterfactuals[0]})
            rows.extend({"text": cf, "counterfactual": text} for cf in counterfactuals)
        elif keep_original:
            rows.append({"text": text, "counterfactual": ""})
    return rows, matched


def split_heldout(
    texts: list[str], fraction: float, cap: int, seed: int
) -> tuple[list[str], list[str]]:
    """``(train, held out)``: a seeded ``fraction`` of ``texts`` (1 to ``cap``) held out,
    both in corpus order."""
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed)).tolist()
    n_eval = max(1, min(cap, round(len(texts) * fraction)))
    held = set(order[:n_eval])
    train = [t for i, t in enumerate(texts) if i not in held]
    return train, [texts[i] for i in sorted(held)]


def usable_texts(texts: Iterable[str], name: str, max_texts: int | None = None) -> list[str]:
    """The non-blank texts among the first ``max_texts`` of ``texts`` (all when None);
    :class:`DataError` naming corpus ``name`` for none."""
    texts = list(texts)
    if max_texts:
        texts = texts[:max_texts]
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise DataError(f"corpus {name!r} has no text")
    return texts


def load_texts(config: UpstreamConfig) -> list[str]:
    """The corpus' non-blank texts (the first ``max_texts``); :class:`DataError` for none."""
    texts = load_text_corpus(config.corpus, data_dir=config.data_dir, split=config.corpus_split)
    return usable_texts(texts, config.corpus, config.max_texts)


def prepare_corpus(config: UpstreamConfig, plan: UpstreamPlan) -> Corpus:
    """Load, split and augment the corpus of ``config`` (:func:`augment_corpus`)."""
    return augment_corpus(load_texts(config), config, plan)


def augment_corpus(texts: list[str], config: UpstreamConfig, plan: UpstreamPlan) -> Corpus:
    """Split ``texts`` (the corpus ``config.corpus``) into training and held-out texts and
    augment both; :class:`DataError` when no training text holds a word of the axis (CDA
    would have nothing to swap)."""
    augmenter = plan.augmenter
    train_texts, heldout_texts = split_heldout(
        texts, plan.eval_fraction, plan.max_eval_texts, config.seed
    )
    rows, matched = build_corpus(train_texts, augmenter, config.keep_original)
    if matched == 0:
        raise DataError(
            f"corpus {config.corpus!r}: none of its {len(train_texts)} training texts contains "
            f"a word of the {augmenter.axis!r} word list, so CDA has nothing to augment"
        )
    heldout_rows, _ = build_corpus(heldout_texts, augmenter, keep_original=True)
    logger.info(
        "corpus %s: %d texts (%d held out); %d contain %s words; %d training rows after CDA",
        config.corpus, len(texts), len(heldout_texts), matched, augmenter.axis, len(rows),
    )  # fmt: skip
    return Corpus(texts, train_texts, heldout_texts, rows, heldout_rows, matched, augmenter.axis)


def word_list_hash(word_lists: Sequence[WordList]) -> str:
    """Hash of the word list's tuples (several axes: of the lists of tuples, in axis order)."""
    tuples = [[list(t) for t in word_list.tuples] for word_list in word_lists]
    canonical = json.dumps(tuples[0] if len(tuples) == 1 else tuples, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
