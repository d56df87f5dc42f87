"""The one interface every debiasing method implements, the method registry, and the on-disk
module format.

A method attaches a small module to a transformers model (masked-LM or sequence-classification
head alike), freezes everything else, and saves/loads only the module:

    method = get_method("lora")
    method.calibrate(model, train_fn)  # no-op except for methods that need a warm-up pass
    model = method.attach(model)       # only module parameters are trainable now
    train_fn(model)
    method.save(model, folder)

A module folder (format ``peftdebias-module/2``, docs/methods.md) holds the weights and
``module.json``, the method's record: its name, its options (``config``), the fingerprint of
the base model and, for some methods, what rebuilding needs beyond the weights (``backend``).
The weights of a peft method are a peft adapter, ``adapter_config.json`` +
``adapter_model.safetensors`` (opens with ``peft.PeftModel.from_pretrained``); of a custom
method ``module.safetensors``; of ``full`` a ``save_pretrained`` checkpoint. ``module.json`` is
written last, so a folder without it is an incomplete module and is refused on load. Folders
of the first format (``peftdebias-module/1``: ``module.safetensors`` for every method but
``full``, the peft config inside ``module.json``) still load.

Each method class registers itself with :func:`register_method` and carries its metadata
(``name``, ``display_name``, ``help``, ``order``); ``methods.registry`` derives the listings.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from peft import PeftModel
from peft.mapping import PEFT_TYPE_TO_PREFIX_MAPPING
from peft.utils import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError, OutputExistsError
from ..io import atomic_open, write_json
from ..models import model_fingerprint

MODULE_CONFIG = "module.json"  # the method's record, every method
MODULE_WEIGHTS = "module.safetensors"  # custom methods (and every method in format 1)
PEFT_CONFIG = CONFIG_NAME  # "adapter_config.json", peft methods
PEFT_WEIGHTS = SAFETENSORS_WEIGHTS_NAME  # "adapter_model.safetensors", peft methods
# every file a method may write besides a ``full`` checkpoint's
MODULE_FILES = (MODULE_CONFIG, MODULE_WEIGHTS, PEFT_CONFIG, PEFT_WEIGHTS)
# the upstream phase's record beside the module (axes, corpus, training; upstream.py)
METADATA_FILE = "debias.json"
FORMAT = "peftdebias-module/2"
LEGACY_FORMAT = "peftdebias-module/1"  # read, never written
_FINGERPRINT_ATTR = "_peftdebias_base_fingerprint"

TrainFn = Callable[[nn.Module], Any]


@dataclasses.dataclass
class MethodConfig:
    """Hyper-parameters of a method; subclasses add fields with the paper defaults."""


def unwrap(model: nn.Module) -> PreTrainedModel:
    """The transformers model inside ``model`` (itself, or the one a PeftModel wraps)."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def backbone(model: nn.Module) -> nn.Module:
    """The encoder without any task head (``model.bert``, ``model.roberta``, ...)."""
    return unwrap(model).base_model


class ModulePart(nn.Module):
    """Base of the torch modules a custom method adds to a model (bottleneck adapters, weight
    re-parametrisations): every parameter of one belongs to the debiasing module."""


def module_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The debiasing module's parameters, by name, whichever method attached them (all the
    modules of a composition, ``methods.compose``: custom ones under a peft wrapper too).

    Custom modules are found by type (:class:`ModulePart`), peft ones by peft's prefix."""
    named = dict(model.named_parameters())
    custom = {
        id(p) for part in model.modules() if isinstance(part, ModulePart) for p in part.parameters()
    }
    if isinstance(model, PeftModel):
        config = model.active_peft_config
        if config.is_prompt_learning:
            return {n: p for n, p in named.items() if n.startswith("prompt_encoder.")}
        prefix = PEFT_TYPE_TO_PREFIX_MAPPING[config.peft_type]
        return {n: p for n, p in named.items() if prefix in n or id(p) in custom}
    return {n: p for n, p in named.items() if id(p) in custom}


def parameter_groups(model: nn.Module) -> dict[str, str]:
    """Map every parameter name of ``model`` to ``"module"``, ``"backbone"`` or ``"head"``.

    The backbone is the encoder (``model.base_model``); the head is everything else of the
    transformers model (MLM head, classifier). A tied MLM decoder shares the input-embedding
    tensor and so counts as backbone.
    """
    module = set(module_parameters(model))
    encoder = {id(p) for p in backbone(model).parameters()}
    return {
        name: "module" if name in module else "backbone" if id(p) in encoder else "head"
        for name, p in model.named_parameters()
    }


def set_trainable(model: nn.Module, *, module: bool, head: bool, backbone: bool) -> nn.Module:
    """Set ``requires_grad`` per parameter group (see :func:`parameter_groups`)."""
    wanted = {"module": module, "head": head, "backbone": backbone}
    params = dict(model.named_parameters())
    for name, group in parameter_groups(model).items():
        params[name].requires_grad_(wanted[group])
    return model


def count_parameters(model: nn.Module) -> tuple[int, int, float]:
    """(trainable, total, 100 * trainable / total) over the model's parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total, 100.0 * trainable / total if total else 0.0


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ConfigError when it is missing, not JSON or not an object."""
    if not path.is_file():
        raise ConfigError(f"{path} not found")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return record


def read_module_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``folder/module.json`` (either format); clear errors for missing or
    corrupt files."""
    folder = Path(folder)
    path = folder / MODULE_CONFIG
    if not folder.is_dir():
        raise ConfigError(f"debiasing module folder {folder} does not exist")
    if not path.is_file():
        raise ConfigError(
            f"{path} not found: {folder} is not a complete debiasing module "
            "(written by the upstream phase / DebiasMethod.save)"
        )
    record = read_json_object(path)
    if record.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise ConfigError(f"{path} is not a peftdebias module config (expected format {FORMAT})")
    for key in ("method", "config", "base_model"):
        if key not in record:
            raise ConfigError(f"{path} lacks the field '{key}'")
    return record


def is_legacy(record: dict[str, Any]) -> bool:
    """Whether a module record (:func:`read_module_config`) is of the first format."""
    return record["format"] == LEGACY_FORMAT


def check_base_model(model: nn.Module, folder: str | os.PathLike) -> None:
    """Refuse a module trained on another base model than ``model``.

    Compares :func:`peftdebias.models.model_fingerprint` of ``model`` (which must not carry a
    module yet) with the fingerprint recorded in ``folder/module.json`` at save time.
    """
    record = read_module_config(folder)
    expected = record["base_model"].get("fingerprint")
    actual = model_fingerprint(unwrap(model))
    if expected != actual:
        raise ConfigError(
            f"debiasing module {folder} was trained on a different base model "
            f"({record['base_model'].get('model_type')}, fingerprint {expected}) than the "
            f"model given ({unwrap(model).config.model_type}, fingerprint {actual}); "
            "pass the --model the module was trained with"
        )


def read_weights(folder: str | os.PathLike, name: str = MODULE_WEIGHTS) -> dict[str, torch.Tensor]:
    """Load a safetensors file of a module folder with a clear error if missing or corrupt."""
    path = Path(folder) / name
    if not path.is_file():
        raise ConfigError(f"module weights {path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"module weights {path} are unreadable: {exc}") from exc


def check_keys(expected: set[str], found: set[str], path: Path) -> None:
    """Raise ConfigError when a weights file does not hold exactly the module's tensors."""
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing or extra:
        raise ConfigError(
            f"module weights {path} do not match the module: "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}"
        )


class DebiasMethod(ABC):
    """A debiasing module type. A concrete method sets its metadata and ``config_class``,
    implements the hooks below and is decorated with :func:`register_method`.

    Sequence-length contract for callers: ``virtual_tokens`` positions are prepended inside
    the model (prompt/prefix tuning), so inputs must be at most ``max_position_embeddings -
    virtual_tokens`` tokens; :meth:`pad_labels` and :meth:`trim_logits` adapt token-level
    labels/logits (no-ops for every method except prompt tuning).
    """

    name: ClassVar[str]  # canonical name: get_method, --method, module.json
    display_name: ClassVar[str]  # for reports and tables, e.g. "LoRA"
    help: ClassVar[str]  # one line for --help texts and docs
    order: ClassVar[int]  # position in METHODS (ascending)
    config_class: ClassVar[type[MethodConfig]]
    requires_calibration: ClassVar[bool] = False

    def __init__(self, config: MethodConfig | None = None, **overrides: Any) -> None:
        if config is not None and overrides:
            raise ConfigError(f"method '{self.name}': pass a config or overrides, not both")
        if config is None:
            names = {f.name for f in dataclasses.fields(self.config_class)}
            unknown = sorted(set(overrides) - names)
            if unknown:
                raise ConfigError(
                    f"unknown option(s) {', '.join(unknown)} for method '{self.name}'; "
                    f"valid options: {', '.join(sorted(names)) or 'none'}"
                )
            config = self.config_class(**overrides)
        self.config = config

    # -- behaviour every caller uses -------------------------------------------------------
    @property
    def virtual_tokens(self) -> int:
        """Positions the module prepends to every input (0 for most methods)."""
        return 0

    def pad_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Token-level labels aligned with the model's outputs (identity by default)."""
        return labels

    def trim_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Token-level logits aligned with the inputs again (identity by default)."""
        return logits

    @property
    def calibration_steps(self) -> int | None:
        """Steps of ``train_fn`` that :meth:`calibrate` asks for (None: the caller's default).

        Gradient-only calibrations (``gps``, ``spt``) need a few batches, not a training run;
        the upstream phase uses this unless ``--calibration-steps`` is given.
        """
        return None

    def calibrate(self, model: PreTrainedModel, train_fn: TrainFn) -> None:
        """Run a method's preparatory training pass before :meth:`attach` (default: none).

        ``train_fn(model)`` must train ``model`` in place on the upstream objective, updating
        exactly the parameters with ``requires_grad``. Gradient-only calibrations run it too,
        but capture each gradient as it is accumulated and drop it before the optimizer step
        (:func:`peftdebias.methods.sparse.accumulate_gradients`), so nothing is updated.
        """
        del model, train_fn  # nothing to prepare for most methods

    def attach(self, model: PreTrainedModel) -> nn.Module:
        """Attach a fresh module; freeze backbone and head (re-enable with set_trainable)."""
        fingerprint = model_fingerprint(model)
        model = self._attach(model)
        setattr(unwrap(model), _FINGERPRINT_ATTR, fingerprint)
        return set_trainable(model, module=True, head=False, backbone=False)

    def module_state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Only the module's tensors, with keys independent of the task head."""
        return {k: v.detach().cpu().contiguous() for k, v in self._state_dict(model).items()}

    @classmethod
    def weights_name(cls, record: dict[str, Any]) -> str:
        """The file of a saved module (described by ``record``) that holds its tensors."""
        del record  # the same in both formats
        return MODULE_WEIGHTS

    def save(self, model: nn.Module, folder: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the module to ``folder`` (weights first, ``module.json`` last); with
        ``overwrite``, the module files already there go first (either format)."""
        folder = Path(folder)
        fingerprint = getattr(unwrap(model), _FINGERPRINT_ATTR, None)
        if fingerprint is None:
            raise ConfigError(
                f"cannot save method '{self.name}': the model carries no module "
                "(call attach() or load() first)"
            )
        if (folder / MODULE_CONFIG).exists():
            if not overwrite:
                raise OutputExistsError(
                    f"{folder} already holds a debiasing module; pass --overwrite to replace it"
                )
            for name in MODULE_FILES:  # module.json first: the folder is incomplete meanwhile
                (folder / name).unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        self._write_weights(model, folder)
        _, total, _ = count_parameters(model)
        hf_model = unwrap(model)
        record = {
            "format": FORMAT,
            "method": self.name,
            "config": dataclasses.asdict(self.config),
            "base_model": {
                "fingerprint": fingerprint,
                "model_type": hf_model.config.model_type,
                "name_or_path": hf_model.config.name_or_path,
            },
            "module_parameters": sum(p.numel() for p in module_parameters(model).values()),
            "total_parameters": total,
        }
        backend = self._backend_record(model)
        if backend:
            record["backend"] = backend
        write_json(folder / MODULE_CONFIG, record)
        return folder

    def load(self, model: PreTrainedModel, folder: str | os.PathLike, trainable: bool = False):
        """Attach the module saved in ``folder`` to ``model`` (a fresh model of the same base).

        The backbone and head are frozen; the module is trainable iff ``trainable``.
        """
        record = read_module_config(folder)
        if record["method"] != self.name:
            raise ConfigError(
                f"{Path(folder) / MODULE_CONFIG} holds a '{record['method']}' module, "
                f"not '{self.name}'"
            )
        check_base_model(model, folder)
        fingerprint = record["base_model"]["fingerprint"]
        try:
            saved = type(self)(**record["config"])
        except TypeError as exc:
            raise ConfigError(f"{Path(folder) / MODULE_CONFIG}: invalid config: {exc}") from exc
        self.config = saved.config
        model = saved._load(model, Path(folder), record)
        setattr(unwrap(model), _FINGERPRINT_ATTR, fingerprint)
        return set_trainable(model, module=trainable, head=False, backbone=False)

    # -- hooks for subclasses ---------------------------------------------------------------
    @abstractmethod
    def _attach(self, model: PreTrainedModel) -> nn.Module:
        """Add a freshly initialised module to ``model``; return the model to train."""

    @abstractmethod
    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The module's tensors."""

    @abstractmethod
    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        """Attach the saved module described by ``record`` and its weights in ``folder``."""

    def _backend_record(self, model: nn.Module) -> dict[str, Any]:
        """What rebuilding the module needs beyond its weights and config (``backend`` of
        module.json; none for most methods)."""
        return {}

    def _write_weights(self, model: nn.Module, folder: Path) -> None:
        with atomic_open(folder / MODULE_WEIGHTS, "wb") as handle:
            handle.write(save(self.module_state_dict(model)))


_REGISTRY: dict[str, type[DebiasMethod]] = {}
_METADATA = ("name", "display_name", "help", "order")
Method = TypeVar("Method", bound=type[DebiasMethod])


def register_method(cls: Method) -> Method:
    """Class decorator: add the concrete method ``cls`` to the registry (``methods.registry``
    lists it by ``order``). Its metadata must be set on ``cls`` itself, not inherited."""
    missing = [attr for attr in _METADATA if attr not in vars(cls)]
    if missing or inspect.isabstract(cls):
        raise TypeError(
            f"cannot register {cls.__name__}: "
            + (f"set {', '.join(missing)} on the class" if missing else "it is abstract")
        )
    if _REGISTRY.get(cls.name, cls) is not cls:
        raise TypeError(f"method name {cls.name!r} is taken by {_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    return cls


def registered_methods() -> dict[str, type[DebiasMethod]]:
    """Every registered method class by name, in listing order (``order``, then name)."""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].order, item[0])))


def write_atomic(folder: Path, write: Callable[[Path], Any]) -> None:
    """Run ``write(tmp)`` into a temporary folder inside ``folder``, then move each file it
    wrote into ``folder``."""
    with tempfile.TemporaryDirectory(prefix=".save.", dir=folder) as tmp:
        write(Path(tmp))
        for item in Path(tmp).iterdir():
            target = folder / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
