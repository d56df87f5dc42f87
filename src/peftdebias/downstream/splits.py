"""The task's splits for one downstream run: loaded, checked and subsampled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datasets import Dataset

from ..errors import DataError
from ..tasks import TaskSpec, load_task_splits

if TYPE_CHECKING:
    from .config import DownstreamConfig, DownstreamPlan


def subsample(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """A seeded sample of ``limit`` rows of ``dataset`` (all of them when ``limit`` is None
    or not smaller)."""
    if limit is None or len(dataset) <= limit:
        return dataset
    return dataset.shuffle(seed=seed).select(range(limit))


def count_labels(task: TaskSpec, splits: dict[str, Dataset]) -> int:
    """The number of classes: the task's, else one more than the largest label seen;
    :class:`DataError` for a label beyond the task's classes."""
    labels = set()
    for split in splits.values():
        labels.update(split["label"])
    observed = max(labels) + 1
    if task.num_labels is not None and observed > task.num_labels:
        raise DataError(
            f"task {task.name}: label {observed - 1} exceeds its {task.num_labels} classes"
        )
    return task.num_labels or observed


def load_splits(config: DownstreamConfig, plan: DownstreamPlan) -> tuple[dict[str, Dataset], int]:
    """``({"train", "dev", "test"}, number of classes)``: the task's splits, the training
    split subsampled to ``max_train_examples`` and the others to ``max_eval_examples``."""
    splits = load_task_splits(plan.task, config.data_dir, config.seed, config.columns)
    num_labels = count_labels(plan.task, splits)
    limits = {
        "train": plan.max_train_examples,
        "dev": plan.max_eval_examples,
        "test": plan.max_eval_examples,
    }
    splits = {role: subsample(splits[role], limit, config.seed) for role, limit in limits.items()}
    return splits, num_labels
