"""Composing debiasing modules (issue 16): several frozen modules on one model, the
combinations that are refused, the joint-axis upstream corpus, and several modules for the
intrinsic masked LM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from peft import get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForMaskedLM

from peftdebias.cda import MultiAxisAugmenter, axis_augmenter, load_axes
from peftdebias.cli import main
from peftdebias.downstream import (
    DownstreamConfig,
    load_classifier,
    predict,
    save_classifier,
    train_downstream,
)
from peftdebias.errors import ConfigError
from peftdebias.methods import get_method, module_parameters, module_weights_path, set_trainable
from peftdebias.methods.compose import composed_modules, load_modules
from peftdebias.models import load_sequence_classifier
from peftdebias.testing import save_tiny_model
from peftdebias.upstream import (
    UpstreamConfig,
    build_corpus,
    load_debiased_lm,
    train_upstream,
)

CORPUS = (
    "he said the black man was right.\nshe met the white woman there.\n"
    "the asian doctor and his wife.\nmuslims and jews live here.\n"
)
BATCH = {
    "input_ids": torch.tensor([[101, 2002, 2001, 1037, 2304, 2158, 102], [101] + [2016] * 6]),
    "attention_mask": torch.ones(2, 7, dtype=torch.long),
}


def _upstream(model: Path, out: Path, axis: str, method: str = "lora") -> Path:
    corpus = out.parent / f"{out.name}.txt"
    corpus.write_text(CORPUS * 10)
    train_upstream(
        UpstreamConfig(axis=axis, corpus=str(corpus), method=method, output=str(out),
                       model=str(model), max_steps=2, eval_steps=1, batch_size=4,
                       max_length=16, learning_rate=1e-2)
    )  # fmt: skip
    return out


def _saved(model: Path, out: Path, method: str, axis: str, seed: int = 0) -> Path:
    """A module of ``method`` with random (non-identity) weights, saved as upstream would."""
    torch.manual_seed(seed)
    chosen = get_method(method)
    lm = chosen.attach(AutoModelForMaskedLM.from_pretrained(model))
    with torch.no_grad():
        for param in module_parameters(lm).values():
            param.add_(0.2 * torch.randn_like(param))
    chosen.save(lm, out)
    (out / "debias.json").write_text(json.dumps({"axis": axis, "axes": [axis]}))
    return out


@pytest.fixture(scope="module")
def lora_pair(tiny_bert, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lora-pair")
    return _upstream(tiny_bert, root / "gender", "gender"), _upstream(
        tiny_bert, root / "race", "race"
    )


def _classifier(model: Path, folders: list[Path]):
    torch.manual_seed(0)  # the same head for every composition
    classifier = load_sequence_classifier(str(model), num_labels=2)
    return load_modules(classifier, folders) if folders else classifier


def _logits(model) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**BATCH).logits


def test_two_lora_modules_stack_frozen(tiny_bert, lora_pair):
    gender, race = lora_pair
    plain = _classifier(tiny_bert, [])
    both = set_trainable(
        _classifier(tiny_bert, [gender, race]), module=False, backbone=True, head=True
    )
    record = composed_modules(both)
    assert [m["axes"] for m in record] == [["gender"], ["race"]]
    assert all(m["parameters"] for m in record)
    assert not set(record[0]["parameters"]) & set(record[1]["parameters"])
    modules = module_parameters(both)
    assert set(modules) == {n for m in record for n in m["parameters"]}
    assert not any(p.requires_grad for p in modules.values())
    sizes = [
        sum(t.numel() for t in load_file(str(module_weights_path(f))).values()) for f in lora_pair
    ]
    assert sum(p.numel() for p in modules.values()) == sum(sizes)
    # the backbone is the plain model's, bit for bit; the modules are the upstream ones
    plain_params = dict(plain.named_parameters())
    rest = {n: p for n, p in both.named_parameters() if n not in modules}
    assert len(rest) == len(plain_params)
    for name, param in rest.items():
        key = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
        assert param.requires_grad and torch.equal(param, plain_params[key]), name
    for adapter, folder in zip(("default", "module1"), lora_pair, strict=True):
        saved = load_file(str(module_weights_path(folder)))
        state = get_peft_model_state_dict(both, adapter_name=adapter)
        assert set(state) == set(saved) and all(torch.equal(state[k], saved[k]) for k in saved)
    # both deltas are active: the logits differ from either module alone and from none
    composed = _logits(both)
    for alone in ([], [gender], [race]):
        assert not torch.allclose(composed, _logits(_classifier(tiny_bert, alone)), atol=1e-6)


def test_composed_lora_downstream_stays_frozen_and_reloads(tiny_bert, lora_pair, tmp_path):
    table = tmp_path / "task.csv"
    words = ["he", "she", "black", "white", "asian", "muslim"]
    table.write_text("text,label\n" + "".join(
        f"{words[i % 6]} person number {i} is {'good' if i % 2 else 'bad'},{i % 2}\n"
        for i in range(60)
    ))  # fmt: skip
    out = tmp_path / "down"
    result = train_downstream(
        DownstreamConfig(task=str(table), output=str(out), model=str(tiny_bert),
                         debias=[str(f) for f in lora_pair], max_train_examples=40,
                         batch_size=8, max_length=16, epochs=1, bootstrap_resamples=0)
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["debias"] == [str(f) for f in lora_pair]
    modules = metrics["modules"]
    assert [m["folder"] for m in modules] == [str(f) for f in lora_pair]
    assert [m["method"] for m in modules] == ["lora", "lora"] and all(
        m["checksum"] for m in modules
    )
    assert metrics["module_frozen_checksum"] and result.metrics["modules"] == modules
    manifest = json.loads((out / "model" / "downstream.json").read_text())
    assert manifest["modules"] == ["modules/0", "modules/1"]
    # the reloaded classifier reproduces the predictions; its modules are the upstream ones
    model, tokenizer = load_classifier(out / "model")
    rows = [json.loads(line) for line in (out / "predictions-test.jsonl").read_text().splitlines()]
    probs = predict(model, tokenizer, Dataset.from_dict({"text": [r["text"] for r in rows]}), 16)
    assert abs(probs - torch.tensor([r["probs"] for r in rows]).numpy()).max() < 1e-5
    for adapter, folder in zip(("default", "module1"), lora_pair, strict=True):
        saved = load_file(str(module_weights_path(folder)))
        state = get_peft_model_state_dict(model, adapter_name=adapter)
        assert all(torch.equal(state[k], saved[k]) for k in saved)


COMBINATIONS = [
    ("dora", "dora"), ("ia3", "ia3"), ("miss", "miss"), ("hra", "hra"), ("oft", "oft"),
    ("vera", "vera"), ("adapter", "adapter"), ("ether", "adapter", "lora", "lora"),
]  # fmt: skip


@pytest.mark.parametrize("methods", COMBINATIONS, ids="+".join)
def test_stackable_combinations(methods, tiny_bert, tmp_path):
    axes = ["gender", "race", "religion", "group"]
    folders = [
        _saved(tiny_bert, tmp_path / f"{i}-{method}", method, axes[i], seed=i)
        for i, method in enumerate(methods)
    ]
    composed = _classifier(tiny_bert, folders)
    record = composed_modules(composed)
    assert len(record) == len(methods) and all(m["parameters"] for m in record)
    assert not any(p.requires_grad for p in module_parameters(composed).values())
    logits = _logits(composed)
    for folder in folders:
        assert not torch.allclose(logits, _logits(_classifier(tiny_bert, [folder])), atol=1e-6)
    # save_classifier / load_classifier rebuild the same composition, logits bit-identical
    config = DownstreamConfig(task="t", output="o", model=str(tiny_bert), debias=folders)
    save_classifier(composed, tmp_path / "model", config, num_labels=2)
    reloaded, _ = load_classifier(tmp_path / "model")
    assert torch.equal(_logits(reloaded), logits)
    if methods == ("adapter", "adapter"):  # in sequence: the order counts
        assert not torch.allclose(_logits(_classifier(tiny_bert, folders[::-1])), logits)


def _cli_error(argv: list[str], capsys) -> str:
    capsys.readouterr()  # what building the inputs printed
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"peftdebias {argv[0]}: error: ")
    return lines[0]


REFUSED = {
    "another base model": (("lora", "gender", "other"), ("lora", "race", None)),
    "the same axis twice": (("lora", "gender", None), ("lora", "gender", None)),
    "two prompt modules": (("prompt", "gender", None), ("prompt", "race", None)),
    "full with lora": (("full", "gender", None), ("lora", "race", None)),
    "lora with ia3": (("lora", "gender", None), ("ia3", "race", None)),
    "two re-parametrisations": (("ether", "gender", None), ("bora", "race", None)),
    "sft with lora": (("sft", "gender", None), ("lora", "race", None)),
}
NEEDLES = {
    "another base model": "different base models",
    "the same axis twice": "axis 'gender' twice",
    "two prompt modules": "'prompt' module",
    "full with lora": "'full' module",
    "lora with ia3": "ia3 and lora cannot be stacked",
    "two re-parametrisations": "two weight re-parametrisations",
    "sft with lora": "'sft' module",
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_compositions_are_one_line(kind, tiny_bert, tmp_path, capsys):
    folders = []
    for i, (method, axis, base) in enumerate(REFUSED[kind]):
        model = save_tiny_model(tmp_path / "other", seed=1) if base else tiny_bert
        out = tmp_path / f"m{i}"
        if method == "sft":  # needs a calibration: a module folder whose module.json says sft
            _saved(tiny_bert, out, "lora", axis)
            record = json.loads((out / "module.json").read_text())
            (out / "module.json").write_text(json.dumps({**record, "method": "sft", "config": {}}))
        else:
            _saved(model, out, method, axis)
        folders.append(str(out))
    argv = ["downstream", "--model", str(tiny_bert), "--task", "ghc", "--output",
            str(tmp_path / "down"), "--debias", folders[0], "--debias", folders[1]]  # fmt: skip
    line = _cli_error(argv, capsys)
    assert "--debias" in line and folders[0] in line and folders[1] in line
    assert NEEDLES[kind] in line, line
    assert not (tmp_path / "down").exists()
    with pytest.raises(ConfigError, match="--debias"):
        load_modules(load_sequence_classifier(str(tiny_bert)), folders)


def test_intrinsic_refuses_the_same_axis_twice(tiny_bert, lora_pair, tmp_path, capsys):
    gender = str(lora_pair[0])
    argv = ["intrinsic", "--model", str(tiny_bert), "--debias", gender, "--debias", gender,
            "--output", str(tmp_path / "i")]  # fmt: skip
    line = _cli_error(argv, capsys)
    assert "--debias" in line and "the same module folder is given twice" in line, line


# --- one module on several axes ---------------------------------------------------------------


def test_joint_axis_corpus_has_counterfactuals_of_both_axes():
    augmenter = axis_augmenter(load_axes("gender,race"))
    assert isinstance(augmenter, MultiAxisAugmenter) and augmenter.axis == "gender,race"
    text = "He said the black man was right."
    assert augmenter.counterfactuals(text) == [
        "She said the black woman was right.",  # gender (a pair: one)
        "He said the white man was right.",  # race (triples: two), axes not crossed
        "He said the asian man was right.",
    ]
    texts = [text, "she is here.", "the white house.", "nothing to swap."]
    rows, matched = build_corpus(texts, augmenter, keep_original=True)
    produced = [row["text"] for row in rows]
    assert matched == 3 and len(rows) == 4 + 2 + 3 + 1
    assert "he is here." in produced and "the black house." in produced
    assert "the asian house." in produced and "nothing to swap." in produced


def test_joint_axis_upstream_records_both_axes(tiny_bert, lora_pair, tmp_path):
    out = _upstream(tiny_bert, tmp_path / "joint", "gender,race")
    meta = json.loads((out / "debias.json").read_text())
    assert meta["axis"] == "gender,race" and meta["axes"] == ["gender", "race"]
    single = [json.loads((folder / "debias.json").read_text()) for folder in lora_pair]
    assert [s["axes"] for s in single] == [["gender"], ["race"]]
    rows = meta["corpus"]["training_rows_after_cda"]
    assert rows > max(s["corpus"]["training_rows_after_cda"] for s in single)
    assert meta["word_list_hash"] not in {s["word_list_hash"] for s in single}
    # a joint gender,race module and a race module: race twice
    with pytest.raises(ConfigError, match="axis 'race' twice"):
        load_modules(load_sequence_classifier(str(tiny_bert)), [out, lora_pair[1]])


@pytest.mark.parametrize(
    ("axis", "needle"),
    [("gender,nope", "unknown CDA axis 'nope'"), ("gender,race,gender", "'gender' is given twice")],
)
def test_bad_joint_axis_is_one_line(axis, needle, tiny_bert, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    argv = ["upstream", "--model", str(tiny_bert), "--axis", axis, "--corpus", str(corpus),
            "--method", "lora", "--output", str(tmp_path / "up")]  # fmt: skip
    line = _cli_error(argv, capsys)
    assert f"--axis '{axis}'" in line and needle in line, line
    assert not (tmp_path / "up").exists()


# --- intrinsic: several modules on the masked LM ----------------------------------------------


def test_masked_lm_with_composed_modules(tiny_bert, lora_pair, tmp_path):
    both, _, missing = load_debiased_lm(str(tiny_bert), debias=list(lora_pair))
    assert len(composed_modules(both)) == 2 and missing == []
    one, _, _ = load_debiased_lm(str(tiny_bert), debias=lora_pair[0])
    with torch.no_grad():
        assert not torch.allclose(both(**BATCH).logits, one(**BATCH).logits, atol=1e-6)
    heads = []
    for folder in lora_pair:  # modules that each warmed up their own MLM head
        copy = tmp_path / folder.name
        copy.mkdir()
        for item in folder.iterdir():
            if item.is_file():
                (copy / item.name).write_bytes(item.read_bytes())
        (copy / "mlm_head.safetensors").write_bytes(b"")
        heads.append(copy)
    with pytest.raises(ConfigError, match="own warmed-up MLM head"):
        load_debiased_lm(str(tiny_bert), debias=heads)
