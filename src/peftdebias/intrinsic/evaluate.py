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

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.registry import load
from ..data.sources.intrinsic import CROWS_BIAS_TYPES, STEREOSET_DOMAINS
from ..errors import ConfigError
from .crows import SCORINGS, CrowSPairsRunner
from .seat import POOLINGS, SEAT_TESTS_BY_BIAS, SEATRunner, default_tests
from .stereoset import StereoSetRunner

logger = logging.getLogger(__name__)

BENCHMARKS: tuple[str, ...] = ("crows", "stereoset", "seat")
HEAD_WARNING = (
    "the model has no trained masked-LM head ({count} head tensors randomly initialised): "
    "CrowS-Pairs and StereoSet scores are computed but NOT meaningful"
)


@dataclass(frozen=True)
class IntrinsicConfig:
    """What to run and how (defaults reproduce bias-bench)."""

    benchmarks: tuple[str, ...] = BENCHMARKS
    bias_type: str | None = None
    crows_scoring: str = "bias-bench"
    stereoset_split: str = "dev"
    seat_tests: tuple[str, ...] | None = None
    seat_pooling: str = "mean"
    seat_samples: int = 100_000
    batch_size: int = 64
    seed: int = 0

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
        for benchmark in self.benchmarks:
            benchmark_bias_type(benchmark, self.bias_type, self.seat_tests is not None)


def benchmark_bias_type(
    benchmark: str, bias_type: str | None, explicit_seat: bool = False
) -> str | None:
    """The name ``benchmark`` uses for ``bias_type`` (``None``: all); ConfigError if unknown."""
    if bias_type is None or (benchmark == "seat" and explicit_seat):
        return None
    valid = {*CROWS_BIAS_TYPES, *STEREOSET_DOMAINS, "race"}
    if bias_type not in valid:
        raise ConfigError(
            f"--bias-type: unknown bias type {bias_type!r}; valid: {', '.join(sorted(valid))}"
        )
    if benchmark == "crows":
        name, names = ("race-color" if bias_type == "race" else bias_type), CROWS_BIAS_TYPES
    else:
        name = "race" if bias_type == "race-color" else bias_type
        names = STEREOSET_DOMAINS if benchmark == "stereoset" else tuple(SEAT_TESTS_BY_BIAS)
    if name not in names:
        raise ConfigError(
            f"--bias-type {bias_type!r} is not covered by {benchmark} "
            f"(it has: {', '.join(names)}); drop {benchmark} from --benchmarks"
        )
    return name


def evaluate_intrinsic(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: IntrinsicConfig = IntrinsicConfig(),
    data_dir: str | os.PathLike | None = None,
    missing_head_keys: Sequence[str] = (),
) -> dict:
    """Run ``config.benchmarks``; returns the summary plus per-item ``details``.

    ``missing_head_keys`` (from :func:`peftdebias.models.load_masked_lm`) marks a model whose
    masked-LM head is untrained: the scores are still computed, with a warning recorded.
    """
    result: dict = {"config": asdict(config), "mlm_head": {"trained": not missing_head_keys}}
    if missing_head_keys and {"crows", "stereoset"} & set(config.benchmarks):
        warning = HEAD_WARNING.format(count=len(missing_head_keys))
        logger.warning(warning)
        result["mlm_head"].update(missing_keys=list(missing_head_keys), warning=warning)
    details: dict = {}
    runtime: dict = {}
    for benchmark in config.benchmarks:
        start = time.perf_counter()
        bias = benchmark_bias_type(benchmark, config.bias_type, config.seat_tests is not None)
        if benchmark == "crows":
            runner = CrowSPairsRunner(model, tokenizer, config.crows_scoring, config.batch_size)
            output = runner(load("crows-pairs", "test", data_dir), bias)
            details["crows"] = output.pop("pairs")
            calls = runner.scorer.forward_calls
        elif benchmark == "stereoset":
            runner = StereoSetRunner(model, tokenizer, config.batch_size)
            output = runner(load("stereoset", config.stereoset_split, data_dir), bias)
            output["split"] = config.stereoset_split
            details["stereoset"] = output.pop("items")
            calls = runner.scorer.forward_calls
        else:
            tests = config.seat_tests or default_tests(bias)
            runner = SEATRunner(
                model,
                tokenizer,
                pooling=config.seat_pooling,
                batch_size=config.batch_size or 1,
                n_samples=config.seat_samples,
                seed=config.seed,
            )
            output = {"tests": runner({name: load("seat", name, data_dir) for name in tests})}
            calls = runner.encoder.forward_calls
        result[benchmark] = output
        runtime[benchmark] = {
            "seconds": round(time.perf_counter() - start, 3),
            "forward_calls": calls,
        }
    result["runtime"] = runtime
    result["details"] = details
    return result


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(result: dict) -> str:
    """A short markdown summary of :func:`evaluate_intrinsic`'s output."""
    lines = []
    if not result["mlm_head"]["trained"] and "warning" in result["mlm_head"]:
        lines += [f"> **Warning:** {result['mlm_head']['warning']}.", ""]
    if "crows" in result:
        crows = result["crows"]
        lines += [
            f"## CrowS-Pairs ({crows['scoring']} scoring; ideal 50)",
            "",
            "| bias type | metric | stereo | anti-stereo | N | neutral |",
            "|---|---|---|---|---|---|",
        ]
        rows = {"all selected": crows, **crows.get("by_bias_type", {})}
        for name, row in rows.items():
            lines.append(
                f"| {name} | {_fmt(row['metric'])} | {_fmt(row['stereotype_score'])} | "
                f"{_fmt(row['antistereotype_score'])} | {row['n']} | {row['neutral']} |"
            )
        lines.append("")
    if "stereoset" in result:
        stereoset = result["stereoset"]
        lines += [
            f"## StereoSet intrasentence ({stereoset['split']}; ideal SS 50, LMS/ICAT 100)",
            "",
            "| domain | SS | LMS | ICAT | items |",
            "|---|---|---|---|---|",
        ]
        for name, row in {**stereoset["by_domain"], "overall": stereoset["overall"]}.items():
            lines.append(
                f"| {name} | {_fmt(row['ss'])} | {_fmt(row['lms'])} | {_fmt(row['icat'])} | "
                f"{row['count']} |"
            )
        lines.append("")
    if "seat" in result:
        lines += [
            "## SEAT (ideal effect size 0)",
            "",
            "| test | effect size | p-value |",
            "|---|---|---|",
        ]
        for row in result["seat"]["tests"]:
            lines.append(
                f"| {row['test']} | {_fmt(row['effect_size'], 3)} | {row['p_value']:.3g} |"
            )
        lines.append("")
    return "\n".join(lines)
