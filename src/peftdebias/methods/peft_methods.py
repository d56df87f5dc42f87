"""Methods backed by the ``peft`` library: LoRA, DoRA, IA3, MiSS, HRA, OFT, VeRA, prefix and
prompt tuning.

Target modules default to peft's per-architecture mapping (``query``/``value`` for BERT and
RoBERTa, ``query_proj``/``value_proj`` for DeBERTa-v2, ...). Weight-based methods wrap the model
in a plain :class:`peft.PeftModel` (no task type, so peft never adds the classifier to the
module); prompt-learning methods use :class:`_PromptModel`, which works for masked-LM and
sequence-classification heads alike.
"""

from __future__ import annotations

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
    get_peft_config,
    get_peft_model,
    get_peft_model_state_dict,
    set_peft_model_state_dict,
)
from torch import nn
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import (
    MODULE_WEIGHTS,
    DebiasMethod,
    MethodConfig,
    backbone,
    check_base_model,
    check_keys,
    read_module_config,
    read_weights,
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


def _json_ready(value: Any) -> Any:
    """peft configs hold sets and enums; make them JSON values (sorted lists, strings)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, str):  # str enums (PeftType, TaskType) become plain strings
        return str(value.value) if hasattr(value, "value") else value
    return value


class PeftMethod(DebiasMethod):
    """A method whose module is a peft adapter built from :meth:`peft_config`."""

    def peft_config(self) -> PeftConfig:
        """The peft configuration for this method's config (paper defaults)."""
        raise NotImplementedError

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
        return self._wrap(model, self.peft_config())

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return get_peft_model_state_dict(model)

    def _backend_record(self, model: nn.Module) -> dict[str, Any]:
        return {"peft_config": _json_ready(model.active_peft_config.to_dict())}

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        model = self._wrap(model, _saved_peft_config(folder, record))
        _load_adapter_weights(model, folder, "default")
        return model

    def add_adapter(self, model: PeftModel, folder: str | os.PathLike, name: str) -> PeftModel:
        """Load the module saved in ``folder`` as one more named adapter ``name`` of ``model``,
        a PeftModel of the same peft type (a composition, ``methods.compose``); the caller
        activates it and sets what is trainable."""
        folder = Path(folder)
        record = read_module_config(folder)
        check_base_model(model, folder)
        config = _saved_peft_config(folder, record)
        config.task_type = None
        try:
            model.add_adapter(name, config)
        except ValueError as exc:  # another peft type
            raise ConfigError(f"debiasing module {folder}: {exc}") from exc
        _load_adapter_weights(model, folder, name)
        return model


def _saved_peft_config(folder: Path, record: dict[str, Any]) -> PeftConfig:
    """The peft config stored in ``module.json`` (``backend.peft_config``)."""
    try:
        return get_peft_config(dict(record["backend"]["peft_config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{folder / 'module.json'} has no valid peft_config: {exc}") from exc


def _load_adapter_weights(model: PeftModel, folder: Path, name: str) -> None:
    """Copy ``folder``'s module weights into the adapter ``name`` (keys and shapes checked)."""
    tensors = read_weights(folder)
    own = get_peft_model_state_dict(model, adapter_name=name)
    check_keys(set(own), set(tensors), folder / MODULE_WEIGHTS)
    try:
        set_peft_model_state_dict(model, tensors, adapter_name=name)
    except RuntimeError as exc:  # shape mismatch
        raise ConfigError(f"module weights {folder / MODULE_WEIGHTS}: {exc}") from exc


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


class LoraMethod(PeftMethod):
    name = "lora"
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


class DoraMethod(LoraMethod):
    """DoRA (Liu et al., 2024): W' = m * (W + BA) / ||W + BA||_c, same rank budget as LoRA."""

    name = "dora"
    use_dora = True


@dataclasses.dataclass
class IA3Settings(MethodConfig):
    """IA3 (Liu et al., 2022): learned vectors rescale keys, values and the FFN input.

    ``None`` = peft's default targets (key, value, output.dense; output.dense as feed-forward).
    """

    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None


class IA3Method(PeftMethod):
    name = "ia3"
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


class MissMethod(PeftMethod):
    name = "miss"
    config_class = MissSettings

    def peft_config(self) -> PeftConfig:
        return MissConfig(r=self.config.r, target_modules=self.config.target_modules)


@dataclasses.dataclass
class HraSettings(MethodConfig):
    """HRA (Yuan et al., 2024): W H_1 ... H_r with r Householder reflections (peft default r=8)."""

    r: int = 8
    target_modules: list[str] | None = None


class HraMethod(PeftMethod):
    name = "hra"
    config_class = HraSettings

    def peft_config(self) -> PeftConfig:
        return HRAConfig(r=self.config.r, target_modules=self.config.target_modules)


@dataclasses.dataclass
class OftSettings(MethodConfig):
    """OFT (Qiu et al., 2023): W R with R block-diagonal orthogonal (Cayley), blocks of 32."""

    block_size: int = 32
    target_modules: list[str] | None = None


class OftMethod(PeftMethod):
    name = "oft"
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


class VeraMethod(PeftMethod):
    name = "vera"
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


class PrefixMethod(PeftMethod):
    name = "prefix"
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


class PromptMethod(PeftMethod):
    name = "prompt"
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


PEFT_METHODS: tuple[type[PeftMethod], ...] = (
    LoraMethod,
    DoraMethod,
    IA3Method,
    MissMethod,
    HraMethod,
    OftMethod,
    VeraMethod,
    PrefixMethod,
    PromptMethod,
)
