"""Committed results of a grid (``results`` / ``--results``): each finished cell's small files
are stored, a fresh run folder takes stored cells instead of running them (retraining only
the upstream cells whose weights a missing cell needs), and the report rebuilds from the store
alone. Also module variants (``modules[].methods`` / ``modules[].options``)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from peftdebias.cli import main
from peftdebias.errors import ConfigError, OutputExistsError
from peftdebias.experiments import from_dict, plan, run_cell, run_experiment
from peftdebias.experiments.collect import collect

UPSTREAM = "upstream/lora-toy-s1"
DOWN_FT = "downstream/toy-task/ft/s1"
DOWN_LORA = "downstream/toy-task/lora-toy-s1/s1"


def _data(folder: Path) -> dict:
    corpus = folder / "corpus.txt"
    corpus.write_text("the black man met the white woman.\nmuslims and jews live here.\n" * 10)
    task = folder / "toy-task.csv"
    with task.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "gender"])
        for i in range(120):
            gender = ("male", "female")[i % 2]
            pronoun = "he" if gender == "male" else "she"
            writer.writerow([f"{pronoun} is a nurse number {i}", int(i % 3 == 0), gender])
    return {"corpus": str(corpus), "task": str(task)}


def _config(tiny_bert: Path, data: dict, results: Path | None, steps: int = 2):
    return from_dict(
        {
            "name": "toy",
            "model": str(tiny_bert),
            "seeds": [1],
            "results": str(results) if results else None,
            "upstream": {
                "methods": ["lora"],
                "modules": [{"axis": "group", "corpus": data["corpus"], "name": "toy"}],
                "options": {"max_steps": steps, "eval_steps": 1, "batch_size": 4,
                            "max_length": 16, "learning_rate": 1e-2},
            },
            "downstream": {
                "tasks": [{"task": data["task"], "axis": "group", "fprd_axis": "gender",
                           "options": {"columns": {"attribute": "gender"}}}],
                "options": {"epochs": 1.0, "batch_size": 8, "max_length": 16,
                            "learning_rate": 1e-2, "bootstrap_resamples": 20},
            },
            "keep": {"models": False},
        }
    )  # fmt: skip


class Recorder:
    def __init__(self):
        self.ran: list[str] = []

    def __call__(self, cell, folder, root, config):
        self.ran.append(cell.id)
        return run_cell(cell, folder, root, config)


@pytest.fixture(scope="module")
def stored(tiny_bert, tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    data = _data(folder)
    store = folder / "committed"
    config = _config(tiny_bert, data, store)
    first = Recorder()
    result = run_experiment(config, folder / "run1", cell_runner=first)
    assert result.ok
    return folder, data, store, config, first


def test_finished_cells_are_stored_small_files_only(stored):
    folder, _, store, _, first = stored
    assert first.ran == [UPSTREAM, DOWN_FT, DOWN_LORA]
    manifest = json.loads((store / "manifest.json").read_text())
    assert sorted(manifest["cells"]) == sorted(first.ran)
    assert manifest["config"]["name"] == "toy"
    for cell in first.ran:
        record = json.loads((store / cell / "cell.json").read_text())
        assert record["id"] == cell
        assert record == json.loads((folder / "run1" / cell / "cell.json").read_text())
    assert (store / UPSTREAM / "debias.json").is_file()
    metrics = json.loads((store / DOWN_FT / "metrics.json").read_text())
    assert metrics["splits"]["test"]["metrics"]["classification"]["n"] > 0
    # never weights, checkpoints or prediction files
    names = {p.name for p in store.rglob("*") if p.is_file()}
    assert not any(n.endswith((".safetensors", ".bin", ".pt")) for n in names)
    assert not any(n.startswith("predictions-") for n in names)
    assert (folder / "run1" / DOWN_FT / "predictions-test.jsonl").is_file()


def test_fresh_run_folder_takes_every_stored_cell(stored):
    folder, _, store, config, _ = stored
    again = Recorder()
    result = run_experiment(config, folder / "fresh", cell_runner=again)
    assert again.ran == []
    assert result.ok
    assert all(c.get("from_results") for c in result.manifest["cells"].values())
    for cell in (UPSTREAM, DOWN_FT, DOWN_LORA):
        assert (folder / "fresh" / cell / "cell.json").read_bytes() == (
            store / cell / "cell.json"
        ).read_bytes()
    # the tables of the fresh folder, the first run and the store agree
    tables = [collect(p).extrinsic for p in (folder / "run1", folder / "fresh", store)]
    assert tables[0] == tables[1] == tables[2]
    assert tables[0]["toy-task"]["FT"]["task"].values


def test_missing_downstream_cell_retrains_the_upstream_weights_it_needs(stored):
    folder, _, store, config, _ = stored
    partial = folder / "partial-store"
    shutil.copytree(store, partial)
    shutil.rmtree(partial / DOWN_LORA)
    kept = (partial / UPSTREAM / "cell.json").read_bytes()
    again = Recorder()
    result = run_experiment(config, folder / "fresh2", cell_runner=again, results=partial)
    assert result.ok
    assert again.ran == [UPSTREAM, DOWN_LORA]  # FT came from the store
    assert (partial / UPSTREAM / "cell.json").read_bytes() == kept  # stored record kept
    assert (partial / DOWN_LORA / "metrics.json").is_file()
    manifest = json.loads((partial / "manifest.json").read_text())
    assert sorted(manifest["cells"]) == sorted([UPSTREAM, DOWN_FT, DOWN_LORA])


def test_report_rebuilds_from_the_store(stored, tmp_path, capsys):
    _, _, store, _, _ = stored
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    assert main(["report", str(copy)]) == 0
    report = (copy / "report.md").read_text()
    assert "toy-task" in report and "| FT" in report and "| LoRA" in report
    rows = list(csv.DictReader((copy / "table2_extrinsic.csv").open()))
    assert {r["row"] for r in rows} >= {"FT", "LoRA"}


def test_stored_cell_of_other_parameters_is_refused(stored, tiny_bert, tmp_path):
    _, data, store, _, _ = stored
    changed = _config(tiny_bert, data, store, steps=3)
    with pytest.raises(OutputExistsError, match="other parameters"):
        run_experiment(changed, tmp_path / "run", cell_runner=Recorder())


def test_results_path_in_a_config_file_is_relative_to_the_file(tmp_path, data_dir):
    from peftdebias.experiments import load_config

    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "grid.yaml"
    path.write_text(
        "name: g\nresults: ../results/g\ndownstream:\n  tasks: [{task: ghc, axis: group}]\n"
    )
    config = load_config(path, {"data_dir": str(data_dir)})
    assert Path(config.results) == tmp_path / "configs" / ".." / "results" / "g"
    config = load_config(path, {"data_dir": str(data_dir), "results": "elsewhere"})
    assert config.results == "elsewhere"


def test_module_variants_have_their_own_methods_and_options(tiny_bert, tmp_path):
    data = _data(tmp_path)
    base = {
        "name": "v",
        "model": str(tiny_bert),
        "upstream": {
            "methods": ["lora", "adapter"],
            "modules": [
                {"axis": "group", "corpus": data["corpus"], "name": "toy"},
                {"axis": "group", "corpus": data["corpus"], "name": "toy-cons",
                 "methods": ["lora"], "options": {"objective": "mlm+consistency"}},
            ],
            "options": {"max_steps": 5},
        },
    }  # fmt: skip
    cells = {c.id: c for c in plan(from_dict(base))}
    assert set(cells) == {
        "upstream/lora-toy-s42", "upstream/adapter-toy-s42", "upstream/lora-toy-cons-s42"
    }  # fmt: skip
    assert cells["upstream/lora-toy-cons-s42"].params["options"] == {
        "max_steps": 5, "objective": "mlm+consistency"
    }  # fmt: skip
    assert "objective" not in cells["upstream/lora-toy-s42"].params["options"]
    bad = json.loads(json.dumps(base))
    bad["upstream"]["modules"][1]["methods"] = ["lroa"]
    with pytest.raises(ConfigError, match=r"modules\[1\]\.methods\[0\].*lroa"):
        from_dict(bad)
    bad["upstream"]["modules"][1]["methods"] = ["lora"]
    bad["upstream"]["modules"][1]["options"] = {"max_stepz": 1}
    with pytest.raises(ConfigError, match=r"modules\[1\]\.options.*max_stepz"):
        from_dict(bad)


def test_task_seeds_override_the_experiment_seeds_seed_major_order(tmp_path, data_dir):
    config = from_dict(
        {
            "name": "s",
            "data_dir": str(data_dir),
            "seeds": [42, 43, 44],
            "downstream": {
                "baselines": ["ft", "clp"],
                "tasks": [
                    {"task": "ghc", "axis": "group", "seeds": [42, 43, 44, 45, 46]},
                    {"task": "stormfront", "axis": "group"},
                ],
            },
        }
    )
    ids = [c.id for c in plan(config)]
    assert len(ids) == 2 * 5 + 2 * 3
    seeds = [int(i.rsplit("/s", 1)[1]) for i in ids]
    assert seeds == sorted(seeds)  # every row at seed 42 first, then 43, ...
    assert "downstream/stormfront/ft/s45" not in ids and "downstream/ghc/clp/s46" in ids
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.seeds"):
        from_dict(
            {
                "name": "s",
                "data_dir": str(data_dir),
                "downstream": {"tasks": [{"task": "ghc", "axis": "group", "seeds": []}]},
            }
        )


def test_module_order_keeps_each_module_with_its_cells(tiny_bert, tmp_path):
    data = _data(tmp_path)
    base = {
        "name": "o",
        "model": str(tiny_bert),
        "seeds": [1, 2],
        "upstream": {
            "methods": ["lora", "adapter"],
            "modules": [{"axis": "group", "corpus": data["corpus"], "name": "toy"}],
        },
        "downstream": {
            "baselines": ["ft", "clp"],
            "tasks": [{"task": data["task"], "axis": "group", "fprd_axis": "gender",
                       "options": {"columns": {"attribute": "gender"}}}],
        },
        "intrinsic": {"benchmarks": ["crows"], "bias_types": {"group": "race"}},
    }  # fmt: skip
    seed_order = plan(from_dict(base))
    ids = [c.id for c in plan(from_dict({**base, "order": "module"}))]
    assert sorted(ids) == sorted(c.id for c in seed_order)  # the same cells, reordered
    assert ids[:3] == ["intrinsic/base", "downstream/toy-task/ft/s1", "downstream/toy-task/ft/s2"]
    lora = ids.index("upstream/lora-toy-s1")
    assert ids[lora : lora + 5] == [
        "upstream/lora-toy-s1", "intrinsic/head-toy", "intrinsic/lora-toy-s1",
        "downstream/toy-task/lora-toy-s1/s1", "downstream/toy-task/lora-toy-s1/s2",
    ]  # fmt: skip
    assert ids[-2:] == ["downstream/toy-task/clp/s1", "downstream/toy-task/clp/s2"]
    for i, cell_id in enumerate(ids):  # every cell after the cells it needs
        cell = next(c for c in seed_order if c.id == cell_id)
        assert all(ids.index(need) < i for need in cell.needs)
    with pytest.raises(ConfigError, match="order"):
        from_dict({**base, "order": "random"})
