"""Bad inputs through the command line: each kind in :data:`CASES` must end with exit status
2 and exactly one line on stderr that names the option or file at fault, never a traceback,
and must fail before anything is trained. Then the checks that are not one CLI call: path
traversal in the runner, SIGTERM, --max-length clamping, umask, library-error messages."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from peftdebias.cli import main
from peftdebias.downstream import validate_downstream
from peftdebias.errors import ConfigError, describe
from peftdebias.experiments import Cell, Runner, from_dict
from peftdebias.io import apply_umask
from peftdebias.upstream import validate_upstream
from peftdebias.validation import inside

PWNED = "PWNED"  # what an executed pickle would create in the test folder


class Evil:
    """A pickle that creates a file when unpickled."""

    def __init__(self, folder: Path) -> None:
        self.target = str(folder / PWNED)

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


@dataclass
class Env:
    """Files and folders a case builds its bad input from."""

    tmp: Path
    model: Path
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    def folder(self, name: str) -> str:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def corpus(self) -> str:
        return self.file("corpus.txt", "he is a doctor and she is a nurse.\n" * 20)

    def texts(self) -> str:
        return self.file("texts.txt", "he is here\nshe is there\n")

    def predictions(self) -> str:
        row = {"id": 1, "gold": 0, "pred": 0, "probs": [0.9, 0.1], "text": "a muslim"}
        return self.file("pred.jsonl", json.dumps(row) + "\n")

    def yaml(self, data: object) -> str:
        return self.file("grid.yaml", yaml.safe_dump(data))

    def grid(self, **sections: object) -> dict:
        """A valid config (one LoRA module on the tiny model) with ``sections`` replaced."""
        upstream = {"methods": ["lora"], "modules": [{"axis": "gender", "corpus": self.corpus()}]}
        base = {"name": "t", "model": str(self.model), "seeds": [1], "upstream": upstream}
        return {**base, **sections}

    def deny(self, folder: str, mode: int) -> None:
        """``os.access(folder, mode)`` says no (chmod cannot stop root)."""
        real = os.access
        target = Path(folder).resolve()

        def access(path, wanted, *args, **kwargs):
            if Path(path).resolve() == target and wanted & mode:
                return False
            return real(path, wanted, *args, **kwargs)

        self.monkeypatch.setattr(os, "access", access)


NON_UTF8 = b"caf\xe9 \xff\n"


def upstream(env: Env, *extra: str, output: str = "up") -> list[str]:
    """A tiny, valid ``peftdebias upstream`` call, with ``extra`` options appended."""
    return [
        "upstream", "--model", str(env.model), "--axis", "gender", "--corpus", env.corpus(),
        "--method", "lora", "--output", str(env.tmp / output), "--max-steps", "2",
        "--batch-size", "4", "--max-length", "16", *extra,
    ]  # fmt: skip


def downstream(env: Env, *extra: str, task: str = "ghc") -> list[str]:
    """A ``peftdebias downstream`` call valid up to its data (an empty data directory)."""
    return [
        "downstream", "--model", str(env.model), "--task", task, "--baseline", "ft",
        "--output", str(env.tmp / "down"), "--data-dir", env.folder("data"), *extra,
    ]  # fmt: skip


def cda(env: Env, *extra: str, output: str | None = None) -> list[str]:
    out = output or str(env.tmp / "cda.jsonl")
    return ["cda", "--axis", "gender", "--input", env.texts(), "--output", out, *extra]


def run(env: Env, data: object, *extra: str) -> list[str]:
    return ["run", env.yaml(data), "--output", str(env.tmp / "grid"), *extra]


def safetensors_bytes(env: Env) -> bytes:
    path = env.tmp / "valid.safetensors"
    save_file({"weight": torch.zeros(8)}, str(path))
    return path.read_bytes()


def model_folder(env: Env, name: str, weights: dict[str, bytes]) -> str:
    folder = env.tmp / name
    folder.mkdir()
    shutil.copy(env.model / "config.json", folder)
    for file, content in weights.items():
        (folder / file).write_bytes(content)
    return str(folder)


def downstream_grid(env: Env) -> dict:
    return {"name": "t", "model": str(env.model), "seeds": [1], "data_dir": env.folder("data"),
            "downstream": {"tasks": [{"task": "ghc", "axis": "group"}]}}  # fmt: skip


Case = Callable[[Env], tuple[list[str], str]]
CASES: dict[str, Case] = {}


def case(kind: str) -> Callable[[Case], Case]:
    def register(build: Case) -> Case:
        CASES[kind] = build
        return build

    return register


# --- files that are not UTF-8 -----------------------------------------------------------------
@case("non-UTF-8 jsonl input (cda --input)")
def _(env):
    path = env.file("bad.jsonl", b'{"text": "\xff"}\n')
    return ["cda", "--axis", "gender", "--input", path, "--output", str(env.tmp / "o")], "--input"


@case("non-UTF-8 txt input (cda --input)")
def _(env):
    path = env.file("bad.txt", NON_UTF8)
    return ["cda", "--axis", "gender", "--input", path, "--output", str(env.tmp / "o")], "bad.txt"


@case("non-UTF-8 txt corpus (upstream --corpus)")
def _(env):
    argv = upstream(env)
    argv[argv.index("--corpus") + 1] = env.file("corpus-bad.txt", NON_UTF8)
    return argv, "--corpus"


@case("non-UTF-8 word list (cda --words)")
def _(env):
    words = env.file("words.csv", b"he,sh\xe9\n")
    return ["cda", "--words", words, "--input", env.texts(), "--output", "o"], "--words"


@case("non-UTF-8 YAML config (run)")
def _(env):
    return ["run", env.file("bad.yaml", b"name: \xff\n"), "--output", "o", "--dry-run"], "bad.yaml"


@case("non-UTF-8 term file (metrics --terms)")
def _(env):
    terms = env.file("terms.txt", NON_UTF8)
    return ["metrics", "--predictions", env.predictions(), "--terms", terms], "--terms"


@case("non-UTF-8 term file (downstream --fprd-terms)")
def _(env):
    return downstream(env, "--fprd-terms", env.file("terms.txt", NON_UTF8)), "--fprd-terms"


@case("non-UTF-8 predictions jsonl (metrics --predictions)")
def _(env):
    path = env.file("pred.jsonl", b'{"id": 1, "gold": 0, "pred": 0, "probs": [1], "text": "\xff"}')
    return ["metrics", "--predictions", path], "--predictions"


@case("non-UTF-8 task jsonl (downstream --task)")
def _(env):
    return downstream(env, task=env.file("task.jsonl", b'{"text": "\xff", "label": 0}\n')), "--task"


# --- tables without enough rows ---------------------------------------------------------------
@case("empty tsv task")
def _(env):
    return downstream(env, task=env.file("empty.tsv", "")), "is empty"


@case("header-only tsv task")
def _(env):
    return downstream(env, task=env.file("header.tsv", "text\tlabel\n")), "no data rows"


@case("empty csv task")
def _(env):
    return downstream(env, task=env.file("empty.csv", "\n\n")), "empty.csv is empty"


@case("3-row csv task")
def _(env):
    return downstream(env, task=env.file("three.csv", "text,label\na,0\nb,1\nc,0\n")), "only 3 rows"


# --- data directory ---------------------------------------------------------------------------
@case("unreadable data dir")
def _(env):
    data = env.folder("locked")
    env.deny(data, os.R_OK | os.X_OK)
    return downstream(env, "--data-dir", data), "locked (from --data-dir) is not readable"


@case("data dir that is a file")
def _(env):
    return downstream(env, "--data-dir", env.texts()), "is not a directory"


@case("missing data dir (downstream)")
def _(env):
    return downstream(env, "--data-dir", str(env.tmp / "nope")), "nope (from --data-dir)"


@case("missing data dir (run) fails before any cell")
def _(env):
    return run(env, env.grid(), "--data-dir", str(env.tmp / "nope")), "--data-dir"


# --- outputs ----------------------------------------------------------------------------------
@case("read-only output folder")
def _(env):
    folder = env.folder("readonly")
    env.deny(folder, os.W_OK)
    return cda(env, output=f"{folder}/out.jsonl"), "readonly is not writable"


@case("output under a file (cda)")
def _(env):
    return cda(env, output=f"{env.texts()}/out.jsonl"), "texts.txt is a file, not a folder"


@case("output under a file (intrinsic)")
def _(env):
    out = f"{env.texts()}/out"
    return ["intrinsic", "--model", str(env.model), "--output", out], "is a file, not a folder"


@case("output folder that is a file (upstream)")
def _(env):
    return upstream(env, "--output", env.texts()), "is a file, not a directory"


@case("output under a file (report)")
def _(env):
    return ["report", env.folder("run"), "--output", f"{env.texts()}/r"], "is a file, not a folder"


@case("data dir that is a file (data list)")
def _(env):
    return ["data", "list", "--data-dir", env.texts()], "texts.txt (from --data-dir)"


@case("output that is a directory, with --overwrite (cda)")
def _(env):
    return cda(env, "--overwrite", output=env.folder("dir")), "--output"


@case("output that is a directory, without --overwrite (cda)")
def _(env):
    return cda(env, output=env.folder("dir")), "is a directory"


@case("output that is a directory, with --overwrite (metrics)")
def _(env):
    argv = ["metrics", "--predictions", env.predictions(), "--output", env.folder("dir")]
    return [*argv, "--overwrite"], "is a directory"


@case("disk full while writing")
def _(env):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    env.monkeypatch.setattr(os, "fsync", full)
    return cda(env, output=str(env.tmp / "full.jsonl")), "full.jsonl: no space left"


@case("interrupted upstream output: the message offers --resume")
def _(env):
    env.folder("up/checkpoints/module/checkpoint-2")
    return upstream(env), "--resume"


# --- weights and checkpoints ------------------------------------------------------------------
@case("truncated mlm_head.safetensors (intrinsic --debias)")
def _(env):
    env.file("module/mlm_head.safetensors", safetensors_bytes(env)[:-5])
    argv = ["intrinsic", "--model", str(env.model), "--debias", str(env.tmp / "module")]
    return [*argv, "--output", str(env.tmp / "i")], "mlm_head.safetensors"


@case("pickled mlm_head.safetensors (intrinsic --head-from)")
def _(env):
    env.file("module/mlm_head.safetensors", pickle.dumps(Evil(env.tmp)))
    argv = ["intrinsic", "--model", str(env.model), "--head-from", str(env.tmp / "module")]
    return [*argv, "--output", str(env.tmp / "i")], "mlm_head.safetensors"


@case("pickle pytorch_model.bin model folder")
def _(env):
    folder = model_folder(env, "pickled", {"pytorch_model.bin": pickle.dumps(Evil(env.tmp))})
    return upstream(env, "--model", folder), "pytorch_model.bin"


@case("truncated model.safetensors")
def _(env):
    folder = model_folder(env, "cut", {"model.safetensors": safetensors_bytes(env)[:30]})
    return downstream(env, "--model", folder), "model.safetensors"


@case("config-only model folder: no 'hf download' advice")
def _(env):
    return upstream(env, "--model", model_folder(env, "config-only", {})), "but no weights"


@case("pickled checkpoint on --resume")
def _(env):
    env.file("up/checkpoints/module/checkpoint-2/optimizer.pt", pickle.dumps(Evil(env.tmp)))
    return upstream(env, "--resume"), "optimizer.pt"


@case("truncated trainer_state.json on --resume")
def _(env):
    env.file("down/checkpoints/checkpoint-3/trainer_state.json", '{"global_step": ')
    return downstream(env, "--resume"), "trainer_state.json"


# --- run configs and run folders --------------------------------------------------------------
@case("YAML top-level list")
def _(env):
    return ["run", env.file("list.yaml", "- a\n- b\n"), "--output", "o"], "top level"


@case("invalid YAML syntax (a multi-line parser message)")
def _(env):
    return ["run", env.file("broken.yaml", "name: [unclosed\n"), "--output", "o"], "not valid YAML"


@case("truncated manifest.json")
def _(env):
    env.file("grid/manifest.json", '{"format": "peftdebias-exp')
    return run(env, downstream_grid(env)), "manifest.json"


@case("truncated cell.json")
def _(env):
    manifest = {"format": "peftdebias-experiment/1", "runs": [], "cells": {}}
    env.file("grid/manifest.json", json.dumps(manifest))
    env.file("grid/downstream/ghc/ft/s1/cell.json", '{"id": "downstream/gh')
    return run(env, downstream_grid(env)), "cell.json"


@case("module name that climbs out of the run folder")
def _(env):
    grid = env.grid()
    grid["upstream"]["modules"][0]["name"] = "x/../../../victim"
    return run(env, grid, "--dry-run"), "upstream.modules[0].name"


@case("--only pattern that matches no cell")
def _(env):
    return run(env, env.grid(), "--dry-run", "--only", "downstream/nope/*"), "--only"


@case("YAML max_steps: -5 (--dry-run)")
def _(env):
    grid = env.grid()
    grid["upstream"]["options"] = {"max_steps": -5}
    return run(env, grid, "--dry-run"), "upstream.options.max_steps must be an integer >= 1"


@case("YAML batch_size: 0 (--dry-run)")
def _(env):
    grid = env.grid(downstream={"tasks": [{"task": "ghc", "axis": "gender"}]})
    grid["downstream"]["options"] = {"batch_size": 0}
    return run(env, grid, "--dry-run"), "downstream.options.batch_size"


@case("YAML learning_rate: .nan (--dry-run)")
def _(env):
    grid = env.grid()
    grid["upstream"]["options"] = {"learning_rate": float("nan")}
    assert "learning_rate: .nan" in yaml.safe_dump(grid)
    return run(env, grid, "--dry-run"), "upstream.options.learning_rate must be a finite number"


@case("YAML r: notanint (--dry-run)")
def _(env):
    grid = env.grid()
    grid["upstream"]["method_options"] = {"lora": {"r": "notanint"}}
    return run(env, grid, "--dry-run"), "upstream.method_options.lora.r"


# --- options that would train wrongly or fail late --------------------------------------------
@case("--method-option r=notjson")
def _(env):
    return upstream(env, "--method-option", "r=notjson"), "--method-option r"


@case("--method-option dropout=2")
def _(env):
    return upstream(env, "--method-option", "dropout=2"), "--method-option dropout"


@case("--max-steps 0")
def _(env):
    return upstream(env, "--max-steps", "0"), "--max-steps"


@case("--max-steps -3")
def _(env):
    return upstream(env, "--max-steps", "-3"), "--max-steps must be an integer >= 1, got -3"


@case("--eval-steps 0")
def _(env):
    return upstream(env, "--eval-steps", "0"), "--eval-steps"


@case("--max-texts -1")
def _(env):
    return upstream(env, "--max-texts", "-1"), "--max-texts"


@case("--batch-size 0 (upstream)")
def _(env):
    return upstream(env, "--batch-size", "0"), "--batch-size"


@case("--lr nan (upstream)")
def _(env):
    return upstream(env, "--lr", "nan"), "--learning-rate must be a finite number > 0"


@case("--max-length 1")
def _(env):
    return upstream(env, "--max-length", "1"), "--max-length must be an integer >= 8"


@case("--epochs -1")
def _(env):
    return downstream(env, "--epochs", "-1"), "--epochs"


@case("--epochs 0")
def _(env):
    return downstream(env, "--epochs", "0"), "--epochs must be a finite number > 0"


@case("--batch-size 0 (downstream)")
def _(env):
    return downstream(env, "--batch-size", "0"), "--batch-size"


@case("--lr inf (downstream)")
def _(env):
    return downstream(env, "--lr", "inf"), "--learning-rate"


@case("--lr 0 (downstream)")
def _(env):
    return downstream(env, "--lr", "0"), "--learning-rate"


@case("--max-train-examples 0")
def _(env):
    return downstream(env, "--max-train-examples", "0"), "--max-train-examples"


@case("negative --class-weights")
def _(env):
    return downstream(env, "--class-weights", '{"0": -1}'), "--class-weights"


@case("--fprd-axis unknown")
def _(env):
    return downstream(env, "--fprd-axis", "height"), "--fprd-axis"


@case("--fprd-terms missing")
def _(env):
    return downstream(env, "--fprd-terms", str(env.tmp / "none.txt")), "none.txt"


@pytest.fixture
def env(tiny_bert, tmp_path, monkeypatch) -> Env:
    monkeypatch.chdir(tmp_path)
    return Env(tmp_path, tiny_bert, monkeypatch)


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_input_is_one_line_and_exit_2(kind, env, capsys):
    argv, needle = CASES[kind](env)
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"peftdebias {argv[0]}: error: ")
    assert needle in lines[0], lines[0]
    assert "hf download" not in lines[0]
    assert not (env.tmp / PWNED).exists()  # no pickle was ever executed
    # nothing was trained: no module, no metrics, no run folder of failed cells
    assert not list(env.tmp.rglob("debias.json")) and not list(env.tmp.rglob("metrics.json"))
    assert not list(env.tmp.rglob("error.txt"))


def test_table_size():
    """The number of bad-input kinds the table covers (reported on the issue)."""
    assert len(CASES) == 63


# --- beyond one CLI call ----------------------------------------------------------------------


def test_runner_never_deletes_outside_the_run_folder(tiny_bert, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    config = from_dict(
        {"name": "t", "model": str(tiny_bert),
         "downstream": {"tasks": [{"task": "ghc", "axis": "group"}]}}
    )  # fmt: skip
    runner = Runner(config, tmp_path / "run")
    runner.cells = [Cell("../victim", "downstream", {})]  # as a hand-edited plan would
    with pytest.raises(ConfigError, match="outside the output folder"):
        runner.run()
    assert (victim / "precious.txt").read_text() == "keep"
    with pytest.raises(ConfigError):
        inside(tmp_path / "run", "a/../../victim", "cell")
    (tmp_path / "run" / "link").symlink_to(victim)
    with pytest.raises(ConfigError):
        inside(tmp_path / "run", "link/s1", "cell")
    assert inside(tmp_path / "run", "upstream/x", "cell") == tmp_path / "run" / "upstream" / "x"


def test_module_name_traversal_leaves_the_victim(tiny_bert, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    (tmp_path / "corpus.txt").write_text("he is here\n")
    config = {
        "name": "t", "model": str(tiny_bert),
        "upstream": {"methods": ["lora"], "modules": [
            {"axis": "gender", "corpus": str(tmp_path / "corpus.txt"), "name": "../../victim"}]},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "a" / "b")]) == 2
    assert "upstream.modules[0].name" in capsys.readouterr().err
    assert (victim / "precious.txt").read_text() == "keep"


def test_sigterm_prints_one_line_like_ctrl_c(monkeypatch, capsys, tmp_path):
    def stop(args) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        return 0

    calls = []

    def handler(*args) -> None:  # without the fix, SIGTERM would land here and main return 0
        calls.append(args)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        monkeypatch.setattr("peftdebias.commands.report._report", stop)
        assert main(["report", str(tmp_path)]) == 143
        assert signal.getsignal(signal.SIGTERM) is handler  # main put it back
        assert not calls
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["peftdebias report: terminated (SIGTERM)"]


def test_interrupt_message_says_how_to_resume(monkeypatch, capsys, tmp_path):
    def interrupt(args) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("peftdebias.commands.upstream._run", interrupt)
    argv = ["upstream", "--axis", "gender", "--corpus", "c", "--method", "lora", "--output", "o"]
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == (
        "peftdebias upstream: interrupted; pass --resume to continue from the last checkpoint"
    )


def test_max_length_is_clamped_to_the_model_positions(tiny_bert, tmp_path, caplog):
    from peftdebias.downstream import DownstreamConfig
    from peftdebias.upstream import UpstreamConfig

    corpus = tmp_path / "c.txt"
    corpus.write_text("he is here\n")
    up = UpstreamConfig(axis="gender", corpus=str(corpus), method="prompt", model=str(tiny_bert),
                        output=str(tmp_path / "u"), max_length=1000)  # fmt: skip
    # 300 positions in the tiny model, less prompt tuning's 30 virtual tokens
    assert validate_upstream(up).max_length == 270
    assert "--max-length 1000 exceeds the 270 positions" in caplog.text
    fits = dataclasses.replace(up, method="lora", max_length=64)
    assert validate_upstream(fits) is fits
    down = DownstreamConfig(task="ghc", output=str(tmp_path / "d"), model=str(tiny_bert),
                            baseline="ft", preset="paper", max_length=4096)  # fmt: skip
    assert validate_downstream(down).max_length == 300


def test_outputs_can_follow_the_umask(tmp_path):
    fd, name = tempfile.mkstemp(dir=tmp_path)  # 0600, as atomic writes create them
    os.close(fd)
    folder = tempfile.mkdtemp(dir=tmp_path)  # 0700
    old = os.umask(0o022)
    try:
        apply_umask(name)
        apply_umask(folder)
    finally:
        os.umask(old)
    assert Path(name).stat().st_mode & 0o777 == 0o644
    assert Path(folder).stat().st_mode & 0o777 == 0o755


def _fail_reading(path: Path, exc: BaseException) -> None:
    """A library function that fails while it holds ``path`` in a local variable."""
    raise exc


def _raised(path: Path, exc: BaseException) -> BaseException:
    try:
        _fail_reading(path, exc)
    except BaseException as caught:
        return caught
    raise AssertionError("not raised")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (pickle.UnpicklingError("Weights only load failed"), "was refused"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "not UTF-8"),
        (OSError(28, "No space left on device"), "no space left"),
        (PermissionError(13, "Permission denied"), "permission denied"),
    ],
)
def test_library_errors_name_the_file(tmp_path, exc, expected):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"x")
    message = describe(_raised(path, exc))
    assert message is not None and message.startswith(str(path)) and expected in message
    assert describe(RuntimeError("a bug")) is None
