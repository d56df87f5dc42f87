"""Downstream tasks: which splits to train/select/test on, the selection metric, class
weights, and how to turn a row into model input.

Defaults follow the PEFTDebias reference code: accuracy for Bias in Bios and NLI, macro-F1 for
hate speech, class weights GHC {0: 1, 1: 10} and Stormfront {0: 1, 1: 6.7}.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # datasets loads in ~1 s; the registry is read by `--help`
    from datasets import Dataset


@dataclass(frozen=True)
class TaskSpec:
    """A downstream task: data splits, metric, class weights and its fairness evaluation."""

    name: str
    train: str
    dev: str
    test: str
    metric: str  # "accuracy" | "macro_f1"
    num_labels: int | None = None
    class_weights: dict[int, float] | None = None
    # its task-specific evaluation (peftdebias.downstream.evaluations.EVALUATIONS): "iptts"
    # (hate speech: FPRD on IPTTS too), "bias-nli" (NLI), "gap" (coreference: pronoun and
    # candidates marked in the text); None: none
    evaluation: str | None = None
    carve: bool = False  # the source has one split only: carve train/dev/test 80/10/10
    label_names: tuple[str, ...] | None = field(default=None, compare=False)
    description: str = field(default="", compare=False)  # one line, for help and errors


TASKS: dict[str, TaskSpec] = {}


def register_task(task: TaskSpec) -> TaskSpec:
    """Add a named task (its data set must be registered under the same name,
    :mod:`peftdebias.data.sources`); its description shows in ``--task`` help."""
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    TASKS[task.name] = task
    return task


def task_help() -> str:
    """The ``--task`` help: every registered task with its description, or a user file."""
    named = "; ".join(f"{t.name}: {t.description}" for t in TASKS.values())
    return f"a registered task ({named}) or a .csv/.tsv/.jsonl file of your own"


register_task(TaskSpec(
    "bias-in-bios", "train", "dev", "test", "accuracy", 28,
    description="occupation from a biography, 28 classes, TPR-GAP over gender",
))  # fmt: skip
register_task(TaskSpec(
    "ghc", "train", "dev", "test", "macro_f1", 2, {0: 1.0, 1: 10.0}, evaluation="iptts",
    description="Gab Hate Corpus, hate speech, FPRD on test and IPTTS",
))  # fmt: skip
register_task(TaskSpec(
    "stormfront", "train", "dev", "test", "macro_f1", 2, {0: 1.0, 1: 6.7}, evaluation="iptts",
    description="Stormfront forum, hate speech, FPRD on test and IPTTS",
))  # fmt: skip
register_task(TaskSpec(
    "founta", "train", "dev", "test", "macro_f1", 2, evaluation="iptts",
    description="Founta et al. tweets, abusive language, FPRD on test and IPTTS",
))  # fmt: skip
# the shipped NLI files are 1000-example samples (mnli.tsv holds the same pairs as
# mnli_mismatched.tsv): carve matched 80/10/10
register_task(TaskSpec(
    "mnli", "matched", "matched", "matched", "accuracy", 3, evaluation="bias-nli", carve=True,
    description="MultiNLI sample, Bias-NLI neutrality",
))  # fmt: skip
register_task(TaskSpec(
    "snli", "test", "test", "test", "accuracy", 3, evaluation="bias-nli", carve=True,
    description="SNLI sample, Bias-NLI neutrality",
))  # fmt: skip
# GAP: train on gap-test, select on gap-validation, test on gap-development (the usual
# split when fine-tuning on GAP; the official test set stays unseen by selection)
register_task(TaskSpec(
    "gap", "test", "validation", "dev", "macro_f1", 3, evaluation="gap",
    description="GAP pronoun coreference, F1 and female/male F1 ratio",
))  # fmt: skip


def get_task(
    name_or_path: str, dev_file: str | None = None, test_file: str | None = None
) -> TaskSpec:
    """The registered task ``name_or_path``, or a user file task: the training file, carved
    80/10/10, or with its own ``dev_file`` and ``test_file`` (both or neither)."""
    key = name_or_path.strip().lower()
    if key in TASKS:
        if dev_file or test_file:
            raise ConfigError(
                f"--dev-file and --test-file go with --task FILE (a training file), not the "
                f"registered task {key!r}, which has its own splits"
            )
        return TASKS[key]
    path = Path(name_or_path)
    if path.suffix.lower() not in {".csv", ".tsv", ".tab", ".jsonl"}:
        raise ConfigError(f"unknown --task {name_or_path!r}; valid: {task_help()}")
    files = {"--task": path, "--dev-file": dev_file, "--test-file": test_file}
    for option, file in files.items():
        if file and not Path(file).is_file():
            raise ConfigError(f"{option} file {file} does not exist")
    if bool(dev_file) != bool(test_file):
        raise ConfigError(
            "give --dev-file and --test-file together (or neither: --task FILE is then carved "
            "80/10/10 into train, dev and test)"
        )
    if dev_file:
        return TaskSpec(str(path), str(path), str(dev_file), str(test_file), "macro_f1")
    return TaskSpec(str(path), "all", "all", "all", "macro_f1", carve=True)


# the marks mark_coreference puts around the candidates A, B and the pronoun
MARKS = (("[A] ", " [/A]"), ("[B] ", " [/B]"), ("<P> ", " </P>"))


def mark_coreference(row: dict) -> str:
    """GAP text with the candidates and the pronoun marked: ``[A] ... [/A]``, ``[B] ... [/B]``,
    ``<P> ... </P>`` inserted at their character offsets (right to left, so earlier offsets
    stay valid)."""
    text = row["text"]
    spans = [
        (row["a_offset"], row["a"], *MARKS[0]),
        (row["b_offset"], row["b"], *MARKS[1]),
        (row["pronoun_offset"], row["pronoun"], *MARKS[2]),
    ]
    for offset, span, left, right in sorted(spans, key=lambda s: s[0], reverse=True):
        end = offset + len(span)
        text = text[:offset] + left + text[offset:end] + right + text[end:]
    return text


def crop_to_mentions(text: str, tokenizer, max_length: int) -> str:
    """Cut a :func:`mark_coreference` text to a window of ``max_length`` tokens (special
    tokens included) that holds every mark, centred on them.

    Plain truncation keeps the first tokens: GAP passages are ~116 MiniLM tokens (median,
    marks included) and the pronoun usually comes late, so at 64 tokens only 5 % of them keep
    all three marks; the window keeps them in 87 % (gap-test; 89 % of gap-development). When
    the marked span alone is longer than the window, it starts at the first mark (truncation
    then drops the rest).
    """
    budget = max_length - tokenizer.num_special_tokens_to_add()
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    if len(offsets) <= budget:
        return text
    found = [(text.find(left), text.find(right) + len(right)) for left, right in MARKS]
    found = [(start, end) for start, end in found if start >= 0]
    if not found:
        return text
    first_char, last_char = min(s for s, _ in found), max(e for _, e in found)
    first = next(i for i, (s, e) in enumerate(offsets) if e > first_char)
    last = max(i for i, (s, e) in enumerate(offsets) if s < last_char)
    start = max(0, first - max(0, budget - (last - first + 1)) // 2)
    start = min(start, max(0, len(offsets) - budget), first)
    end = min(len(offsets), start + budget)

    def inside_word(i: int) -> bool:  # token i continues token i - 1 (no space between)
        return 0 < i < len(offsets) and offsets[i][0] == offsets[i - 1][1]

    # cut between words, so that the window re-tokenizes to the same tokens
    while start < first and inside_word(start):
        start += 1
    while end - 1 > last and inside_word(end):
        end -= 1
    return text[offsets[start][0] : offsets[end - 1][1]]


def carve(dataset: Dataset, seed: int) -> dict[str, Dataset]:
    """Seeded 80/10/10 train/dev/test split of a single-split data set."""
    first = dataset.train_test_split(test_size=0.2, seed=seed)
    second = first["test"].train_test_split(test_size=0.5, seed=seed)
    return {"train": first["train"], "dev": second["train"], "test": second["test"]}


def user_task_splits(
    tables: Mapping[str, str | os.PathLike | Dataset],
    columns: Mapping[str, str | None] | None,
    seed: int,
) -> dict[str, Dataset]:
    """``{"train", "dev", "test"}`` of a user task: ``tables`` (files or Datasets) with their
    ``columns`` (``text``, ``label``, ``attribute``, ``text_pair``: the table's column names;
    default ``text`` and ``label``) loaded with one label mapping; only ``train`` given: it
    is carved 80/10/10 (seeded)."""
    from .data import load_user_splits

    columns = columns or {}
    splits = load_user_splits(
        tables,
        text_column=columns.get("text") or "text",
        label_column=columns.get("label") or "label",
        attribute_column=columns.get("attribute"),
        text_pair_column=columns.get("text_pair"),
    )
    return carve(splits["train"], seed) if set(splits) == {"train"} else splits


def load_task_splits(
    task: TaskSpec,
    data_dir: str | os.PathLike | None,
    seed: int,
    columns: dict[str, str | None] | None = None,
) -> dict[str, Dataset]:
    """``{"train", "dev", "test"}`` data sets of ``task`` with a ``text`` column (GAP: the
    downstream evaluation marks the mentions, :func:`mark_coreference`)."""
    from .data import load

    if task.name in TASKS:
        if task.carve:
            splits = carve(load(task.name, task.train, data_dir), seed)
        else:
            splits = {
                role: load(task.name, getattr(task, role), data_dir)
                for role in ("train", "dev", "test")
            }
    elif task.carve:
        splits = user_task_splits({"train": task.name}, columns, seed)
    else:
        files = {"train": task.train, "dev": task.dev, "test": task.test}
        splits = user_task_splits(files, columns, seed)
    if "label" in splits["train"].column_names:  # a one-class train split learns nothing
        from .data.tables import check_classes

        names = getattr(splits["train"].features["label"], "names", ())
        check_classes(splits["train"]["label"][:], names, f"task {task.name}: train split")
    return splits


# --- counterfactuals of a training set (downstream CDA, counterfactual logit pairing) -------

# joins text and text_pair so that one rotation swaps both (not whitespace, not a word
# character: no multi-word term can span it)
_PAIR_SEPARATOR = "\n\x00\n"


def counterfactual_texts(augmenter, text: str, text_pair: str | None = None) -> list[tuple]:
    """Counterfactuals ``k = 1 .. n-1`` of an input as ``(text, text_pair)`` tuples (``[]``
    when no attribute term occurs); a pair is swapped with one rotation across both texts,
    so that "The nurse ... / The woman ..." stays consistent."""
    if text_pair is None:
        return [(other, None) for other in augmenter.counterfactuals(text)]
    if _PAIR_SEPARATOR in text or _PAIR_SEPARATOR in text_pair:  # pragma: no cover - NUL bytes
        firsts, seconds = augmenter.counterfactuals(text), augmenter.counterfactuals(text_pair)
        count = max(len(firsts), len(seconds))
        return [
            (firsts[k] if k < len(firsts) else text, seconds[k] if k < len(seconds) else text_pair)
            for k in range(count)
        ]
    joined = augmenter.counterfactuals(text + _PAIR_SEPARATOR + text_pair)
    return [tuple(other.split(_PAIR_SEPARATOR, 1)) for other in joined]


def cda_augment(dataset: Dataset, augmenter) -> tuple[Dataset, int]:
    """Two-sided CDA of a training split: each row, followed by its counterfactuals (the
    attribute terms of ``text`` and ``text_pair`` swapped, every other column and the label
    copied). Rows without an attribute term stay once; a matched row appears n times for a
    word list of n-tuples (pairs: twice). Returns the augmented set and how many rows were
    added."""
    pair = "text_pair" in dataset.column_names
    columns = dataset.to_dict()
    out: dict[str, list] = {name: [] for name in columns}
    added = 0
    for index in range(len(dataset)):
        text = columns["text"][index]
        found = counterfactual_texts(augmenter, text, columns["text_pair"][index] if pair else None)
        for other in [(text, columns["text_pair"][index] if pair else None), *found]:
            for name, values in columns.items():
                out[name].append(values[index])
            out["text"][-1] = other[0]
            if pair:
                out["text_pair"][-1] = other[1]
        added += len(found)
    return type(dataset).from_dict(out, features=dataset.features), added


def attach_counterfactuals(dataset: Dataset, augmenter, seed: int) -> tuple[Dataset, int]:
    """Add ``cf_text`` (and ``cf_text_pair``) and ``cf_has`` (1 when the row has an attribute
    term) to a training split: the counterfactual logit pairing partner of each row, one of
    its counterfactuals drawn with ``seed`` (pairs: the swap); rows without a term get
    their own text and ``cf_has = 0``. Returns the set and the number of rows with a
    partner."""
    import random

    rng = random.Random(seed)
    pair = "text_pair" in dataset.column_names
    texts, pairs = dataset["text"][:], dataset["text_pair"][:] if pair else None
    cf_text, cf_pair, has = [], [], []
    for index, text in enumerate(texts):
        second = pairs[index] if pair else None
        found = counterfactual_texts(augmenter, text, second)
        chosen = rng.choice(found) if found else (text, second)
        cf_text.append(chosen[0])
        cf_pair.append(chosen[1])
        has.append(int(bool(found)))
    dataset = dataset.add_column("cf_text", cf_text).add_column("cf_has", has)
    if pair:
        dataset = dataset.add_column("cf_text_pair", cf_pair)
    return dataset, sum(has)
