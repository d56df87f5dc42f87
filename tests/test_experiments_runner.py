"""The grid runner on tiny models: cells, manifest, resume, retry of failed cells, Ctrl-C and
killed-process safety, refusal to overwrite; then the report of that grid (tables, CSVs,
significance tests, plots)."""

from __future__ import annotations

import csv
import fcntl
import json
import shutil
import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from scipy import stats
from transformers import AutoModel

from peftdebias.cli import main
from peftdebias.errors import ConfigError, OutputExistsError
from peftdebias.experiments import from_dict, run_cell, run_experiment
from peftdebias.experiments.collect import Stat, paired_p_value
from peftdebias.testing import minilm_tokenizer, tiny_config

FAIL = "downstream/toy-task/ft/s2"
CELLS = [
    "upstream/lora-toy-s1",
    "downstream/toy-task/ft/s1",
    "downstream/toy-task/lora-toy-s1/s1",
    "downstream/toy-task/ft/s2",
    "downstream/toy-task/lora-toy-s1/s2",
]


def _config(tiny_bert: Path, folder: Path, epochs: float = 3.0):
    corpus = folder / "corpus.txt"
    corpus.write_text("the black man met the white woman.\nmuslims and jews live here.\n" * 10)
    task = folder / "toy-task.csv"
    jobs = ["nurse", "engineer", "teacher", "pilot"]
    with task.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "gender"])
        for i in range(300):
            gender = ("male", "female")[i % 2]
            pronoun = "he" if gender == "male" else "she"
            # learnable and gender-skewed, so the models' TPRs differ between the genders
            label = int(jobs[i % 4] in ("nurse", "teacher") and (gender == "female" or i % 3 == 0))
            writer.writerow([f"{pronoun} works as a {jobs[i % 4]} number {i}", label, gender])
    return from_dict(
        {
            "name": "toy",
            "model": str(tiny_bert),
            "seeds": [1, 2],
            "upstream": {
                "methods": ["lora"],
                "modules": [{"axis": "group", "corpus": str(corpus), "name": "toy"}],
                "options": {"max_steps": 2, "eval_steps": 1, "batch_size": 4, "max_length": 16,
                            "learning_rate": 1e-2},
            },
            "downstream": {
                "tasks": [{"task": str(task), "axis": "group", "fprd_axis": "gender",
                           "options": {"columns": {"attribute": "gender"}}}],
                "options": {"epochs": epochs, "batch_size": 8, "max_length": 16,
                            "learning_rate": 1e-2},
            },
        }
    )  # fmt: skip


class Recorder:
    """Runs cells for real; records which ran; optionally fails one (exception or Ctrl-C)."""

    def __init__(self, fail: str | None = None, exc: BaseException | None = None):
        self.fail, self.exc, self.ran = fail, exc, []

    def __call__(self, cell, folder, root, config):
        self.ran.append(cell.id)
        if cell.id == self.fail:
            (folder / "partial.bin").write_bytes(b"half")
            raise self.exc
        return run_cell(cell, folder, root, config)


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _mtimes(root: Path) -> dict[str, float]:
    """Modification time of each finished cell's marker."""
    return {
        c: (root / c / "cell.json").stat().st_mtime
        for c in CELLS
        if (root / c / "cell.json").exists()
    }


@pytest.fixture(scope="module")
def grid(tiny_bert, tmp_path_factory):
    """A grid whose first run fails one cell, then a second run that retries it."""
    folder = tmp_path_factory.mktemp("grid")
    config = _config(tiny_bert, folder)
    out = folder / "run"
    first = Recorder(FAIL, RuntimeError("boom"))
    result = run_experiment(config, out, cell_runner=first)
    after_first = SimpleNamespace(
        result=result, manifest=json.loads(json.dumps(_manifest(out))), mtimes=_mtimes(out),
        partial=(out / FAIL / "partial.bin").exists(),
    )  # fmt: skip
    second = Recorder()
    retried = run_experiment(config, out, cell_runner=second)
    return SimpleNamespace(
        out=out, config=config, first=first, after_first=after_first, second=second,
        retried=retried,
    )  # fmt: skip


def test_failed_cell_is_recorded_and_others_finish(grid):
    manifest = grid.after_first.manifest
    assert grid.first.ran == CELLS
    assert not grid.after_first.result.ok
    assert grid.after_first.result.counts == {"finished": 4, "failed": 1}
    assert manifest["cells"][FAIL]["status"] == "failed"
    assert manifest["cells"][FAIL]["error"] == "RuntimeError: boom"
    assert set(grid.after_first.mtimes) == set(CELLS) - {FAIL}
    assert manifest["cells"]["downstream/toy-task/lora-toy-s1/s2"]["needs"] == [
        "upstream/lora-toy-s1"
    ]


def test_rerun_retries_only_the_failed_cell(grid):
    assert grid.second.ran == [FAIL]
    assert grid.retried.ok
    assert not (grid.out / FAIL / "partial.bin").exists()  # the failed attempt was cleared
    after = _mtimes(grid.out)
    for cell, mtime in grid.after_first.mtimes.items():
        assert after[cell] == mtime  # finished cells untouched
    manifest = _manifest(grid.out)
    assert manifest["cells"][FAIL]["attempts"] == 2
    assert [r["status"] for r in manifest["runs"]] == ["finished", "finished"]


def test_manifest_records_config_versions_commit_and_cells(grid):
    manifest = _manifest(grid.out)
    assert manifest["config"]["seeds"] == [1, 2]
    assert manifest["seeds"] == {"downstream": [1, 2], "upstream": [1]}
    assert manifest["versions"]["torch"] and manifest["versions"]["transformers"]
    git = manifest["git"]
    assert git is None or len(git["commit"]) == 40
    for cell in CELLS:
        record = manifest["cells"][cell]
        assert record["status"] == "finished" and record["started"] and record["ended"]
        marker = json.loads((grid.out / cell / "cell.json").read_text())
        assert marker["id"] == cell
    # artefacts of each kind are complete, checkpoints removed
    assert (grid.out / "upstream/lora-toy-s1/debias.json").is_file()
    assert (grid.out / "downstream/toy-task/ft/s1/metrics.json").is_file()
    assert not (grid.out / "upstream/lora-toy-s1/checkpoints").exists()


def test_ctrl_c_inside_a_cell_leaves_it_unfinished(grid, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(grid.out, out)
    victim = "downstream/toy-task/lora-toy-s1/s2"
    shutil.rmtree(out / victim)  # as if never run
    interrupted = Recorder(victim, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_experiment(grid.config, out, cell_runner=interrupted)
    manifest = _manifest(out)
    assert manifest["cells"][victim]["status"] == "failed"
    assert manifest["cells"][victim]["error"] == "interrupted"
    assert manifest["runs"][-1]["status"] == "interrupted"
    assert not (out / victim / "cell.json").exists()
    again = Recorder()
    assert run_experiment(grid.config, out, cell_runner=again).ok
    assert again.ran == [victim]
    assert not (out / victim / "partial.bin").exists()


def test_killed_process_cell_is_rerun_from_scratch(grid, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(grid.out, out)
    victim = "upstream/lora-toy-s1"
    # a killed process: status 'running', folder without cell.json, stray files
    (out / victim / "cell.json").unlink()
    (out / victim / "stray.tmp").write_text("x")
    manifest = _manifest(out)
    manifest["cells"][victim]["status"] = "running"
    manifest["runs"].append({"started": "x", "ended": None, "pid": 1, "status": "running"})
    (out / "manifest.json").write_text(json.dumps(manifest))
    again = Recorder()
    assert run_experiment(grid.config, out, cell_runner=again).ok
    assert again.ran == [victim]  # its dependants stay finished: their results exist
    runs = _manifest(out)["runs"]
    assert [r["status"] for r in runs[-2:]] == ["killed", "finished"]
    assert _manifest(out)["cells"][victim]["run"] == len(runs) - 1  # which invocation ran it
    assert not (out / victim / "stray.tmp").exists()
    assert (out / victim / "debias.json").is_file()


def test_changed_parameters_never_overwrite_finished_cells(grid, tiny_bert, tmp_path):
    changed = _config(tiny_bert, tmp_path, epochs=2.0)
    with pytest.raises(OutputExistsError, match="run with other parameters"):
        run_experiment(changed, grid.out)
    stranger = tmp_path / "not-a-run"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"holds no manifest\.json"):
        run_experiment(grid.config, stranger)


def test_one_runner_per_folder(grid):
    with (grid.out / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(OutputExistsError, match="another peftdebias run"):
            run_experiment(grid.config, grid.out)


def test_only_runs_the_matching_cells_and_what_they_need(grid, tmp_path):
    ran: list[str] = []

    def record(cell, folder, root, config):
        ran.append(cell.id)
        return {}

    out = tmp_path / "run"
    first = run_experiment(grid.config, out, cell_runner=record, only=["downstream/*/ft/*"])
    assert ran == ["downstream/toy-task/ft/s1", "downstream/toy-task/ft/s2"]
    assert first.ok and first.counts == {"finished": 2, "pending": 3}
    ran.clear()
    second = run_experiment(
        grid.config, out, cell_runner=record, only=["downstream/toy-task/lora-toy-s1/s2"]
    )
    assert ran == ["upstream/lora-toy-s1", "downstream/toy-task/lora-toy-s1/s2"]
    assert second.ok and second.counts == {"finished": 4, "pending": 1}
    ran.clear()
    assert run_experiment(grid.config, out, cell_runner=record).ok
    assert ran == ["downstream/toy-task/lora-toy-s1/s1"]  # the rest was done
    with pytest.raises(ConfigError, match=r"--only 'upstream/nothing\*' matches no cell"):
        run_experiment(grid.config, out, cell_runner=record, only=["upstream/nothing*"])


# --- report ------------------------------------------------------------------------------


def _test_metric(metrics: dict, *path: str):
    node = metrics["splits"]["test"]["metrics"]
    for key in path:
        node = node[key]
    return node


def test_report_tables_match_the_cells(grid, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(grid.out), "--output", str(out)]) == 0
    assert "## Table 2" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "table2_extrinsic.csv").open()))
    by = {(r["row"], r["metric"]): r for r in rows}
    for label, start in (("FT", "ft"), ("LoRA", "lora-toy-s1")):
        runs = [
            json.loads((grid.out / f"downstream/toy-task/{start}/s{s}/metrics.json").read_text())
            for s in (1, 2)
        ]
        for metric, path in (("F1", ("classification", "macro_f1")),
                             ("TPR-GAP", ("tpr-gap", "tpr_gap_rms"))):  # fmt: skip
            values = [_test_metric(m, *path) for m in runs]
            row = by[(label, metric)]
            assert float(row["mean"]) == pytest.approx(statistics.fmean(values))
            assert float(row["std"]) == pytest.approx(statistics.stdev(values))
            assert row["n"] == "2" and row["seeds"] == "1 2" and row["role"] == "transfer"
            if label == "LoRA":
                ft = [_test_metric(json.loads((grid.out / f"downstream/toy-task/ft/s{s}/"
                      "metrics.json").read_text()), *path) for s in (1, 2)]  # fmt: skip
                diffs = {a - b for a, b in zip(values, ft, strict=True)}
                if len(diffs) > 1:
                    expected = stats.ttest_rel(values, ft).pvalue
                    assert float(row["p_vs_ft"]) == pytest.approx(expected)
                else:
                    assert row["p_vs_ft"] == ""
    report = (out / "report.md").read_text()
    assert "### toy-task (transfer)" in report and "| row | F1 | TPR-GAP |" in report
    assert "| FT |" in report and "| LoRA |" in report
    cells = list(csv.DictReader((out / "cells.csv").open()))
    assert {c["cell"] for c in cells} == set(CELLS) and {c["status"] for c in cells} == {"finished"}


def test_report_has_bias_nli_columns_when_cells_scored_pairs(grid, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(grid.out, run)
    for start, base in (("ft", 0.30), ("lora-toy-s1", 0.50)):
        for seed in (1, 2):
            path = run / f"downstream/toy-task/{start}/s{seed}/metrics.json"
            metrics = json.loads(path.read_text())
            fn, nn = base + seed / 100, base - seed / 100
            metrics["splits"]["bias-nli"] = {
                "metrics": {"bias-nli": {"fraction_neutral": fn, "net_neutral": nn}}
            }
            path.write_text(json.dumps(metrics))
    out = tmp_path / "report"
    assert main(["report", str(run), "--output", str(out)]) == 0
    rows = {
        (r["row"], r["metric"]): r for r in csv.DictReader((out / "table2_extrinsic.csv").open())
    }
    assert float(rows[("LoRA", "Bias-NLI FN")]["mean"]) == pytest.approx(0.515)
    assert float(rows[("FT", "Bias-NLI NN")]["mean"]) == pytest.approx(0.285)
    assert "Bias-NLI FN" in (out / "report.md").read_text()


def test_report_plots_are_real_pngs(grid, tmp_path):
    import matplotlib.image

    out = tmp_path / "report"
    report = main(["report", str(grid.out), "--output", str(out), "--module", "lora"])
    assert report == 0
    for name in ("tpr-gap-toy-task.png", "fpr-terms-toy-task-test.png",
                 "score-vs-bias-toy-task.png"):  # fmt: skip
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 200 and image.shape[1] > 300
        assert f"]({name})" in (out / "report.md").read_text()


def test_paired_t_test_by_hand():
    ft = Stat({1: 0.5, 2: 0.6, 3: 0.7})
    row = Stat({1: 0.6, 2: 0.8, 3: 0.75, 4: 0.9})  # seed 4 has no FT pair
    # differences 0.1, 0.2, 0.05: mean 0.11667, sd 0.076376, t = mean / (sd / sqrt 3) = 2.6458
    t = 0.116667 / (0.0763763 / 3**0.5)
    assert t == pytest.approx(2.6458, abs=1e-3)
    assert paired_p_value(row, ft) == pytest.approx(2 * stats.t.sf(t, df=2), rel=1e-3)
    assert paired_p_value(Stat({1: 0.6}), ft) is None  # one pair
    assert paired_p_value(Stat({1: 0.6, 2: 0.7}), ft) is None  # constant difference
    assert row.mean == pytest.approx(0.7625) and row.std == pytest.approx(0.12500, abs=1e-5)
    assert Stat({1: 0.3}).std is None


def _intrinsic_grid(model, data_dir, folder, methods, intrinsic, **options):
    """A one-module gender grid on a tiny corpus with the given intrinsic section."""
    corpus = folder / "corpus.txt"
    corpus.write_text("he said she was right.\nthe man and the woman met his sister.\n" * 10)
    return from_dict(
        {
            "name": "intrinsic",
            "model": str(model),
            "data_dir": str(data_dir),
            "upstream": {
                "methods": methods,
                "modules": [{"axis": "gender", "corpus": str(corpus)}],
                "options": {"max_steps": 1, "eval_steps": 1, "batch_size": 4, "max_length": 16,
                            **options},
            },
            "intrinsic": intrinsic,
        }
    )  # fmt: skip


def test_intrinsic_cells_base_module_and_full_debias_make_table1(tiny_bert, data_dir, tmp_path):
    """On a model shipped with an MLM head: the head-only cell is skipped (it would repeat the
    base row)."""
    config = _intrinsic_grid(
        tiny_bert, data_dir, tmp_path, ["lora", "full"],
        {"benchmarks": ["crows", "stereoset", "seat"],
         "options": {"seat_samples": 200, "seat_tests": ["sent-weat6", "sent-weat7"]}},
    )  # fmt: skip
    out = tmp_path / "run"
    assert run_experiment(config, out).ok
    full = json.loads((out / "intrinsic/full-gender-corpus-s42/intrinsic.json").read_text())
    assert full["full_debias"].endswith("upstream/full-gender-corpus-s42") and not full["debias"]
    lora = json.loads((out / "intrinsic/lora-gender-corpus-s42/intrinsic.json").read_text())
    assert lora["debias"].endswith("upstream/lora-gender-corpus-s42")
    gender = lora["bias_types"]["gender"]
    assert [t["test"] for t in gender["seat"]["tests"]] == ["sent-weat6", "sent-weat7"]
    assert main(["report", str(out)]) == 0
    rows = {(r["row"], r["metric"]): float(r["mean"])
            for r in csv.DictReader((out / "table1_intrinsic.csv").open())}  # fmt: skip
    assert set(rows) == {
        (row, f"gender {m}")
        for row in (f"{tiny_bert.name} (no module)", "LoRA", "Full-Debias")
        for m in ("SS LM", "SS", "CrowS", "SEAT ES")
    }
    assert rows[("LoRA", "gender CrowS")] == gender["crows"]["metric"]
    assert rows[("LoRA", "gender SS")] == gender["stereoset"]["by_domain"]["gender"]["ss"]
    assert rows[("LoRA", "gender SEAT ES")] == pytest.approx(
        statistics.fmean(abs(t["effect_size"]) for t in gender["seat"]["tests"])
    )
    table = (out / "report.md").read_text()
    assert "| model | gender SS LM | gender SS | gender CrowS | gender SEAT ES |" in table
    head = json.loads((out / "intrinsic/head-gender-corpus/intrinsic.json").read_text())
    assert head["head_from"] is None


def test_headless_model_gets_a_warmed_up_head_reference_row(data_dir, tmp_path):
    model = tmp_path / "headless"
    torch.manual_seed(0)
    AutoModel.from_config(tiny_config("bert")).save_pretrained(model)  # encoder only
    minilm_tokenizer().save_pretrained(model)
    config = _intrinsic_grid(
        model, data_dir, tmp_path, ["lora"], {"benchmarks": ["crows"]}, head_warmup_steps=2
    )
    out = tmp_path / "run"
    assert run_experiment(config, out).ok
    head = json.loads((out / "intrinsic/head-gender-corpus/intrinsic.json").read_text())
    assert head["head_from"].endswith("upstream/lora-gender-corpus-s42") and not head["debias"]
    assert head["bias_types"]["gender"]["mlm_head"] == {"trained": True}
    assert main(["report", str(out)]) == 0
    rows = [r["row"] for r in csv.DictReader((out / "table1_intrinsic.csv").open())]
    assert rows == ["headless (no module)", "headless (warmed-up head, no module)", "LoRA"]
    assert "| headless (no module) † |" in (out / "report.md").read_text()


def test_time_left_uses_the_median_of_finished_cells_of_the_same_kind_and_task():
    from peftdebias.experiments.cells import Cell
    from peftdebias.experiments.runner import time_left

    def cell(cid, kind, task=None):
        return Cell(cid, kind, {"task": task} if task else {})

    cells = [cell("upstream/a", "upstream"), cell("ghc/s1", "downstream", "ghc"),
             cell("ghc/s2", "downstream", "ghc"), cell("ghc/s3", "downstream", "ghc"),
             cell("gap/s1", "downstream", "gap")]  # fmt: skip
    records = {
        "upstream/a": {"status": "finished", "seconds": 600.0},
        "ghc/s1": {"status": "finished", "seconds": 60.0},
        "ghc/s2": {"status": "finished", "seconds": 180.0},
        "ghc/s3": {"status": "running"},
        "gap/s1": {"status": "pending"},
    }
    # ghc/s3 at the median of its task (120 s); gap has no finished cell yet
    assert time_left(cells, records, cells) == "about 2 min left + 1 cell(s) of kinds not yet timed"
    assert time_left(cells, records, cells[:4]) == "about 2 min left"
    cells.append(cell("gap/s0", "downstream", "gap"))
    records["gap/s0"] = {"status": "finished", "seconds": 3.5 * 3600}
    assert time_left(cells, records, cells) == "about 3.5 h left"  # 3.5 h + 2 min
    finished = {cid: {"status": "finished", "seconds": 1.0} for cid in records}
    assert time_left(cells, finished, cells) is None
