"""The options of ``peftdebias restore-mlm``, :class:`RestoreConfig` (the command's options
are generated from its fields). Light on purpose (no torch): ``--help`` reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError
from ..fields import data_dir_option, internal, option, output_option, overwrite_option, seed_option

DEFAULT_CORPORA = ("wikitext-2:validation", "gap:dev+validation")


@dataclass
class RestoreConfig:
    """Options of ``peftdebias restore-mlm`` (defaults: the shipped ``minilm`` artefact)."""

    output: str = output_option()
    model: str = option(
        "minilm-raw", help="model to restore (default: minilm-raw, all-MiniLM-L6-v2 as published)"
    )
    corpora: tuple[str, ...] = option(
        DEFAULT_CORPORA,
        flags=("--corpus",),
        repeat=True,
        metavar="NAME[:SPLIT[+SPLIT]]|FILE",
        help="training text, repeatable (default: " + ", ".join(DEFAULT_CORPORA) + ")",
    )
    data_dir: str | None = data_dir_option()
    max_steps: int = option(2000, help="training steps (2000)")
    batch_size: int = option(32, help="packed blocks per step (32)")
    max_length: int = option(128, help="tokens per block (128)")
    learning_rate: float = option(
        1e-3, flags=("--learning-rate", "--lr"), help="learning rate (1e-3)"
    )
    warmup_steps: int = option(100, help="learning-rate warm-up steps (100)")
    rank: int = option(16, help="LoRA rank (16); 0 trains the head only")
    alpha: int = option(32, help="LoRA alpha (32)")
    eval_steps: int = option(250, help="learning-curve point every N steps")
    curve_texts: int = option(
        400, help="WikiText-2 test paragraphs scored for the curve (all are scored at the end)"
    )
    heldout_texts: int | None = option(
        None, help="score only the first N WikiText-2 test paragraphs before/after (default: all)"
    )
    bf16: bool = option(True, help="train in float32 (slower on CPU)")
    seed: int = seed_option()
    name: str | None = option(None, help="name recorded in the artefact (default: output folder)")
    overwrite: bool = overwrite_option()
    command: str | None = internal(None, repr=False)  # the command line, recorded

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "eval_steps", "curve_texts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
        if self.warmup_steps < 0 or self.rank < 0 or self.alpha <= 0:
            raise ConfigError("--warmup-steps and --rank must be >= 0, --alpha > 0")
        if not math.isfinite(self.learning_rate) or self.learning_rate <= 0:
            raise ConfigError(
                f"--learning-rate must be a positive number, got {self.learning_rate}"
            )
        if self.heldout_texts is not None and self.heldout_texts < 1:
            raise ConfigError("--heldout-texts must be >= 1")
        if not self.corpora:
            raise ConfigError("--corpus: give at least one corpus")
