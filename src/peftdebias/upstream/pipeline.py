"""The upstream phase as one sequence of steps (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .artefact import prepare_artefact_dir, save_artefact
from .config import (
    UpstreamConfig,
    UpstreamPlan,
    UpstreamResult,
    resolve_plan,
    validate_upstream,
)
from .corpus import Corpus, prepare_corpus
from .steps import (
    BaseModel,
    ModuleTraining,
    Phases,
    artefact_metadata,
    attach_module,
    load_base,
    train_module,
    warm_up_head,
)


def train_upstream(config: UpstreamConfig) -> UpstreamResult:
    """Run the upstream phase described by ``config``: learn a debiasing module with CDA and
    masked LM, and write it with its ``debias.json`` to ``config.output``."""
    config = validate_upstream(config)  # every option and file, before anything is loaded
    plan = resolve_plan(config)
    output = prepare_artefact_dir(config)
    started = time.time()
    corpus = prepare_corpus(config, plan)
    base = load_base(config)
    training, metadata = learn(config, plan, base, corpus, started)
    if training.trainer.is_world_process_zero():
        save_artefact(plan.method, training.model, base.tokenizer, output, metadata)
    return UpstreamResult(output, metadata)


def learn(
    config: UpstreamConfig,
    plan: UpstreamPlan,
    base: BaseModel,
    corpus: Corpus,
    started: float,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[ModuleTraining, dict[str, Any]]:
    """The training steps of a run (the command line's and the Python API's
    ``learn_module``): warm up a missing MLM head, attach the module and train it; returns
    the training and the artefact's ``debias.json`` record."""
    phases = Phases.create(config, plan, base, corpus, overrides)
    before_warmup = phases.evaluate(base.model)
    warmup = warm_up_head(phases, base, corpus.train_texts, before_warmup)
    model = attach_module(phases, base.model, corpus.rows)
    training = train_module(phases, model, corpus.rows)
    return training, artefact_metadata(phases, base, corpus, warmup, training, started)
