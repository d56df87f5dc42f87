"""``--overwrite`` removes exactly what a command wrote before (issue 15, item 2), and
``--resume`` after an interruption ends exactly where an uninterrupted run does (item 6)."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, TrainerCallback

import peftdebias.downstream.training as downstream_training
import peftdebias.upstream.steps as upstream_steps
from peftdebias.cli import main
from peftdebias.downstream import OUTPUTS, DownstreamConfig, train_downstream
from peftdebias.errors import OutputExistsError
from peftdebias.io import prepare_output_dir
from peftdebias.testing import minilm_tokenizer, tiny_config
from peftdebias.training.trainer import last_complete_checkpoint
from peftdebias.upstream import HEAD_FILE, UpstreamConfig, load_debiased_lm, train_upstream

SENTENCES = [
    "he told his mother that the man was a doctor.",
    "she said her father is a nurse at the hospital.",
    "the woman gave the boy a book about kings.",
    "my brother and his wife visited their aunt.",
    "the weather was cold and the streets were empty.",
    "a girl and her sister played with the dog.",
    "the actor thanked his wife and daughter on stage.",
    "the committee approved the budget on tuesday.",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(SENTENCES * 6) + "\n")  # 80 training rows after CDA
    return path


@pytest.fixture(scope="module")
def headless(tmp_path_factory) -> Path:
    """A tiny encoder without masked-LM head weights: upstream warms a head up."""
    folder = tmp_path_factory.mktemp("headless")
    torch.manual_seed(0)
    AutoModel.from_config(tiny_config("bert")).save_pretrained(folder)
    minilm_tokenizer().save_pretrained(folder)
    return folder


def _upstream(model: Path, corpus: Path, output: Path, **kw) -> UpstreamConfig:
    settings = dict(max_steps=8, eval_steps=2, batch_size=4, max_length=24, learning_rate=1e-2,
                    head_warmup_steps=3, method="lora")  # fmt: skip
    settings.update(kw)
    return UpstreamConfig(axis="gender", corpus=str(corpus), output=str(output),
                          model=str(model), **settings)  # fmt: skip


# -- --overwrite ------------------------------------------------------------------------------


def test_prepare_output_dir_removes_only_what_the_command_owns(tmp_path):
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "weights.bin").write_text("old")
    (out / "metrics.json").write_text("{}")
    (out / ".metrics.json.x1y2.tmp").write_text("")  # an interrupted atomic write
    (out / ".model.old").mkdir()  # an interrupted atomic_dir swap
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (out / "checkpoints").symlink_to(elsewhere, target_is_directory=True)
    owned = ("metrics.json", "model", "checkpoints", "predictions-test.jsonl")

    with pytest.raises(OutputExistsError, match="--overwrite"):
        prepare_output_dir(out, False, owned=owned)
    prepare_output_dir(out, True, owned=owned, resume=True)  # resuming removes nothing
    assert (out / "metrics.json").exists() and (out / "model" / "weights.bin").exists()

    prepare_output_dir(out, True, owned=owned)
    assert sorted(p.name for p in out.iterdir()) == ["mine", "notes.txt"]
    assert (elsewhere / "keep.txt").read_text() == "keep", "a link is removed, not its target"
    with pytest.raises(ValueError, match="plain file or folder name"):
        prepare_output_dir(out, True, owned=("../notes.txt",))


def test_upstream_overwrite_leaves_no_stale_head_or_checkpoint(headless, corpus, tmp_path):
    out = tmp_path / "module"
    first = train_upstream(_upstream(headless, corpus, out, max_steps=4, head_warmup_steps=2))
    assert (out / HEAD_FILE).is_file()
    assert (out / "checkpoints" / "module" / "checkpoint-4").is_dir()
    (out / "notes.txt").write_text("mine")

    second = train_upstream(
        _upstream(
            headless, corpus, out, max_steps=2, eval_steps=1, head_warmup_steps=0, overwrite=True
        )
    )
    assert first.metadata["head_warmup"] and second.metadata["head_warmup"] is None
    assert not (out / HEAD_FILE).exists(), "the earlier run's warmed-up head was left behind"
    assert not (out / "checkpoints" / "module" / "checkpoint-4").exists()
    assert (out / "notes.txt").read_text() == "mine"
    files = json.loads((out / "debias.json").read_text())["files"]
    assert set(files) == {p.name for p in out.iterdir()} - {"notes.txt", "checkpoints"}
    _, _, missing = load_debiased_lm(str(headless), debias=out)
    assert missing, "no warmed-up head: the module's base model has an untrained head"


def test_upstream_overwrite_removes_the_files_an_earlier_method_wrote(tiny_bert, corpus, tmp_path):
    out = tmp_path / "module"
    train_upstream(_upstream(tiny_bert, corpus, out, method="full", max_steps=2, eval_steps=1,
                             learning_rate=1e-4))  # fmt: skip
    full_only = {"model.safetensors", "config.json"}
    assert full_only <= {p.name for p in out.iterdir()}
    train_upstream(_upstream(tiny_bert, corpus, out, max_steps=2, eval_steps=1, overwrite=True))
    assert not full_only & {p.name for p in out.iterdir()}


def test_upstream_resume_replaces_the_whole_artefact(headless, corpus, tmp_path):
    out = tmp_path / "module"
    train_upstream(_upstream(headless, corpus, out, max_steps=2, eval_steps=1, head_warmup_steps=2))
    assert (out / HEAD_FILE).is_file()
    # a resumed run whose artefact has no head removes the earlier one when it saves
    train_upstream(
        _upstream(headless, corpus, out, max_steps=3, eval_steps=1, head_warmup_steps=0,
                  resume=True)
    )  # fmt: skip
    assert not (out / HEAD_FILE).exists()
    assert (out / "checkpoints" / "module" / "checkpoint-3").is_dir()


def _user_task(folder: Path) -> Path:
    table = folder / "task.csv"
    rows = [f"text number {i} about {['cats', 'dogs', 'birds'][i % 3]},{i % 3}" for i in range(60)]
    table.write_text("text,label\n" + "\n".join(rows) + "\n")
    return table


def test_downstream_overwrite_leaves_no_stale_predictions(tiny_bert, tmp_path):
    out = tmp_path / "out"
    # an earlier run on a hate-speech task: IPTTS predictions, a checkpoint of 99 steps
    (out / "checkpoints" / "checkpoint-99").mkdir(parents=True)
    (out / "model").mkdir()
    (out / "model" / "stale.safetensors").write_text("")
    for name in ("metrics.json", "predictions-test.jsonl", "predictions-iptts.jsonl"):
        (out / name).write_text("{}\n")
    (out / "notes.txt").write_text("mine")
    task = str(_user_task(tmp_path))
    config = DownstreamConfig(task=task, output=str(out), model=str(tiny_bert), baseline="ft",
                              batch_size=8, max_length=16)  # fmt: skip
    with pytest.raises(OutputExistsError):
        train_downstream(config)
    train_downstream(dataclasses.replace(config, overwrite=True))
    assert not (out / "predictions-iptts.jsonl").exists()
    assert not (out / "checkpoints" / "checkpoint-99").exists()
    assert not (out / "model" / "stale.safetensors").exists()
    assert (out / "notes.txt").read_text() == "mine"
    written = {p.name for p in out.iterdir()} - {"notes.txt"}
    assert written <= set(OUTPUTS), "every output must be in OUTPUTS, or --overwrite keeps it"


def test_intrinsic_overwrite_leaves_no_stale_scores(tiny_bert, data_dir, tmp_path):
    data = tmp_path / "data"
    (data / "crows_pairs").mkdir(parents=True)
    source = data_dir / "crows_pairs" / "crows_pairs_anonymized.csv"
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:4]
    with (data / "crows_pairs" / "crows_pairs_anonymized.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (data / "seat").mkdir()
    shutil.copy(data_dir / "seat" / "weat6.jsonl", data / "seat" / "weat6.jsonl")
    out = tmp_path / "out"
    argv = ["intrinsic", "--model", str(tiny_bert), "--data-dir", str(data), "--output", str(out)]
    assert main([*argv, "--benchmarks", "crows"]) == 0
    assert (out / "crows_scores.jsonl").is_file()
    (out / "notes.txt").write_text("mine")
    assert main([*argv, "--benchmarks", "seat", "--seat-tests", "weat6", "--overwrite"]) == 0
    assert not (out / "crows_scores.jsonl").exists()
    assert (out / "notes.txt").read_text() == "mine"


# -- --resume ---------------------------------------------------------------------------------


class _Interrupt(TrainerCallback):
    """Ctrl-C right after checkpoint ``at`` is saved, or after step ``at`` (no checkpoint)."""

    def __init__(self, at: int, after_save: bool) -> None:
        self.at, self.after_save = at, after_save

    def on_save(self, args, state, control, **kwargs):
        if self.after_save and state.global_step == self.at:
            raise KeyboardInterrupt

    def on_step_end(self, args, state, control, **kwargs):
        if not self.after_save and state.global_step == self.at:
            raise KeyboardInterrupt


def _interrupting(monkeypatch, module, name: str, callback: TrainerCallback, only: str = ""):
    """Make ``module.name`` (a Trainer class) raise as ``callback`` says, in the runs whose
    output folder is named ``only`` (every run when empty)."""
    base = getattr(module, name)

    class Interrupted(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not only or Path(self.args.output_dir).name == only:
                self.add_callback(callback)

    monkeypatch.setattr(module, name, Interrupted)
    return base


def _partial_checkpoint(folder: Path, step: int) -> None:
    """A checkpoint cut short while saving: everything but ``trainer_state.json``."""
    source = Path(last_complete_checkpoint(folder))
    target = folder / f"checkpoint-{step}"
    shutil.copytree(source, target)
    (target / "trainer_state.json").unlink()


def _assert_same_tensors(a: Path, b: Path) -> None:
    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), f"{key} differs after resuming"


@pytest.fixture(scope="module")
def uninterrupted(tiny_bert, headless, corpus, tmp_path_factory) -> dict[str, Path]:
    """The reference: upstream runs of 28 steps (an epoch is 20) without interruption."""
    root = tmp_path_factory.mktemp("uninterrupted")
    runs = {}
    for name, model in (("tiny", tiny_bert), ("headless", headless)):
        runs[name] = root / name
        train_upstream(_upstream(model, corpus, runs[name], max_steps=28, eval_steps=4))
    return runs


@pytest.mark.parametrize(
    ("model", "at", "after_save", "partial"),
    [
        ("tiny", 4, True, False),  # Ctrl-C just after a checkpoint, mid-epoch
        ("tiny", 27, False, True),  # in the second epoch, and checkpoint-28 was cut short
        ("headless", 20, True, False),  # at the epoch's end; the head warm-up runs again
    ],
)
def test_upstream_resume_is_exact(
    request, uninterrupted, corpus, tmp_path, monkeypatch, model, at, after_save, partial
):
    folder = request.getfixturevalue("tiny_bert" if model == "tiny" else "headless")
    out = tmp_path / "resumed"
    base = _interrupting(monkeypatch, upstream_steps, "DebiasTrainer",
                         _Interrupt(at, after_save), only="module")  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        train_upstream(_upstream(folder, corpus, out, max_steps=28, eval_steps=4))
    monkeypatch.setattr(upstream_steps, "DebiasTrainer", base)
    checkpoints = out / "checkpoints" / "module"
    if partial:
        _partial_checkpoint(checkpoints, 28)
    resumed = train_upstream(
        _upstream(folder, corpus, out, max_steps=28, eval_steps=4, resume=True)
    )

    reference = uninterrupted[model]
    _assert_same_tensors(reference / "adapter_model.safetensors", out / "adapter_model.safetensors")
    if model == "headless":
        _assert_same_tensors(reference / HEAD_FILE, out / HEAD_FILE)
    expected = json.loads((reference / "debias.json").read_text())
    assert resumed.metadata["training"]["steps"] == 28
    assert resumed.metadata["heldout_after"] == expected["heldout_after"]
    assert (
        resumed.metadata["training"]["best_heldout_loss"]
        == (expected["training"]["best_heldout_loss"])
    )


def test_downstream_resume_is_exact(tiny_bert, tmp_path, monkeypatch):
    table = _user_task(tmp_path)
    base = dict(task=str(table), model=str(tiny_bert), baseline="ft", batch_size=8,
                max_length=16, epochs=2)  # fmt: skip
    reference = tmp_path / "reference"
    train_downstream(DownstreamConfig(output=str(reference), **base))
    out = tmp_path / "resumed"
    # 48 training rows: 6 steps an epoch, a checkpoint after each; stop in the second epoch
    trainer = _interrupting(monkeypatch, downstream_training, "WeightedTrainer",
                            _Interrupt(8, after_save=False))  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        train_downstream(DownstreamConfig(output=str(out), **base))
    monkeypatch.setattr(downstream_training, "WeightedTrainer", trainer)
    _partial_checkpoint(out / "checkpoints", 12)  # Ctrl-C while saving the next one
    resumed = train_downstream(DownstreamConfig(output=str(out), resume=True, **base))
    assert resumed.metrics["steps"] == 12
    _assert_same_tensors(
        reference / "model" / "model.safetensors", out / "model" / "model.safetensors"
    )
    for split in ("dev", "test"):
        name = f"predictions-{split}.jsonl"
        assert (reference / name).read_text() == (out / name).read_text()


def test_last_complete_checkpoint_skips_cut_short_ones(tmp_path):
    assert last_complete_checkpoint(tmp_path / "missing") is None
    for step, state in (
        (2, '{"global_step": 2}'),
        (10, '{"global_step": 10}'),
        (12, "{"),
        (14, None),
    ):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-99.tmp").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
