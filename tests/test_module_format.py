"""Module folders (format peftdebias-module/2) and the method registry.

peft methods save a peft adapter (identical to ``PeftModel.save_pretrained``'s files) that
``PeftModel.from_pretrained`` opens with the same logits as peftdebias's loader, the upstream
phase's LoRA artefact included; folders of the first format still load; a method registers
itself with its metadata.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

from peftdebias.errors import ConfigError
from peftdebias.methods import (
    METHOD_DISPLAY_NAMES,
    METHOD_HELP,
    METHODS,
    check_base_model,
    get_method,
    load_module,
    method_display_name,
    method_of,
    module_parameters,
    module_weights_path,
    register_method,
)
from peftdebias.methods import base as base_module
from peftdebias.methods.base import (
    MODULE_WEIGHTS,
    PEFT_CONFIG,
    PEFT_WEIGHTS,
    DebiasMethod,
    MethodConfig,
    ModulePart,
    backbone,
    registered_methods,
)
from peftdebias.methods.lightpeft import unprune
from peftdebias.methods.peft_methods import PeftMethod
from peftdebias.testing import save_tiny_model
from test_methods import TINY_FIXTURES, _batch, _logits, _mlm_train

PEFT_NAMES = [n for n, c in registered_methods().items() if issubclass(c, PeftMethod)]
# every peft method but lightpeft (calibrated; its tensors are saved at the unpruned shapes)
PLAIN_PEFT = [n for n in PEFT_NAMES if not registered_methods()[n].requires_calibration]


@pytest.fixture(params=["bert", "roberta"])
def tiny(request) -> Path:
    return request.getfixturevalue(TINY_FIXTURES[request.param])


def _trained(name: str, tiny: Path, **options):
    """(method, model) with a module attached and trained a few steps."""
    torch.manual_seed(0)
    method = get_method(name, **options)
    model = AutoModelForMaskedLM.from_pretrained(tiny)
    train = _mlm_train(method)
    method.calibrate(model, train)
    model = method.attach(model)
    train(model)
    return method, model


def _same_tensors(a: Path, b: Path) -> bool:
    left, right = load_file(str(a)), load_file(str(b))
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def _unordered_sets(config: dict) -> dict:
    """peft writes set-valued fields (IA3's default ``target_modules``) in set order, which
    differs between two copies of one config: compare them as sets."""
    return {key: sorted(value) if key in SET_FIELDS and isinstance(value, list) else value
            for key, value in config.items()}  # fmt: skip


SET_FIELDS = ("target_modules", "feedforward_modules")


@pytest.mark.parametrize("name", PLAIN_PEFT)
def test_peft_artefact_is_peft_save_pretrained(name, tiny_bert, tmp_path):
    """The files equal PeftModel.save_pretrained's (config, tensors, safetensors metadata);
    PeftModel.from_pretrained opens the folder with the loader's logits."""
    method, model = _trained(name, tiny_bert)
    folder = method.save(model, tmp_path / "module")
    model.save_pretrained(tmp_path / "peft")
    assert {p.name for p in folder.iterdir()} == {"module.json", PEFT_CONFIG, PEFT_WEIGHTS}
    assert module_weights_path(folder) == folder / PEFT_WEIGHTS
    ours, peft = (json.loads((f / PEFT_CONFIG).read_text()) for f in (folder, tmp_path / "peft"))
    assert _unordered_sets(ours) == _unordered_sets(peft)
    assert _same_tensors(folder / PEFT_WEIGHTS, tmp_path / "peft" / PEFT_WEIGHTS)
    with safe_open(str(folder / PEFT_WEIGHTS), "pt") as handle:
        assert handle.metadata() == {"format": "pt"}
    record = json.loads((folder / "module.json").read_text())
    assert "backend" not in record  # the peft config is stored once, in adapter_config.json

    loaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)
    opened = PeftModel.from_pretrained(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)
    assert torch.equal(_logits(opened, method), _logits(loaded, method))
    assert torch.equal(_logits(loaded, method), _logits(model, method))


def test_lightpeft_opens_with_peft_as_the_unpruned_model(tiny_bert, tmp_path):
    """peft knows nothing of the pruning: it opens the whole model with the rank-pruned LoRA,
    which :func:`~peftdebias.methods.lightpeft.unprune` gives too."""
    method, model = _trained("lightpeft", tiny_bert, estimation_steps=2)
    folder = method.save(model, tmp_path / "module")
    whole = unprune(load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder))
    opened = PeftModel.from_pretrained(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)
    assert torch.allclose(_logits(opened), _logits(whole), atol=1e-6)
    assert not torch.allclose(_logits(opened), _logits(model), atol=1e-4)


def test_upstream_lora_opens_with_peft(tiny, tmp_path):
    """``peftdebias upstream --method lora``'s folder is a peft adapter: PeftModel opens it
    into a masked LM and into a classifier with the same logits as load_module."""
    from peftdebias.upstream import train_upstream
    from test_upstream import SENTENCES, _config

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 6) + "\n")
    out = train_upstream(_config(tiny, corpus, tmp_path / "out", "lora")).output
    names = {p.name for p in out.iterdir()}
    assert {"debias.json", "module.json", PEFT_CONFIG, PEFT_WEIGHTS} <= names
    assert MODULE_WEIGHTS not in names
    record = json.loads((out / "module.json").read_text())
    assert record["format"] == "peftdebias-module/2" and record["method"] == "lora"

    for auto in (AutoModelForMaskedLM, AutoModelForSequenceClassification):
        torch.manual_seed(0)
        head = auto.from_pretrained(tiny)
        expected = _logits(load_module(head, out))
        torch.manual_seed(0)  # the same classifier initialisation
        opened = PeftModel.from_pretrained(auto.from_pretrained(tiny), out)
        assert torch.equal(_logits(opened), expected), auto.__name__
    base = _logits(AutoModelForMaskedLM.from_pretrained(tiny))
    assert not torch.allclose(
        _logits(load_module(AutoModelForMaskedLM.from_pretrained(tiny), out)), base
    )


def _to_format_1(method: DebiasMethod, folder: Path) -> None:
    """Rewrite a saved module as peftdebias wrote it before format 2 (peftdebias-module/1):
    ``module.safetensors`` for every method but ``full``, the peft config (as in training)
    inside ``module.json`` under ``backend.peft_config``, ``backend`` always present."""
    record = json.loads((folder / "module.json").read_text())
    backend = record.pop("backend", {})
    if isinstance(method, PeftMethod):
        peft_config = json.loads((folder / PEFT_CONFIG).read_text())
        peft_config.update(auto_mapping=None, inference_mode=False)
        backend = {"peft_config": peft_config, **backend}
        (folder / PEFT_CONFIG).unlink()
        (folder / PEFT_WEIGHTS).rename(folder / MODULE_WEIGHTS)
    record = {**record, "format": "peftdebias-module/1", "backend": backend}
    (folder / "module.json").write_text(json.dumps(record, indent=2))


@pytest.mark.parametrize("name", METHODS)
def test_format_1_folders_still_load(name, tiny, tmp_path):
    """A module folder of the first format loads with identical logits (the running grid's and
    users' folders); the base-model check still refuses another model; saving over it writes
    format 2 and leaves no file of the old one."""
    options = {"estimation_steps": 2} if name == "lightpeft" else {}
    method, model = _trained(name, tiny, **options)
    folder = method.save(model, tmp_path / "module")
    _to_format_1(method, folder)
    assert module_weights_path(folder).name == (
        "model.safetensors" if name == "full" else MODULE_WEIGHTS
    )
    assert method_of(folder).config == method.config
    loaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny), folder)
    assert torch.equal(_logits(loaded, method), _logits(model, method))
    if name == "lora":
        other = AutoModelForMaskedLM.from_pretrained(save_tiny_model(tmp_path / "other", seed=1))
        with pytest.raises(ConfigError, match="different base model"):
            check_base_model(other, folder)
    method_of(folder).save(loaded, folder, overwrite=True)
    assert json.loads((folder / "module.json").read_text())["format"] == "peftdebias-module/2"
    if isinstance(method, PeftMethod):
        assert not (folder / MODULE_WEIGHTS).exists() and (folder / PEFT_WEIGHTS).is_file()
    again = load_module(AutoModelForMaskedLM.from_pretrained(tiny), folder)
    assert torch.equal(_logits(again, method), _logits(model, method))


def test_format_1_peft_config_errors(tiny_bert, tmp_path):
    method, model = _trained("lora", tiny_bert)
    folder = method.save(model, tmp_path / "module")
    config = json.loads((folder / PEFT_CONFIG).read_text())

    def load():
        return load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)

    (folder / PEFT_CONFIG).write_text(json.dumps({**config, "peft_type": "IA3"}))
    with pytest.raises(ConfigError, match="holds a IA3 adapter, not the LORA"):
        load()
    (folder / PEFT_CONFIG).write_text("[]")
    with pytest.raises(ConfigError, match="not hold a JSON object"):
        load()
    (folder / PEFT_CONFIG).unlink()
    with pytest.raises(ConfigError, match=r"adapter_config\.json not found"):
        load()
    (folder / PEFT_CONFIG).write_text(json.dumps(config))
    _to_format_1(method, folder)
    record = json.loads((folder / "module.json").read_text())
    (folder / "module.json").write_text(json.dumps({**record, "backend": {}}))
    with pytest.raises(ConfigError, match=r"module\.json holds no valid peft config"):
        load()


# -- the registry -----------------------------------------------------------------------------


def test_registry_views_follow_the_classes():
    assert METHODS == (
        "adapter", "prompt", "prefix", "lora", "sft", "dora", "ia3", "miss", "hra", "oft",
        "vera", "ether", "ether+", "bora", "spectral", "gps", "spt", "lightpeft", "full",
    )  # fmt: skip
    classes = registered_methods()
    assert tuple(classes) == METHODS
    for name, cls in classes.items():
        assert cls.name == name and get_method(name).name == name
        assert METHOD_HELP[name] == cls.help and METHOD_DISPLAY_NAMES[name] == cls.display_name
    assert method_display_name("lora") == "LoRA"
    assert method_display_name("full") == "Full-Debias"
    assert method_display_name("lightpeft") == "Light-PEFT"
    with pytest.raises(ConfigError, match=r"unknown debiasing method 'ft'.*adapter.*full"):
        method_display_name("ft")


@dataclasses.dataclass
class _ShiftSettings(MethodConfig):
    scale: float = 1.0


class _Shift(ModulePart):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(size))


class ShiftMethod(DebiasMethod):
    """A method defined outside the package: a trainable vector added to the embeddings."""

    name = "shift"
    display_name = "Shift"
    help = "a vector added to the embeddings"
    order = 55
    config_class = _ShiftSettings

    def _attach(self, model):
        embeddings = backbone(model).embeddings
        embeddings.add_module("shift", _Shift(model.config.hidden_size))
        embeddings.register_forward_hook(lambda module, args, out: out + module.shift.shift)
        return model

    def _state_dict(self, model):
        return {"shift": backbone(model).embeddings.shift.shift}

    def _load(self, model, folder, record):
        model = self._attach(model)
        with torch.no_grad():
            backbone(model).embeddings.shift.shift.copy_(
                load_file(str(folder / MODULE_WEIGHTS))["shift"]
            )
        return model


def test_a_method_registers_itself(tiny_bert, tmp_path, monkeypatch):
    """One decorated class is a whole method: listed in order, found by name, its parameters
    found by type, saved and loaded through the shared machinery."""
    monkeypatch.setattr(base_module, "_REGISTRY", dict(base_module._REGISTRY))
    register_method(ShiftMethod)
    assert list(registered_methods()).index("shift") == METHODS.index("sft") + 1
    method = get_method("shift")
    model = method.attach(AutoModelForMaskedLM.from_pretrained(tiny_bert))
    assert list(module_parameters(model)) == ["bert.embeddings.shift.shift"]
    with torch.no_grad():
        backbone(model).embeddings.shift.shift.fill_(0.5)
    folder = method.save(model, tmp_path / "shift")
    assert module_weights_path(folder) == folder / MODULE_WEIGHTS
    loaded = load_module(AutoModelForMaskedLM.from_pretrained(tiny_bert), folder)
    assert torch.equal(_logits(loaded), _logits(model))


def test_register_method_refuses_incomplete_or_taken(monkeypatch):
    monkeypatch.setattr(base_module, "_REGISTRY", dict(base_module._REGISTRY))

    class Inherited(ShiftMethod):  # metadata of the class it extends
        pass

    class Taken(ShiftMethod):
        name = "lora"
        display_name = "x"
        help = "x"
        order = 1

    with pytest.raises(TypeError, match="set name, display_name, help, order"):
        register_method(Inherited)
    with pytest.raises(TypeError, match="'lora' is taken by LoraMethod"):
        register_method(Taken)

    class Abstract(DebiasMethod):  # no hooks
        name = "abstract"
        display_name = "x"
        help = "x"
        order = 1

    with pytest.raises(TypeError, match="abstract"):
        register_method(Abstract)


def test_custom_parameters_found_by_type(tiny_roberta):
    """An adapter and a re-parametrisation under a peft wrapper (a composition): the module's
    parameters are exactly the peft ones plus those of the ModulePart submodules."""
    model = AutoModelForMaskedLM.from_pretrained(tiny_roberta)
    model = get_method("ether").attach(model)
    model = get_method("adapter").attach(model)
    model = get_method("lora").attach(model)
    names = set(module_parameters(model))
    assert any(".debias_adapter." in n for n in names)
    assert any(n.endswith(".reparam_u") for n in names)
    assert any(".lora_A." in n for n in names)
    parts = {id(p) for m in model.modules() if isinstance(m, ModulePart) for p in m.parameters()}
    params = dict(model.named_parameters())
    assert {n for n in names if "lora_" not in n} == {
        n for n, p in params.items() if id(p) in parts
    }
    batch = _batch()
    batch.pop("labels")
    assert model(**batch).logits.shape[:2] == batch["input_ids"].shape
