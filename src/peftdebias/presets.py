"""Named hyper-parameter presets of the upstream and downstream phases.

Upstream: ``paper`` follows the reference code of PEFTDebias (sumit-agrwl/peft-debias):
10,000 steps, evaluation every 1,000, batch 128 for gender and 32 otherwise, learning rate
5e-5 (the paper's text says 1e-5; see docs/upstream.md), max length 256. ``quick`` is sized
for a 2-core CPU and the 22M-parameter default model: minutes, not hours. Downstream:
``paper`` follows the reference code too (max length 128, lr 2e-5, batch 32); ``quick``
subsamples the training set.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class UpstreamPreset:
    max_steps: int
    eval_steps: int
    batch_size: int
    learning_rate: float
    max_length: int
    head_warmup_steps: int  # only used when the checkpoint lacks a trained MLM head
    head_learning_rate: float
    calibration_steps: int  # phase 1 of sparse fine-tuning (full CDA-MLM training)
    eval_fraction: float
    max_eval_texts: int


UPSTREAM_PRESETS: dict[str, UpstreamPreset] = {
    "paper": UpstreamPreset(
        max_steps=10_000,
        eval_steps=1_000,
        batch_size=32,  # 128 for gender, see batch_size_for
        learning_rate=5e-5,
        max_length=256,
        head_warmup_steps=2_000,
        head_learning_rate=1e-3,
        calibration_steps=10_000,
        eval_fraction=0.05,
        max_eval_texts=2_000,
    ),
    "quick": UpstreamPreset(
        max_steps=200,
        eval_steps=50,
        batch_size=16,
        learning_rate=5e-4,
        max_length=64,
        head_warmup_steps=200,
        head_learning_rate=1e-3,
        calibration_steps=100,
        eval_fraction=0.05,
        max_eval_texts=256,
    ),
}


def upstream_preset(name: str) -> UpstreamPreset:
    try:
        return UPSTREAM_PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown --preset {name!r}; valid: {', '.join(UPSTREAM_PRESETS)}"
        ) from None


def batch_size_for(preset_name: str, axis: str) -> int:
    """The reference code used batch 128 for gender and 32 for the other axes."""
    preset = upstream_preset(preset_name)
    if preset_name == "paper" and axis == "gender":
        return 128
    return preset.batch_size


@dataclass(frozen=True)
class DownstreamPreset:
    epochs: float
    batch_size: int
    learning_rate: float
    max_length: int
    max_train_examples: int | None
    max_eval_examples: int | None
    max_bias_nli_examples: int | None  # seeded sample of the ~1.06M Bias-NLI pairs


DOWNSTREAM_PRESETS: dict[str, DownstreamPreset] = {
    # reference code: max length 128, lr 2e-5, batch 32; Bias-NLI on every pair
    "paper": DownstreamPreset(3, 32, 2e-5, 128, None, None, None),
    # 2-core CPU: a subsample of the training set, shorter inputs
    # (dev and test: whole splits; IPTTS: all 76,564 sentences unless max_iptts_examples)
    "quick": DownstreamPreset(1, 32, 5e-5, 64, 2000, None, 10_000),
}


def downstream_preset(name: str) -> DownstreamPreset:
    """The downstream preset ``name``; :class:`ConfigError` naming the valid ones."""
    try:
        return DOWNSTREAM_PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown --preset {name!r}; valid: {', '.join(DOWNSTREAM_PRESETS)}"
        ) from None
