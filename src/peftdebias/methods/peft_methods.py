"""Methods backed by the ``peft`` library: LoRA, DoRA, IA3, MiSS, HRA, OFT, VeRA, prefix and
prompt tuning.

Target modules default to peft's per-architecture mapping (``query``/``value`` for BERT and
RoBERTa, ``query_proj``/``value_proj`` for DeBERTa-v2, ...). Weight-based methods wrap the model
in a plain :class:`peft.PeftModel` (no task type, so peft never adds the classifier to the
module); prompt-learning methods use :class:`_PromptModel`, which works for masked-LM and
sequence-classification heads alike.

The module is saved as peft saves an adapter (``adapter_config.json`` +
``adapter_model.safetensors``, the files of ``PeftModel.save_pretrained``), so
``PeftModel.from_pretrained(base_model, folder)`` opens it; ``module.json`` beside them holds
only the method's own record (base.py).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

import torch
from peft import (
    HRAConfig,
    IA3Config,
    LoraConfig,
    MissConfig,
    OFTConfig,
    PeftConfig,
    PeftModel,
    PeftModelForFeatureExtraction,
    PeftType,
    PrefixTuningConfig,
    PromptTuningConfig,
    TaskType,
    VeraConfig,
    get_peft_model,
    get_peft_model_state_dict,
    set_peft_model_state_dict,
)
from safetensors.torch import save_file
from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import (
    MODULE_CONFIG,
    MODULE_WEIGHTS,
    PEFT_CONFIG,
    PEFT_WEIGHTS,
    DebiasMethod,
    MethodConfig,
    backbone,
    check_base_model,
    check_keys,
    is_legacy,
    read_json_object,
    read_module_config,
    read_weights,
    register_method,
    registered_methods,
    unwrap,
    write_atomic,
)


class _PromptModel(PeftModelForFeatureExtraction):
    """Prompt/prefix tuning for any head: the wrapped model's own outputs and loss are returned.

    Unlike peft's feature-extraction wrapper it keeps ``token_type_ids`` (needed for
    sentence-pair tasks) and, for prompt tuning, prepends segment 0 for the virtual tokens,
    as peft's sequence-classification wrapper does.
    """

    def _adjust_prompt_learning_kwargs(self, peft_config, *, kwargs, remove_token_type_ids=True):
        super()._adjust_prompt_learning_kwargs(
            peft_config, kwargs=kwargs, remove_token_type_ids=False
        )
        token_type_ids = kwargs.get("token_type_ids")
        if token_type_ids is not None and peft_config.peft_type == PeftType.PROMPT_TUNING:
            zeros = token_type_ids.new_zeros(
                token_type_ids.shape[0], peft_config.num_virtual_tokens
            )
            kwargs["token_type_ids"] = torch.cat((zeros, token_type_ids), dim=1)


# transformers 5.24 renamed the encoders' ``past_key_values`` argument to ``cache`` (the old
# name is still accepted and mapped, which is what peft's prefix tuning passes)
CACHE_ARGUMENTS = ("past_key_values", "cache")


def accepts_key_value_cache(encoder: nn.Module) -> bool:
    """Whether ``encoder.forward`` takes cached keys/values, which prefix tuning feeds."""
    parameters = inspect.signature(encoder.forward).parameters
    return any(name in parameters for name in CACHE_ARGUMENTS)


class PeftMethod(DebiasMethod):
    """A method whose module is a peft adapter built from :meth:`peft_config` (or the peft
    config a user gave, ``given``: :func:`method_for_peft_config`)."""

    given: PeftConfig | None = None

    def peft_config(self) -> PeftConfig:
        """The peft configuration for this method's config (paper defaults)."""
        raise NotImplementedError

    @classmethod
    def weights_name(cls, record: dict[str, Any]) -> str:
        return MODULE_WEIGHTS if is_legacy(record) else PEFT_WEIGHTS

    def _wrap(self, model: PreTrainedModel, config: PeftConfig) -> nn.Module:
        if config.is_prompt_learning:
            if config.peft_type == PeftType.PREFIX_TUNING and not accepts_key_value_cache(
                backbone(model)
            ):
                raise ConfigError(
                    f"method '{self.name}' needs an encoder that accepts past_key_values "
                    f"(or cache); {type(backbone(model)).__name__} does not "
                    "(use 'prompt' or 'lora')"
                )
            config.task_type = TaskType.FEATURE_EXTRACTION
            return _PromptModel(model, config)
        config.task_type = None
        try:
            return get_peft_model(model, config)
        except ValueError as exc:
            raise ConfigError(
                f"method '{self.name}' cannot attach to {type(model).__name__}: {exc} "
                "(set target_modules to the attention Linear layer names of this architecture)"
            ) from exc

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        config = copy.deepcopy(self.given) if self.given is not None else self.peft_config()
        return self._wrap(model, config)

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return get_peft_model_state_dict(model)

    def _write_weights(self, model: nn.Module, folder: Path) -> None:
        """The adapter as ``PeftModel.save_pretrained`` writes it (without its README):
        the module's tensors, and the config in inference mode with the base model's name
        and, when peft has no task type for it, its class (``auto_mapping``)."""
        config = copy.deepcopy(model.active_peft_config)
        config.inference_mode = True
        if config.base_model_name_or_path is None:  # prompt learning: set by peft's save only
            config.base_model_name_or_path = getattr(unwrap(model), "name_or_path", None) or None
        base_class = type(unwrap(model))
        auto_mapping = (
            {"base_model_class": base_class.__name__, "parent_library": base_class.__module__}
            if config.task_type is None
            else None
        )
        tensors = self.module_state_dict(model)

        def write(tmp: Path) -> None:
            save_file(tensors, str(tmp / PEFT_WEIGHTS), metadata={"format": "pt"})
            config.save_pretrained(str(tmp), auto_mapping_dict=auto_mapping)

        write_atomic(folder, write)

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        model = self._wrap(model, self._saved_peft_config(folder, record))
        self._load_adapter_weights(model, folder, record, "default")
        return model

    def add_adapter(self, model: PeftModel, folder: str | os.PathLike, name: str) -> PeftModel:
        """Load the module saved in ``folder`` as one more named adapter ``name`` of ``model``,
        a PeftModel of the same peft type (a composition, ``methods.compose``); the caller
        activates it and sets what is trainable."""
        folder = Path(folder)
        record = read_module_config(folder)
        check_base_model(model, folder)
        config = self._saved_peft_config(folder, record)
        config.task_type = None
        try:
            model.add_adapter(name, config)
        except ValueError as exc:  # another peft type
            raise ConfigError(f"debiasing module {folder}: {exc}") from exc
        self._load_adapter_weights(model, folder, record, name)
        return model

    def _saved_peft_config(self, folder: Path, record: dict[str, Any]) -> PeftConfig:
        """The saved peft config (``adapter_config.json``; format 1: ``backend.peft_config``
        of ``module.json``), as it was in training (not in inference mode)."""
        if is_legacy(record):
            path, values = folder / MODULE_CONFIG, record.get("backend", {}).get("peft_config")
        else:
            path = folder / PEFT_CONFIG
            values = read_json_object(path)
        try:
            config = PeftConfig.from_peft_type(**values)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"{path} holds no valid peft config: {exc}") from exc
        expected = self.peft_config().peft_type
        if config.peft_type != expected:
            found = getattr(config.peft_type, "value", config.peft_type)
            raise ConfigError(
                f"{path} holds a {found} adapter, not the {expected.value} of method '{self.name}'"
            )
        config.inference_mode = False
        return config

    def _load_adapter_weights(
        self, model: PeftModel, folder: Path, record: dict[str, Any], name: str
    ) -> None:
        """Copy the saved tensors into the adapter ``name`` (keys and shapes checked)."""
        path = folder / self.weights_name(record)
        tensors = read_weights(folder, path.name)
        own = get_peft_model_state_dict(model, adapter_name=name)
        check_keys(set(own), set(tensors), path)
        try:
            set_peft_model_state_dict(model, tensors, adapter_name=name)
        except RuntimeError as exc:  # shape mismatch
            raise ConfigError(f"module weights {path}: {exc}") from exc


@dataclasses.dataclass
class LoraSettings(MethodConfig):
    """LoRA (Hu et al., 2022): W x + (alpha / r) B A x, A r x d_in, B d_out x r (B = 0 at start).

    Defaults as adapter-transformers' LoRAConfig used by the reference code: r = alpha = 8,
    no dropout, on the attention query and value projections.
    """

    r: int = 8
    alpha: int = 8
    dropout: float = 0.0
    target_modules: list[str] | None = None


@register_method
class LoraMethod(PeftMethod):
    name = "lora"
    display_name = "LoRA"
    help = "LoRA r=8 on query/value"
    order = 40
    config_class = LoraSettings
    use_dora = False

    def peft_config(self) -> PeftConfig:
        c = self.config
        return LoraConfig(
            r=c.r,
            lora_alpha=c.alpha,
            lora_dropout=c.dropout,
            target_modules=c.target_modules,
            use_dora=self.use_dora,
        )


@register_method
class DoraMethod(LoraMethod):
    """DoRA (Liu et al., 2024): W' = m * (W + BA) / ||W + BA||_c, same rank budget as LoRA."""

    name = "dora"
    display_name = "DoRA"
    help = "DoRA: LoRA r=8 + magnitude per output unit"
    order = 60
    use_dora = True


@dataclasses.dataclass
class IA3Settings(MethodConfig):
    """IA3 (Liu et al., 2022): learned vectors rescale keys, values and the FFN input.

    ``None`` = peft's default targets (key, value, output.dense; output.dense as feed-forward).
    """

    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None


@register_method
class IA3Method(PeftMethod):
    name = "ia3"
    display_name = "IA3"
    help = "IA3: learned rescaling of key, value and FFN input"
    order = 70
    config_class = IA3Settings

    def peft_config(self) -> PeftConfig:
        c = self.config
        if (c.target_modules is None) != (c.feedforward_modules is None):
            raise ConfigError("ia3: set both target_modules and feedforward_modules, or neither")
        return IA3Config(target_modules=c.target_modules, feedforward_modules=c.feedforward_modules)


@dataclasses.dataclass
class MissSettings(MethodConfig):
    """MiSS (formerly Bone; Kang & Yin, 2024): a shared r x d_out block added to every input
    chunk of W. r = 16 gives the same parameter count as LoRA r = 8 on square layers.
    """

    r: int = 16
    target_modules: list[str] | None = None


@register_method
class MissMethod(PeftMethod):
    name = "miss"
    display_name = "MiSS"
    help = "MiSS (Bone) r=16"
    order = 80
    config_class = MissSettings

    def peft_config(self) -> PeftConfig:
        return MissConfig(r=self.config.r, target_modules=self.config.target_modules)


@dataclasses.dataclass
class HraSettings(MethodConfig):
    """HRA (Yuan et al., 2024): W H_1 ... H_r with r Householder reflections (peft default r=8)."""

    r: int = 8
    target_modules: list[str] | None = None


@register_method
class HraMethod(PeftMethod):
    name = "hra"
    display_name = "HRA"
    help = "HRA: chain of 8 Householder reflections"
    order = 90
    config_class = HraSettings

    def peft_config(self) -> PeftConfig:
        return HRAConfig(r=self.config.r, target_modules=self.config.target_modules)


@dataclasses.dataclass
class OftSettings(MethodConfig):
    """OFT (Qiu et al., 2023): W R with R block-diagonal orthogonal (Cayley), blocks of 32."""

    block_size: int = 32
    target_modules: list[str] | None = None


@register_method
class OftMethod(PeftMethod):
    name = "oft"
    display_name = "OFT"
    help = "OFT: block-diagonal orthogonal (Cayley), blocks of 32"
    order = 100
    config_class = OftSettings

    def peft_config(self) -> PeftConfig:
        return OFTConfig(
            r=0, oft_block_size=self.config.block_size, target_modules=self.config.target_modules
        )


@dataclasses.dataclass
class VeraSettings(MethodConfig):
    """VeRA (Kopiczko et al., 2024): diag(b) B diag(d) A x with frozen shared random A, B."""

    r: int = 256
    d_initial: float = 0.1
    target_modules: list[str] | None = None


@register_method
class VeraMethod(PeftMethod):
    name = "vera"
    display_name = "VeRA"
    help = "VeRA r=256: shared frozen random A/B, trained scalings"
    order = 110
    config_class = VeraSettings

    def peft_config(self) -> PeftConfig:
        c = self.config
        return VeraConfig(r=c.r, d_initial=c.d_initial, target_modules=c.target_modules)


@dataclasses.dataclass
class PrefixSettings(MethodConfig):
    """Prefix tuning (Li & Liang, 2021), flat: trained key/value vectors for
    ``num_virtual_tokens`` positions in every layer (reference: prefix_tuning_flat, length 30).
    """

    num_virtual_tokens: int = 30


@register_method
class PrefixMethod(PeftMethod):
    name = "prefix"
    display_name = "Prefix"
    help = "flat prefix tuning, 30 virtual tokens"
    order = 30
    config_class = PrefixSettings

    @property
    def virtual_tokens(self) -> int:
        return self.config.num_virtual_tokens

    def peft_config(self) -> PeftConfig:
        return PrefixTuningConfig(
            num_virtual_tokens=self.config.num_virtual_tokens, prefix_projection=False
        )


@dataclasses.dataclass
class PromptSettings(MethodConfig):
    """Prompt tuning (Lester et al., 2021): ``num_virtual_tokens`` trained input embeddings
    prepended to the input, initialised from randomly sampled vocabulary embeddings.
    """

    num_virtual_tokens: int = 30
    init: str = "SAMPLE_VOCAB"


@register_method
class PromptMethod(PeftMethod):
    name = "prompt"
    display_name = "Prompt"
    help = "prompt tuning, 30 virtual tokens"
    order = 20
    config_class = PromptSettings

    @property
    def virtual_tokens(self) -> int:
        return self.config.num_virtual_tokens

    def pad_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Prepend ``-100`` (ignored by the loss) for the virtual tokens."""
        pad = labels.new_full((labels.shape[0], self.virtual_tokens), -100)
        return torch.cat((pad, labels), dim=1)

    def trim_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Drop the virtual-token positions of token-level outputs."""
        return logits[:, self.virtual_tokens :]

    def peft_config(self) -> PeftConfig:
        if self.config.init not in ("SAMPLE_VOCAB", "RANDOM"):
            raise ConfigError(
                f"prompt: init must be SAMPLE_VOCAB or RANDOM, got {self.config.init!r}"
            )
        return PromptTuningConfig(
            num_virtual_tokens=self.config.num_virtual_tokens,
            prompt_tuning_init=self.config.init,
        )


# method option -> the peft config field that holds it, where the names differ
_PEFT_FIELDS = {
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "block_size": "oft_block_size",
    "init": "prompt_tuning_init",
}


def _option_value(value: Any) -> Any:
    """A peft config value as a method option (``module.json``): sets sorted, enums by value."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    return getattr(value, "value", value)


def method_for_peft_config(config: PeftConfig) -> PeftMethod:
    """The registered peft method of ``config``'s type (LoRA with ``use_dora``: ``dora``)
    whose module is built from ``config`` as given (a copy); its options, which
    ``module.json`` records, are read from ``config``. A :class:`ConfigError` names the
    supported types for another one."""
    classes = [  # a calibrated method (lightpeft) changes the config it is given
        c
        for c in registered_methods().values()
        if issubclass(c, PeftMethod) and not c.requires_calibration
    ]
    for cls in classes:
        own = cls().peft_config()
        if own.peft_type != config.peft_type or getattr(own, "use_dora", False) != bool(
            getattr(config, "use_dora", False)
        ):
            continue
        options = {}
        for option in dataclasses.fields(cls.config_class):
            name = _PEFT_FIELDS.get(option.name, option.name)
            if hasattr(config, name):
                options[option.name] = _option_value(getattr(config, name))
        method = cls(**options)
        method.peft_config()  # options the method refuses (e.g. a prompt init from text)
        method.given = copy.deepcopy(config)
        return method
    supported = ", ".join(f"{type(c().peft_config()).__name__} ({c.name})" for c in classes)
    raise ConfigError(
        f"no debiasing method for a {type(config).__name__}; supported peft configs: {supported}"
    )
