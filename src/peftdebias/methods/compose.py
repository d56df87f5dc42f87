"""Several frozen debiasing modules on one model, e.g. a gender module and a race module
(``downstream --debias DIR1 --debias DIR2``; ``docs/methods.md``, "Composing modules").

Modules are stacked, never merged, so each stays bit-identical to its upstream artefact:

- weight-based peft modules of one peft method (``lora``, ``dora``, ``ia3``, ``miss``, ``hra``,
  ``oft``, ``vera``): named adapters of one PeftModel, all active (LoRA-type deltas add, IA3
  scalings multiply, OFT/HRA rotations chain);
- bottleneck ``adapter`` modules: in sequence on each feed-forward output, in the order given;
- at most one weight re-parametrisation (``ether``, ``ether+``, ``bora``, ``spectral``, ``gps``,
  ``spt``).

They are attached in that order: re-parametrisation, adapters, peft adapters (the families
sit at different places of a layer, or add up, so only the adapters' own order matters).
Refused, with one line naming the option and folders: modules learned on different base
models, the same folder or bias axis twice, ``full``/``prompt``/``prefix``/``sft`` with
anything, two peft methods, two re-parametrisations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import METADATA_FILE, read_module_config, set_trainable, unwrap
from .registry import method_of

PEFT_STACKABLE = ("lora", "dora", "ia3", "miss", "hra", "oft", "vera")
REPARAMETRISATIONS = ("ether", "ether+", "bora", "spectral", "gps", "spt")
# methods whose module composes with nothing, and why
ALONE: dict[str, str] = {
    "full": "a Full-Debias model is a whole model, not a module (use --full-debias alone)",
    "prompt": "peft runs one prompt-learning module at a time",
    "prefix": "peft runs one prompt-learning module at a time",
    "sft": "its sparse difference may cover any backbone tensor, the input embeddings "
    "(which identify the base model) included",
}
# the order families are attached in (custom modules first: peft wraps the model)
_ORDER = {**dict.fromkeys(REPARAMETRISATIONS, 0), "adapter": 1, **dict.fromkeys(PEFT_STACKABLE, 2)}
COMPOSITION_ATTR = "_peftdebias_modules"


@dataclass(frozen=True)
class ModuleInfo:
    """What composing needs to know of a module folder."""

    folder: str
    method: str
    fingerprint: str | None
    axes: tuple[str, ...]  # from debias.json; empty for a module saved without one


def as_folders(value: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[str]:
    """The module folders of a ``debias`` value: one folder or a list of them (None: none)."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)]
    return [os.fspath(item) for item in value]


def module_axes(folder: str | os.PathLike) -> tuple[str, ...]:
    """The bias axes a module was learned on (``axes``, else ``axis``, of its debias.json)."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return ()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is unreadable or not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path} is not an upstream module record")
    axes = record.get("axes") or ([record["axis"]] if record.get("axis") else [])
    return tuple(str(axis) for axis in axes)


def module_info(folder: str | os.PathLike) -> ModuleInfo:
    """Method, base-model fingerprint and axes of the module in ``folder``."""
    record = read_module_config(folder)
    return ModuleInfo(
        os.fspath(folder),
        record["method"],
        record["base_model"].get("fingerprint"),
        module_axes(folder),
    )


def _combination_problem(infos: list[ModuleInfo]) -> str | None:
    """Why the methods of ``infos`` cannot be stacked, or None."""
    for info in infos:
        if info.method in ALONE:
            why = ALONE[info.method]
            return f"a '{info.method}' module ({info.folder}) composes with nothing: {why}"
    peft = sorted({info.method for info in infos if info.method in PEFT_STACKABLE})
    if len(peft) > 1:
        return (
            f"peft methods {' and '.join(peft)} cannot be stacked (peft holds adapters of "
            "one type per model); compose modules of one peft method"
        )
    reparam = [info for info in infos if info.method in REPARAMETRISATIONS]
    if len(reparam) > 1:
        return (
            f"two weight re-parametrisations ({', '.join(i.method for i in reparam)}) "
            "cannot be stacked: they change the same weights"
        )
    unknown = [info.method for info in infos if info.method not in _ORDER]
    return f"method(s) {', '.join(unknown)} cannot be composed" if unknown else None


def check_composition(
    folders: Sequence[str | os.PathLike], option: str = "--debias"
) -> list[ModuleInfo]:
    """The modules of ``folders``, checked to compose (any single module does); else a
    one-line :class:`ConfigError` naming ``option`` and the folders."""
    names = " ".join(os.fspath(folder) for folder in folders)
    try:
        infos = [module_info(folder) for folder in folders]
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    if len(infos) < 2:
        return infos
    resolved = [Path(info.folder).resolve() for info in infos]
    if len(set(resolved)) < len(resolved):
        problem = "the same module folder is given twice"
    elif len({info.fingerprint for info in infos}) > 1:
        shown = ", ".join(str(info.fingerprint) for info in infos)
        problem = (
            f"the modules were learned on different base models (fingerprints {shown}, in "
            "that order); compose modules learned with one --model"
        )
    else:
        problem = _axis_problem(infos) or _combination_problem(infos)
    if problem:
        raise ConfigError(f"{option} {names}: {problem}")
    return infos


def _axis_problem(infos: list[ModuleInfo]) -> str | None:
    """A bias axis that two of the modules were learned on, or None."""
    seen: dict[str, str] = {}
    for info in infos:
        for axis in info.axes:
            if axis in seen:
                return (
                    f"axis '{axis}' twice ({seen[axis]} and {info.folder}); compose modules of "
                    "different axes, or learn one module on several (upstream --axis gender,race)"
                )
            seen[axis] = info.folder
    return None


def load_modules(
    model: PreTrainedModel, folders: Sequence[str | os.PathLike], option: str = "--debias"
) -> nn.Module:
    """Attach the modules saved in ``folders`` (one or several, see the module docstring) to
    ``model``; every module, the backbone and the head come back frozen. The parameter names
    of each module are recorded for :func:`composed_modules`."""
    infos = check_composition(folders, option)
    if not infos:
        raise ConfigError(f"{option}: no debiasing module folder given")
    added: dict[int, set[int]] = {}
    adapters: list[str] = []  # names of the peft adapters, in loading order
    for index in sorted(range(len(infos)), key=lambda i: _ORDER.get(infos[i].method, 0)):
        before = {id(param) for param in model.parameters()}
        method = method_of(infos[index].folder)
        if adapters:  # one more adapter of the PeftModel the first peft module made
            adapters.append(f"module{len(adapters)}")
            model = method.add_adapter(model, infos[index].folder, adapters[-1])
        else:
            model = method.load(model, infos[index].folder)
            if infos[index].method in PEFT_STACKABLE:
                adapters.append("default")
        added[index] = {id(param) for param in model.parameters()} - before
    if len(adapters) > 1:
        model.base_model.set_adapter(adapters)
    set_trainable(model, module=False, head=False, backbone=False)
    names = {id(param): name for name, param in model.named_parameters()}
    record = [
        {
            "folder": info.folder,
            "method": info.method,
            "axes": list(info.axes),
            "parameters": sorted(names[i] for i in added[index] if i in names),
        }
        for index, info in enumerate(infos)
    ]
    setattr(unwrap(model), COMPOSITION_ATTR, record)
    return model


def composed_modules(model: nn.Module) -> list[dict[str, Any]]:
    """The modules :func:`load_modules` attached to ``model``, in the order given: ``folder``,
    ``method``, ``axes`` and the names of their ``parameters`` ([] without modules)."""
    return getattr(unwrap(model), COMPOSITION_ATTR, [])
