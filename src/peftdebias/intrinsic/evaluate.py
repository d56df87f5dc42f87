"""Run the selected intrinsic benchmarks on one loaded (model, tokenizer) and summarise them.

Works for any masked LM: a base model, a base model wrapped with a PEFT debiasing module, or a
fully fine-tuned (Full-Debias) checkpoint. ``--bias-type`` names follow the data: CrowS-Pairs
types (``race-color``, ``gender``, ``religion``, ...; ``race`` is accepted for ``race-color``),
StereoSet domains (``gender``, ``profession``, ``race``, ``religion``) and the SEAT test groups
(``gender``, ``race``, ``religion``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..fields import internal, option
from .options import POOLINGS, SCORINGS
from .registry import BENCHMARKS, REGISTRY, benchmark
from .results import CrowsRecord, CrowsSummary, IntrinsicRun, StereoSetRecord

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

HEAD_WARNING = (
    "the model has no trained masked-LM head ({count} head tensors randomly initialised): "
    "CrowS-Pairs and StereoSet scores are computed but NOT meaningful"
)


@dataclass(frozen=True)
class IntrinsicConfig:
    """What to run and how (defaults reproduce bias-bench); the benchmark options of
    ``peftdebias intrinsic`` are generated from these fields."""

    benchmarks: tuple[str, ...] = option(
        BENCHMARKS, help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)"
    )
    bias_type: str | None = option(
        None,
        help="gender, race (= CrowS race-color), religion, profession (StereoSet) or any "
        "CrowS-Pairs type (age, disability, ...); default: all",
    )
    crows_scoring: str = option(
        "bias-bench",
        choices=SCORINGS,
        help="bias-bench: mask the differing tokens (default); pll: Nangia et al.'s "
        "pseudo-log-likelihood of the unmodified tokens",
    )
    stereoset_split: str = option(
        "dev", help="stereoset file: dev (default), test, gender, race, religion"
    )
    seat_tests: tuple[str, ...] | None = option(
        None,
        help="comma-separated SEAT test names (default: bias-bench's gender and race tests, "
        "or those of --bias-type)",
    )
    seat_pooling: str = option(
        "mean",
        choices=POOLINGS,
        help="sentence encoding: mean of last hidden states (default) or the first token",
    )
    seat_samples: int = internal(100_000)  # permutations of SEAT's p-value test
    batch_size: int = option(
        64, help="sequences per forward pass (default 64; 0 = one forward pass per masked token)"
    )
    # SEAT's permutations (the command line's default is 42, as every command's --seed)
    seed: int = option(0, help="random seed (default: 42)")

    def __post_init__(self) -> None:
        unknown = [name for name in self.benchmarks if name not in BENCHMARKS]
        if unknown or not self.benchmarks:
            raise ConfigError(
                f"--benchmarks: unknown benchmark(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(BENCHMARKS)}"
            )
        if self.crows_scoring not in SCORINGS:
            raise ConfigError(f"--crows-scoring must be one of {', '.join(SCORINGS)}")
        if self.seat_pooling not in POOLINGS:
            raise ConfigError(f"--seat-pooling must be one of {', '.join(POOLINGS)}")
        if self.batch_size < 0:
            raise ConfigError("--batch-size must be >= 0 (0 = one forward pass per mask)")
        for name in self.benchmarks:
            benchmark_bias_type(name, self.bias_type, self.seat_tests is not None)


def benchmark_bias_type(
    name: str, bias_type: str | None, explicit_seat: bool = False
) -> str | None:
    """The name benchmark ``name`` uses for ``bias_type`` (``None``: all); ConfigError if
    unknown."""
    if bias_type is None or (name == "seat" and explicit_seat):
        return None
    valid = {t for b in REGISTRY for t in (*b.bias_types(), *b.aliases)}
    if bias_type not in valid:
        raise ConfigError(
            f"--bias-type: unknown bias type {bias_type!r}; valid: {', '.join(sorted(valid))}"
        )
    spec = benchmark(name)
    own, names = spec.aliases.get(bias_type, bias_type), spec.bias_types()
    if own not in names:
        raise ConfigError(
            f"--bias-type {bias_type!r} is not covered by {name} "
            f"(it has: {', '.join(names)}); drop {name} from --benchmarks"
        )
    return own


def evaluate_intrinsic(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: IntrinsicConfig = IntrinsicConfig(),
    data_dir: str | os.PathLike | None = None,
    missing_head_keys: Sequence[str] = (),
) -> dict:
    """Run ``config.benchmarks`` (see :mod:`peftdebias.intrinsic.registry`); returns the
    summary plus per-item ``details``.

    ``missing_head_keys`` (from :func:`peftdebias.models.load_masked_lm`) marks a model whose
    masked-LM head is untrained: the scores are still computed, with a warning recorded.
    """
    result: dict = {"config": asdict(config), "mlm_head": {"trained": not missing_head_keys}}
    if missing_head_keys and any(benchmark(b).uses_mlm_head for b in config.benchmarks):
        warning = HEAD_WARNING.format(count=len(missing_head_keys))
        logger.warning(warning)
        result["mlm_head"].update(missing_keys=list(missing_head_keys), warning=warning)
    details: dict = {}
    runtime: dict = {}
    for name in config.benchmarks:
        start = time.perf_counter()
        bias = benchmark_bias_type(name, config.bias_type, config.seat_tests is not None)
        done = benchmark(name).run(model, tokenizer, config, bias, data_dir)
        if done.details is not None:
            details[name] = done.details
        result[name] = done.summary
        runtime[name] = {
            "seconds": round(time.perf_counter() - start, 3),
            "forward_calls": done.forward_calls,
        }
    result["runtime"] = runtime
    result["details"] = details
    return result


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(result: dict) -> str:
    """A short markdown summary of :func:`evaluate_intrinsic`'s output."""
    run = IntrinsicRun.from_json(result, "intrinsic result")
    lines = []
    if run.mlm_head is not None and not run.mlm_head.trained and run.mlm_head.warning:
        lines += [f"> **Warning:** {run.mlm_head.warning}.", ""]
    if run.crows is not None:
        lines += _crows_lines(run.crows)
    if run.stereoset is not None:
        lines += _stereoset_lines(run.stereoset)
    if run.seat is not None:
        lines += [
            f"## {benchmark('seat').display_name} (ideal effect size 0)",
            "",
            "| test | effect size | p-value |",
            "|---|---|---|",
        ]
        for test in run.seat.tests:
            lines.append(f"| {test.test} | {_fmt(test.effect_size, 3)} | {test.p_value:.3g} |")
        lines.append("")
    return "\n".join(lines)


def _crows_lines(crows: CrowsRecord) -> list[str]:
    lines = [
        f"## {benchmark('crows').display_name} ({crows.scoring} scoring; ideal 50)",
        "",
        "| bias type | metric | stereo | anti-stereo | N | neutral |",
        "|---|---|---|---|---|---|",
    ]
    rows: dict[str, CrowsSummary] = {"all selected": crows, **crows.by_bias_type}
    for name, row in rows.items():
        lines.append(
            f"| {name} | {_fmt(row.metric)} | {_fmt(row.stereotype_score)} | "
            f"{_fmt(row.antistereotype_score)} | {row.n} | {row.neutral} |"
        )
    return [*lines, ""]


def _stereoset_lines(stereoset: StereoSetRecord) -> list[str]:
    lines = [
        f"## {benchmark('stereoset').display_name} intrasentence ({stereoset.split}; "
        "ideal SS 50, LMS/ICAT 100)",
        "",
        "| domain | SS | LMS | ICAT | items |",
        "|---|---|---|---|---|",
    ]
    for name, row in {**stereoset.by_domain, "overall": stereoset.overall}.items():
        lines.append(
            f"| {name} | {_fmt(row.ss)} | {_fmt(row.lms)} | {_fmt(row.icat)} | {row.count} |"
        )
    return [*lines, ""]
