"""The command line from the config dataclasses (one source), a quiet console that leaves the
Python API's logging alone, fast lazy ``--help``, and the GPU training options (fp16,
gradient accumulation, learning-rate warm-up) on tiny models."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from peftdebias.cli import build_parser, main
from peftdebias.commands.common import config_from_args
from peftdebias.console import QUIET_ENVIRONMENT, quiet_libraries
from peftdebias.downstream import DownstreamConfig, PredictConfig, train_downstream
from peftdebias.downstream.options import COLUMNS
from peftdebias.errors import ConfigError
from peftdebias.experiments import from_dict, load_config
from peftdebias.fields import is_option
from peftdebias.intrinsic import IntrinsicConfig, IntrinsicJob
from peftdebias.restoration import RestoreConfig
from peftdebias.testing import minilm_tokenizer
from peftdebias.training.masking import TextMaskingCollator
from peftdebias.training.trainer import DebiasTrainer, training_arguments
from peftdebias.upstream import UpstreamConfig

# the smallest valid command line of each command whose options come from dataclasses
REQUIRED = {
    "upstream": ["--axis", "gender", "--corpus", "c.txt", "--method", "lora", "--output", "o"],
    "downstream": ["--task", "ghc", "--baseline", "ft", "--output", "o"],
    "predict": ["--model-dir", "m", "--input", "i.csv", "--output", "o"],
    "intrinsic": ["--output", "o"],
    "restore-mlm": ["--output", "o"],
}
CLASSES = {
    "upstream": (UpstreamConfig,),
    "downstream": (DownstreamConfig,),
    "predict": (PredictConfig,),
    "intrinsic": (IntrinsicJob, IntrinsicConfig),
    "restore-mlm": (RestoreConfig,),
}


def _parse(command: str, *extra: str) -> argparse.Namespace:
    return build_parser([command]).parse_args([command, *REQUIRED[command], *extra])


def _dests(command: str) -> set[str]:
    parser = build_parser([command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest for action in sub.choices[command]._actions}


@pytest.mark.parametrize("command", sorted(CLASSES))
def test_every_option_field_is_an_option_with_the_field_default(command):
    dests = _dests(command)
    args = _parse(command)
    for cls in CLASSES[command]:
        for field in dataclasses.fields(cls):
            if not is_option(field):
                continue
            parts = field.metadata.get("parts") or {}
            assert {f"{field.name}.{k}" for k in parts} <= dests if parts else field.name in dests
        built, plain = config_from_args(cls, args), _plain(cls, args)
        assert built == plain, f"{cls.__name__}: command-line defaults differ from the fields'"


def _plain(cls: type, args: argparse.Namespace):
    """``cls`` with its required fields only, plus what the command line always sets."""
    required = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    if cls is IntrinsicConfig:
        required["seed"] = 42  # every command's --seed default; the API's is 0
    if cls is DownstreamConfig:  # the start REQUIRED gives; each column option, unset
        required.update(baseline="ft", columns=dict.fromkeys(COLUMNS))
    return cls(**required)


def _names_in(help_text: str) -> set[str]:
    """The comma/'or'-separated names a help text lists, before any '(' remark."""
    listed = re.sub(r"\([^)]*\)", "", help_text).replace(" or ", ", ")
    return {name.strip() for name in listed.split(",")} - {""}


def test_option_help_lists_exactly_the_registered_names():
    """--method, --axis and --benchmarks help is written without importing the registries
    (fast --help); it must name exactly what they hold. --task help is made from the task
    registry (light to import): every task with its description."""
    from peftdebias.cda import AXES
    from peftdebias.intrinsic.registry import BENCHMARKS
    from peftdebias.methods import METHODS
    from peftdebias.tasks import TASKS, register_task

    configs = (UpstreamConfig, DownstreamConfig, IntrinsicConfig)
    fields = [f for config in configs for f in dataclasses.fields(config)]
    helps = {f.name: f.metadata["help"] for f in fields if "help" in f.metadata}
    assert _names_in(helps["method"]) == set(METHODS)
    for task in TASKS.values():
        assert task.description and f"{task.name}: {task.description}" in helps["task"]
    with pytest.raises(ValueError, match="'ghc' is registered twice"):
        register_task(TASKS["ghc"])
    assert set(AXES) | {"a word-list file"} <= _names_in(helps["axis"].split(";")[0])
    assert set(BENCHMARKS) == set(helps["benchmarks"].split()[3].split(","))


def test_spellings_of_the_options():
    up = config_from_args(
        UpstreamConfig,
        _parse("upstream", "--lr", "0.1", "--no-keep-original", "--method-option", "r=4",
               "--method-option", 'target_modules=["query"]', "--max-steps", "3"),
    )  # fmt: skip
    assert (up.learning_rate, up.keep_original, up.max_steps) == (0.1, False, 3)
    assert up.method_options == {"r": 4, "target_modules": ["query"]}
    down = config_from_args(
        DownstreamConfig,
        build_parser(["downstream"]).parse_args(
            ["downstream", "--task", "t.csv", "--output", "o", "--debias", "a", "--debias", "b",
             "--class-weights", '{"0": 2}', "--text-column", "s", "--label-column", "y",
             "--no-iptts", "--no-bias-nli", "--epochs", "1.5"]
        ),
    )  # fmt: skip
    assert down.debias == ["a", "b"] and down.class_weights == {0: 2.0} and down.epochs == 1.5
    assert down.columns == {"text": "s", "text_pair": None, "label": "y", "attribute": None}
    assert (down.iptts, down.bias_nli) == (False, False)
    one = _parse("downstream", "--output", "o")  # --baseline ft: no --debias
    assert config_from_args(DownstreamConfig, one).debias is None
    args = _parse(
        "intrinsic", "--benchmarks", "crows, seat", "--seat-tests", "sent-weat6,sent-weat7"
    )
    intrinsic = config_from_args(IntrinsicConfig, args)
    assert intrinsic.benchmarks == ("crows", "seat")
    assert intrinsic.seat_tests == ("sent-weat6", "sent-weat7") and intrinsic.seed == 42


def test_start_options_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        _parse("downstream", "--debias", "d")  # REQUIRED has --baseline ft
    assert "not allowed with argument" in capsys.readouterr().err


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout.strip()


def test_help_imports_neither_torch_nor_the_libraries():
    code = (
        "import sys\nfrom peftdebias.cli import main\n"
        "for argv in (['--help'], ['upstream', '--help'], ['downstream', '--help'], "
        "['predict', '--help'], ['intrinsic', '--help'], ['restore-mlm', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'peft') "
        "if m in sys.modules))"
    )
    assert _python(code).splitlines()[-1] == "[]"


def test_importing_the_api_changes_no_logging_or_warnings():
    code = (  # the libraries add warning filters of their own when imported: first them
        "import logging, warnings, torch, transformers, datasets, peft\n"
        "before = list(warnings.filters)\nimport peftdebias as pd, peftdebias.cli\n"
        "pd.UpstreamConfig, pd.train_upstream, pd.train_downstream, pd.evaluate_intrinsic\n"
        "print(logging.getLogger().handlers == [], warnings.filters == before, "
        "logging.getLogger('transformers').level)"
    )
    assert _python(code) == "True True 30"  # transformers' own default: WARNING


def test_quiet_libraries_is_undone_after_the_command():
    hf = logging.getLogger("transformers")
    level, filters = hf.level, list(warnings.filters)
    environment = {key: os.environ.get(key) for key in QUIET_ENVIRONMENT}
    with quiet_libraries(verbose=False):
        assert hf.getEffectiveLevel() == logging.ERROR
        with warnings.catch_warnings(record=True) as caught:
            warnings.warn("old", FutureWarning, stacklevel=1)
        assert not caught
    assert hf.level == level and warnings.filters == filters
    assert {key: os.environ.get(key) for key in QUIET_ENVIRONMENT} == environment


# --- GPU training options ---------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 works on this machine's GPU")
@pytest.mark.parametrize("command", ["upstream", "downstream"])
def test_fp16_on_a_cpu_is_a_clear_error(tiny_bert, tmp_path, capsys, command):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("he is a doctor and she is a nurse.\n" * 20)
    common = ["--model", str(tiny_bert), "--output", str(tmp_path / "out"), "--fp16"]
    if command == "upstream":
        argv = ["upstream", "--axis", "gender", "--corpus", str(corpus), "--method", "lora"]
    else:
        argv = ["downstream", "--task", "ghc", "--baseline", "ft"]
    assert main([*argv, *common]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"peftdebias {command}: error: --fp16 needs a CUDA GPU and none is available; on a CPU "
        "use --bf16 (bfloat16 autocast) or neither"
    )
    assert main([*argv, *common, "--bf16"]) == 2
    assert "--bf16 and --fp16 exclude each other" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--gradient-accumulation-steps", "0"], ["--warmup-ratio", "1"]])
def test_training_option_ranges(tmp_path, capsys, bad):
    assert (
        main(["downstream", "--task", "ghc", "--baseline", "ft", "--output", str(tmp_path), *bad])
        == 2
    )
    assert bad[0] in capsys.readouterr().err


def _train(tiny_bert: Path, tmp_path: Path, accumulation: int, warmup: float) -> DebiasTrainer:
    """4 optimizer steps of batch 4 on 32 texts, logging every step."""
    from transformers import AutoModelForMaskedLM

    tokenizer = minilm_tokenizer()
    args = training_arguments(
        str(tmp_path / f"a{accumulation}-w{warmup}"), max_steps=4, batch_size=4,
        learning_rate=1e-3, eval_steps=0, seed=0, logging_steps=1,
        gradient_accumulation_steps=accumulation, warmup_ratio=warmup,
    )  # fmt: skip
    rows = [{"text": f"he is a doctor number {i} and she is a nurse."} for i in range(32)]
    trainer = DebiasTrainer(
        model=AutoModelForMaskedLM.from_pretrained(tiny_bert),
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=TextMaskingCollator(tokenizer, max_length=16, mlm=True, pairs=False),
        processing_class=tokenizer,
    )
    trainer.train()
    return trainer


def _rates(trainer: DebiasTrainer) -> list[float]:
    return [entry["learning_rate"] for entry in trainer.state.log_history if "loss" in entry]


def test_gradient_accumulation_2_x_batch_4_trains(tiny_bert, tmp_path):
    plain = _train(tiny_bert, tmp_path, accumulation=1, warmup=0.0)
    accumulated = _train(tiny_bert, tmp_path, accumulation=2, warmup=0.0)
    assert plain.state.global_step == accumulated.state.global_step == 4
    # 4 optimizer steps of 2 x 4 texts: the whole 32 texts once (half of them without)
    assert plain.state.epoch == pytest.approx(0.5) and accumulated.state.epoch == pytest.approx(1)
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in accumulated.state.log_history[:4])


def test_warmup_ratio_raises_the_first_learning_rates(tiny_bert, tmp_path):
    # linear decay from the start (default, unchanged) vs 2 warm-up steps out of 4
    assert _rates(_train(tiny_bert, tmp_path, 1, 0.0)) == pytest.approx(
        [1e-3, 7.5e-4, 5e-4, 2.5e-4]
    )
    assert _rates(_train(tiny_bert, tmp_path, 1, 0.5)) == pytest.approx([0, 5e-4, 1e-3, 5e-4])


def test_downstream_passes_the_training_options(tiny_bert, tmp_path):
    table = tmp_path / "task.csv"
    rows = [f"text {i} about {'cats' if i % 2 else 'dogs'},{i % 2}" for i in range(40)]
    table.write_text("text,label\n" + "\n".join(rows) + "\n")
    settings = dict(max_eval_examples=8, batch_size=4, max_length=16, epochs=1, iptts=False)
    result = train_downstream(
        DownstreamConfig(
            task=str(table), output=str(tmp_path / "out"), model=str(tiny_bert), baseline="ft",
            gradient_accumulation_steps=2, warmup_ratio=0.25, bootstrap_resamples=0, **settings,
        )
    )  # fmt: skip
    assert result.metrics["steps"] == 4  # 32 training rows / (2 x 4) per optimizer step
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())["config"]
    assert (saved["gradient_accumulation_steps"], saved["warmup_ratio"]) == (2, 0.25)
    assert result.metrics["fp16_used"] is False


def test_experiment_yaml_takes_the_training_options(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("he is here\n")
    module = {"axis": "gender", "corpus": str(corpus)}
    grid = {"name": "t", "upstream": {"methods": ["lora"], "modules": [module]}}
    good = {"fp16": True, "gradient_accumulation_steps": 4, "warmup_ratio": 0.1}
    config = from_dict({**grid, "upstream": {**grid["upstream"], "options": good}})
    assert config.upstream.options == good  # fp16 is checked when a cell runs (needs CUDA)
    for bad, message in (
        (
            {"warmup_ratio": 1.0},
            "upstream.options.warmup_ratio must be a finite number >= 0 and < 1",
        ),
        ({"gradient_accumulation_steps": 0}, "upstream.options.gradient_accumulation_steps must"),
        ({"fp16": "yes"}, "upstream.options.fp16"),
    ):
        with pytest.raises(ConfigError, match=message):
            from_dict({**grid, "upstream": {**grid["upstream"], "options": bad}})
    paper = load_config(Path(__file__).parents[1] / "configs" / "paper.yaml")
    assert {"bf16", "gradient_accumulation_steps", "warmup_ratio"} <= set(paper.upstream.options)
    assert {"bf16", "gradient_accumulation_steps", "warmup_ratio"} <= set(paper.downstream.options)
