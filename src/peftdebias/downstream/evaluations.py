"""Task-specific bias evaluations of the downstream phase, one registry entry each.

A task names its evaluation (``TaskSpec.evaluation``); the entry knows how to prepare the
task's inputs, which extra split to predict after training (``predictions-<split>.jsonl``)
and which metrics its rows give (``compute_metrics`` finds them from the rows' columns).
Adding an evaluation is one class and one line in :data:`EVALUATIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from datasets import Dataset

from ..data import load
from ..data.sources.nli import NLI_LABELS
from ..errors import ConfigError
from ..metrics.bias_nli_templates import generate_bias_nli, load_bias_nli_words
from ..tasks import TaskSpec, crop_to_mentions, mark_coreference
from .splits import subsample

if TYPE_CHECKING:
    from .config import DownstreamConfig, DownstreamPlan


@dataclass(frozen=True)
class TaskEvaluation:
    """A task-specific evaluation; this base class is the one of tasks without any (the
    dev and test splits with the generic metrics, no input preparation)."""

    name: str
    display: str  # how reports and logs name it
    help: str
    split: str | None = None  # the extra split it predicts after training, if any
    metrics: tuple[str, ...] = ()  # the metrics its rows add (beyond classification, FPRD)

    def prepare(self, splits: dict[str, Dataset], tokenizer, max_length: int) -> dict:
        """The task's splits as model input (before tokenizing); unchanged by default."""
        del tokenizer, max_length
        return splits

    def neutral_index(self, task: TaskSpec) -> int:
        """Index of the class Bias-NLI counts as *neutral* (1 unless the task says)."""
        del task
        return 1

    def extra_split(self, config: DownstreamConfig, plan: DownstreamPlan) -> Dataset | None:
        """The extra split to predict (None: none, or switched off by the config)."""
        del config, plan
        return None


class Iptts(TaskEvaluation):
    """Hate speech: FPRD on the out-of-domain IPTTS template sentences (Dixon et al. 2018)."""

    def extra_split(self, config: DownstreamConfig, plan: DownstreamPlan) -> Dataset | None:
        if not config.iptts:
            return None
        # its identity term is not a protected attribute in the TPR-GAP sense
        iptts = load("iptts", "test", config.data_dir).remove_columns("attribute")
        return subsample(iptts, config.max_iptts_examples, config.seed)


class BiasNli(TaskEvaluation):
    """NLI: the Bias-NLI template pairs (Dev et al. 2020), scored by how often the model
    predicts *neutral*."""

    def neutral_index(self, task: TaskSpec) -> int:
        """From the task's label names, else our NLI encoding (entailment, neutral,
        contradiction)."""
        names = [name.lower() for name in (task.label_names or NLI_LABELS)]
        if "neutral" not in names:
            raise ConfigError(f"task {task.name}: no 'neutral' label among {', '.join(names)}")
        return names.index("neutral")

    def extra_split(self, config: DownstreamConfig, plan: DownstreamPlan) -> Dataset | None:
        if not config.bias_nli:
            return None
        words = load_bias_nli_words(config.data_dir)
        limit = plan.max_bias_nli_examples
        sample = None if limit is None or limit >= words.size else limit
        return generate_bias_nli(words, sample, config.seed, self.neutral_index(plan.task))


class Gap(TaskEvaluation):
    """Coreference: GAP F1 per pronoun gender (Webster et al. 2018); the candidates and the
    pronoun are marked in the text, which is cropped to keep the marks within max length."""

    def prepare(self, splits: dict[str, Dataset], tokenizer, max_length: int) -> dict:
        def marked(row: dict) -> dict[str, str]:
            return {"text": crop_to_mentions(mark_coreference(row), tokenizer, max_length)}

        return {
            role: split.map(marked, desc=f"marking and cropping {role} to the mentions")
            for role, split in splits.items()
        }


EVALUATIONS: dict[str, TaskEvaluation] = {
    evaluation.name: evaluation
    for evaluation in (
        Iptts("iptts", "IPTTS", "FPRD on the IPTTS templates (hate speech)", "iptts",
              ("iptts-fprd",)),
        BiasNli("bias-nli", "Bias-NLI", "neutral rates on the Bias-NLI pairs (NLI)", "bias-nli",
                ("bias-nli",)),
        Gap("gap", "GAP", "coreference F1 by pronoun gender and F/M bias", None, ("gap",)),
    )
}  # fmt: skip
NO_EVALUATION = TaskEvaluation("none", "none", "dev and test splits only")


def evaluation_of(task: TaskSpec) -> TaskEvaluation:
    """The evaluation ``task`` names (:data:`NO_EVALUATION` for none)."""
    if task.evaluation is None:
        return NO_EVALUATION
    try:
        return EVALUATIONS[task.evaluation]
    except KeyError:
        raise ConfigError(
            f"task {task.name}: unknown evaluation {task.evaluation!r}; "
            f"valid: {', '.join(EVALUATIONS)}"
        ) from None
