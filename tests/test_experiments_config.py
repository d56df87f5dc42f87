"""Experiment configs: strict schema, validation before any training, cell planning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from peftdebias.cli import main
from peftdebias.errors import ConfigError
from peftdebias.experiments import from_dict, load_config, plan
from peftdebias.methods import METHODS

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "name": "t",
    "seeds": [1, 2],
    "upstream": {
        "methods": ["lora", "full"],
        "modules": [{"axis": "group", "corpus": "ghc"}, {"axis": "gender", "corpus": "gap",
                                                          "corpus_split": "test"}],
    },
    "downstream": {
        "tasks": [
            {"task": "ghc", "axis": "group"},
            {"task": "stormfront", "axis": "group"},
            {"task": "gap", "axis": "gender"},
        ]
    },
    "intrinsic": {"benchmarks": ["crows"]},
}  # fmt: skip


def _with(path: str, value) -> dict:
    """BASE with the value at dotted ``path`` (list items as ``key[i]``) replaced."""
    import copy
    import re

    data = copy.deepcopy(BASE)
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        node = node[match[1]][int(match[2])] if match else node.setdefault(part, {})
    last = parts[-1]
    match = re.fullmatch(r"(\w+)\[(\d+)\]", last)
    if match:
        node[match[1]][int(match[2])] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("colour", 1, "unknown key 'colour'; valid keys: name, model, data_dir, seeds"),
        ("upstream.steps", 5, "unknown key 'upstream.steps'; valid keys: methods, modules"),
        ("upstream.methods[1]", "lorra", "upstream.methods[1]: unknown method 'lorra'; valid: "
         + ", ".join(METHODS)),
        ("upstream.modules[0].axis", "height", "upstream.modules[0].axis: unknown axis 'height'; "
         "valid: gender, race, religion, group"),
        ("upstream.modules[0].corpus", "nope", "upstream.modules[0].corpus: unknown corpus 'nope'"),
        ("upstream.modules[1].corpus_split", "train", "upstream.modules[1].corpus_split: unknown "
         "split of gap 'train'; valid: dev, test, validation"),
        ("upstream.preset", "slow", "upstream.preset: unknown preset 'slow'; valid: paper, quick"),
        ("upstream.options", {"max_step": 3}, "unknown key 'upstream.options.max_step'"),
        ("upstream.options", {"output": "x"}, "unknown key 'upstream.options.output'"),
        ("upstream.options", {"max_steps": "many"}, "upstream.options.max_steps: expected an "
         "integer, got 'many'"),
        ("upstream.method_options", {"lora": {"rank": 4}}, "upstream.method_options.lora: "
         "unknown option(s) rank for method 'lora'; valid options: alpha"),
        ("downstream.tasks[1].task", "sst2", "downstream.tasks[1].task: unknown task 'sst2'; "
         "valid: bias-in-bios, ghc"),
        ("downstream.tasks[2].axis", "age", "downstream.tasks[2].axis: unknown axis 'age'"),
        ("downstream.tasks[0].options", {"epoch": 1}, "unknown key "
         "'downstream.tasks[0].options.epoch'"),
        ("downstream.baselines", ["ft", "random"], "downstream.baselines[1]: unknown baseline "
         "'random'; valid: ft"),
        ("intrinsic.benchmarks", ["crows", "winobias"], "intrinsic.benchmarks[1]: unknown "
         "benchmark 'winobias'; valid: crows, stereoset, seat"),
        ("intrinsic.bias_types", {"group": "height"}, "intrinsic.bias_types.group: --bias-type: "
         "unknown bias type 'height'"),
        ("seeds", "42", "seeds: expected a list of an integer, got '42'"),
        ("seeds", [], "seeds: give at least one seed"),
        ("keep", {"everything": True}, "unknown key 'keep.everything'; valid keys: checkpoints"),
    ],
)  # fmt: skip
def test_bad_config_names_key_and_valid_values(path, value, expected):
    with pytest.raises(ConfigError) as info:
        from_dict(_with(path, value))
    assert expected in str(info.value)


def test_missing_required_key():
    data = _with("upstream", {"methods": ["lora"]})
    with pytest.raises(ConfigError, match=r"missing required key 'upstream\.modules'"):
        from_dict(data)


def test_shipped_configs_are_valid_and_plan_the_paper_grid():
    offline = load_config(REPO / "configs" / "offline-cpu.yaml")
    cells = plan(offline)
    kinds = [c.kind for c in cells]
    # 6 methods x 2 modules x 1 upstream seed; 4 tasks x 3 seeds x (FT + 6 same-axis modules);
    # intrinsic: base, base + warmed-up head per module group, each module
    assert (kinds.count("upstream"), kinds.count("downstream"), kinds.count("intrinsic")) == (
        12, 4 * 3 * 7, 1 + 2 + 12,
    )  # fmt: skip
    assert len({c.id for c in cells}) == len(cells)
    paper = load_config(REPO / "configs" / "paper.yaml")
    assert paper.model == "bert-base-uncased"
    assert paper.upstream.preset == paper.downstream.preset == "paper"
    assert sorted(paper.upstream.methods) == sorted(offline.upstream.methods)


def test_neighbourhood_config_plans_method_names_with_a_plus():
    """ETHER+ cells: '+' is allowed inside a folder name, not at its start."""
    cells = plan(load_config(REPO / "configs" / "neighbourhood.yaml"))
    ids = {c.id for c in cells}
    assert {"upstream/ether+-race-ghc-s42", "downstream/gap/ether+-gender-gap-s42/s44"} <= ids
    # 8 methods x 2 axes; base, its warmed-up head per axis, each module; 2 tasks x 3 seeds x 9
    assert len(ids) == len(cells) == 16 + 19 + 2 * 3 * 9
    with pytest.raises(ConfigError, match=r"upstream\.modules\[0\]\.name: '\+x' cannot be used"):
        from_dict(_with("upstream.modules[0].name", "+x"))


def test_plan_ids_dependencies_roles_and_module_seeds():
    config = from_dict(_with("upstream.seeds", [2]))
    cells = {c.id: c for c in plan(config)}
    assert "upstream/lora-group-ghc-s2" in cells and "upstream/full-gender-gap-s2" in cells
    # downstream seed 1 has no module of its own seed: it uses the first upstream seed's
    ghc = cells["downstream/ghc/lora-group-ghc-s2/s1"]
    assert ghc.needs == ("upstream/lora-group-ghc-s2",)
    assert ghc.params["role"] == "in-domain" and ghc.params["start"] == "debias"
    storm = cells["downstream/stormfront/full-group-ghc-s2/s2"]
    assert storm.params["role"] == "transfer" and storm.params["start"] == "full_debias"
    assert cells["downstream/ghc/ft/s1"].needs == ()
    # gender modules are not applied to group tasks
    assert not any(i.startswith("downstream/ghc/lora-gender") for i in cells)
    assert cells["intrinsic/base"].params["bias_types"] == ["gender", "race"]
    assert cells["intrinsic/lora-group-ghc-s2"].params["bias_types"] == ["race"]
    # ids and hashes are deterministic
    again = {c.id: c.params_hash for c in plan(from_dict(_with("upstream.seeds", [2])))}
    assert again == {i: c.params_hash for i, c in cells.items()}


def test_run_with_bad_config_fails_before_training(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(_with("upstream.methods", ["lora", "lorra"])))
    out = tmp_path / "run"
    assert main(["run", str(config), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "upstream.methods[1]: unknown method 'lorra'; valid: adapter, prompt" in err
    assert str(config) in err
    assert not out.exists()


def test_dry_run_lists_cells(tmp_path, capsys):
    config = tmp_path / "ok.yaml"
    config.write_text(yaml.safe_dump(BASE))
    assert main(["run", str(config), "--output", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "upstream/lora-group-ghc-s1" in out and "intrinsic/base" in out
    assert not (tmp_path / "o").exists()


def test_unreadable_yaml(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(config)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
