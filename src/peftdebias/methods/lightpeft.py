"""Light-PEFT: early pruning of the foundation model and of the LoRA module (Gu, Fu, Liu, Shen,
Lin, Wang, Findings of ACL 2024, arXiv 2406.03792; reference code gccnlp/Light-PEFT).

1. Estimation (:meth:`LightPeftMethod.calibrate`, the first ``estimation_steps`` steps of the
   upstream objective): LoRA of rank r on the targets (peft), trained together with learnable
   scalar masks on every attention head h and every feed-forward intermediate dimension j of
   every layer (Masked Early Pruning of the Foundation Model):

       context_h <- m_h context_h        (input of the attention output projection)
       ffn_j     <- m_j act(x W_in + b)_j  (input of the feed-forward down projection)

   under the loss L + lambda (||m_head||_1 + ||m_ffn||_1), lambda = ``l1`` (reference 1e-4).
   m = 1 + s theta with theta trainable and zero at the start: Adam moves theta by about lr
   per step, so m moves by s lr, the reference's mask learning rates (s = 100 for heads, 50
   for FFN dims). The L1 gradient lambda s sign(m) is added to theta's gradient by a hook, so
   any ``train_fn`` and loss work unchanged. Meanwhile (Multi-Granularity Early Pruning of
   PEFT) the first-order Taylor importance of LoRA rank k (A: r x d_in, B: d_out x r),

       I_k = |mean_j (A * dL/dA)_kj| + |mean_i (B * dL/dB)_ik|,

   is recorded at every step and averaged over the second half of the estimation steps.
2. Pruning (:func:`plan_pruning`): in every layer the round(``head_ratio`` H) heads with the
   smallest m_h (reference: layer-wise); over all layers the round(``ffn_ratio`` L I) FFN
   dimensions with the smallest m_j (reference: global); over all LoRA targets the
   round(``rank_ratio`` x all ranks) ranks with the smallest I_k (reference: global; a target
   left without ranks loses its LoRA). At least one head per layer and one rank overall stay.
   The masks are then discarded (kept units continue at their pretrained weights) and the
   LoRA continues from its estimation values on the kept ranks, with alpha scaled by
   r_kept / r so that the update (alpha / r) B A of the kept ranks is unchanged.
3. Continued training (:meth:`~peftdebias.methods.base.DebiasMethod.attach`): the pruned model
   and LoRA. Pruning is physical: each pruned Linear's weight (and bias) is re-parametrised as
   W[rows][:, cols] (:class:`PrunedView`), so the matrix products run at the pruned size while
   the full pretrained tensor stays a frozen, bit-identical backbone parameter.

The artefact (``adapter_config.json`` + ``adapter_model.safetensors``) is the rank-pruned LoRA
at the shapes of the WHOLE model (zeros on pruned heads / FFN dims), a plain peft LoRA
(``rank_pattern``, ``alpha_pattern``); ``module.json`` records the pruning
(``backend.pruning``). Loading (the downstream phase) prunes the fresh model as recorded, so the
module runs in the model it was trained in, with identical outputs; :func:`unprune` gives the
whole model with the rank-pruned LoRA instead (as does ``PeftModel.from_pretrained``, which
knows nothing of the pruning).

Not carried over: the reference's coarse module pruning by the importance ratio
||B A x|| / ||W x|| (here a LoRA target is dropped only when it loses every rank) and its
bottleneck-adapter variant; only BERT-style layers (BERT, RoBERTa: ``attention.self.query``,
``key``, ``value``, ``attention.output.dense``, ``intermediate.dense``, ``output.dense``) are
pruned.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from peft import LoraConfig, PeftConfig, get_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from torch import nn
from torch.nn.utils import parametrize
from transformers import PreTrainedModel

from ..errors import ConfigError
from .base import MODULE_CONFIG, TrainFn, backbone, module_parameters, register_method, unwrap
from .peft_methods import LoraMethod, LoraSettings

HEAD_MASK_SCALE = 100.0  # reference attn_mask_lr_coef
FFN_MASK_SCALE = 50.0  # reference ffn_mask_lr_coef
MASKS_ATTR = "light_peft_masks"  # the estimation masks, a child of the encoder meanwhile
PRUNING_ATTR = "_peftdebias_light_peft_pruning"  # the pruning record of a pruned model
# the Linear layers of a BERT-style encoder layer that Light-PEFT prunes
QKV = ("attention.self.query", "attention.self.key", "attention.self.value")
ATTENTION_OUTPUT = "attention.output.dense"
FFN_IN = "intermediate.dense"
FFN_OUT = "output.dense"


@dataclasses.dataclass
class LightPeftSettings(LoraSettings):
    """Light-PEFT over LoRA (r, alpha, dropout, targets as ``lora``): prune ``head_ratio`` of
    the attention heads of every layer, ``ffn_ratio`` of all FFN intermediate dimensions and
    ``rank_ratio`` of all LoRA ranks (reference: 1/3, 1/3, 1/2), estimated over
    ``estimation_steps`` steps with the masks' L1 coefficient ``l1`` (reference 1e-4)."""

    head_ratio: float = 1 / 3
    ffn_ratio: float = 1 / 3
    rank_ratio: float = 0.5
    estimation_steps: int = 32
    l1: float = 1e-4


@dataclasses.dataclass
class PruningPlan:
    """What is pruned: per layer the heads and FFN dimensions, per LoRA target (name in the
    transformers model) the ranks kept, in the estimation LoRA's order (empty: no LoRA)."""

    heads: list[list[int]]
    ffn_dims: list[list[int]]
    ranks: dict[str, list[int]]

    @classmethod
    def from_record(cls, record: Any, path: Path) -> PruningPlan:
        """The plan of a ``module.json`` pruning record, with a clear error if malformed."""

        def ints(value: Any) -> bool:
            return isinstance(value, list) and all(isinstance(i, int) for i in value)

        try:
            plan = cls(record["heads"], record["ffn_dims"], record["ranks"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path} has no valid Light-PEFT pruning record: {exc}") from exc
        shaped = isinstance(plan.heads, list) and isinstance(plan.ffn_dims, list)
        if not (
            shaped
            and isinstance(plan.ranks, dict)
            and all(ints(v) for v in [*plan.heads, *plan.ffn_dims, *plan.ranks.values()])
        ):
            raise ConfigError(f"{path}: the Light-PEFT pruning record is malformed")
        return plan


@dataclasses.dataclass
class Estimate:
    """What the estimation phase measured: mask values (layers x units; None when that kind is
    not pruned), rank importances and the LoRA (A, B) per target, at the end of the phase."""

    head_masks: torch.Tensor | None
    ffn_masks: torch.Tensor | None
    rank_importance: dict[str, torch.Tensor]
    lora: dict[str, tuple[torch.Tensor, torch.Tensor]]


class ScalarMasks(nn.Module):
    """m = 1 + scale theta, one row of ``units`` masks per layer (theta trainable, zero at the
    start); the gradient lambda scale sign(m) of lambda ||m||_1 is added to theta's by a hook.
    :meth:`scale_input` multiplies a Linear's input by a layer's masks, each unit covering
    ``width`` consecutive input features (a head's dimensions, or one FFN dimension)."""

    def __init__(
        self, layers: int, units: int, width: int, scale: float, l1: float, device: torch.device
    ) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(layers, units, device=device))
        self.scale, self.width = scale, width
        self.theta.register_hook(
            lambda grad: grad + l1 * scale * torch.sign(1.0 + scale * self.theta.detach())
        )

    def values(self) -> torch.Tensor:
        return 1.0 + self.scale * self.theta

    def scale_input(self, linear: nn.Module, layer: int) -> torch.utils.hooks.RemovableHandle:
        def hook(module: nn.Module, args: tuple) -> tuple:
            mask = self.values()[layer].repeat_interleave(self.width)
            return (args[0] * mask.to(args[0].dtype), *args[1:])

        return linear.register_forward_pre_hook(hook)


class RankImportance:
    """Records I_k (module docstring) of every rank of every LoRA layer at each backward pass,
    by post-accumulate-grad hooks on A and B (as the reference, after backward, before the
    optimizer step)."""

    def __init__(self, layers: dict[str, LoraLayer]) -> None:
        self.steps: dict[str, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        self.handles = []
        for name, layer in layers.items():
            self.steps[name] = ([], [])
            for slot, (part, dim) in enumerate(((layer.lora_A, 1), (layer.lora_B, 0))):
                weight = part["default"].weight
                self.handles.append(
                    weight.register_post_accumulate_grad_hook(self._hook(name, slot, dim))
                )

    def _hook(self, name: str, slot: int, dim: int):
        def hook(param: torch.Tensor) -> None:
            self.steps[name][slot].append((param.detach() * param.grad).mean(dim).abs().float())

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def scores(self) -> dict[str, torch.Tensor]:
        """Mean of I_k over the second half of the steps (NaN/inf -> 0, as the reference);
        summed over processes under ``torch.distributed``, so all select the same ranks."""
        passes = min((len(a) for a, _ in self.steps.values()), default=0)
        if passes == 0:
            raise ConfigError("lightpeft: the estimation ran no backward pass (0 steps?)")
        result = {}
        for name, (a, b) in self.steps.items():
            half = slice(passes // 2, passes)
            score = torch.stack(a[half]).mean(0) + torch.stack(b[half]).mean(0)
            result[name] = torch.nan_to_num(score, nan=0.0, posinf=0.0, neginf=0.0)
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(result[name])
        return result


class PrunedView(nn.Module):
    """Parametrisation W -> W[rows][:, cols] (a bias: b -> b[rows]) of a structurally pruned
    Linear: the full tensor stays the (frozen, bit-identical) parameter, the products run at
    the pruned size. ``rows`` / ``cols``: the kept indices (None: that axis is not pruned)."""

    def __init__(self, rows: torch.Tensor | None, cols: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.rows is not None:
            tensor = tensor.index_select(0, self.rows)
        if self.cols is not None:
            tensor = tensor.index_select(1, self.cols)
        return tensor


def _linear(module: nn.Module) -> nn.Module:
    """The Linear itself, or the one a peft LoRA layer wraps."""
    return module.get_base_layer() if isinstance(module, LoraLayer) else module


def encoder_layers(model: nn.Module) -> list[nn.Module]:
    """The layers of a BERT-style encoder (``encoder.layer``) with every Linear Light-PEFT
    prunes; ConfigError for other architectures."""
    layers = getattr(getattr(backbone(model), "encoder", None), "layer", None)
    parts = (*QKV, ATTENTION_OUTPUT, FFN_IN, FFN_OUT)

    def linear(layer: nn.Module, part: str) -> bool:
        try:
            return isinstance(_linear(layer.get_submodule(part)), nn.Linear)
        except AttributeError:
            return False

    if not layers or not all(linear(layer, part) for layer in layers for part in parts):
        raise ConfigError(
            f"method 'lightpeft' prunes BERT-style encoder layers ({', '.join(parts)}); "
            f"{type(unwrap(model)).__name__} has none (use BERT or RoBERTa)"
        )
    return list(layers)


def _lowest(scores: torch.Tensor, count: int) -> list[int]:
    """Positions of the ``count`` smallest entries (the earlier on ties), ascending."""
    return sorted(torch.argsort(scores.flatten().cpu(), stable=True)[:count].tolist())


def plan_pruning(estimate: Estimate, settings: LightPeftSettings, layers: int) -> PruningPlan:
    """Heads per layer, FFN dimensions globally, LoRA ranks globally (module docstring)."""
    heads: list[list[int]] = [[] for _ in range(layers)]
    ffn_dims: list[list[int]] = [[] for _ in range(layers)]
    if estimate.head_masks is not None:
        n = estimate.head_masks.shape[1]
        count = min(round(settings.head_ratio * n), n - 1)
        heads = [_lowest(row, count) for row in estimate.head_masks]
    if estimate.ffn_masks is not None:
        width = estimate.ffn_masks.shape[1]
        for position in _lowest(estimate.ffn_masks, round(settings.ffn_ratio * layers * width)):
            ffn_dims[position // width].append(position % width)
    names = list(estimate.rank_importance)
    flat = torch.cat([estimate.rank_importance[n] for n in names])
    pruned = set(_lowest(flat, min(round(settings.rank_ratio * len(flat)), len(flat) - 1)))
    ranks, offset = {}, 0
    for name in names:
        size = len(estimate.rank_importance[name])
        ranks[name] = [k for k in range(size) if offset + k not in pruned]
        offset += size
    return PruningPlan(heads, ffn_dims, ranks)


def _kept(pruned: list[int], units: int, width: int, what: str) -> torch.Tensor | None:
    """Kept feature indices when ``pruned`` units of ``width`` features each are removed."""
    if not pruned:
        return None
    if min(pruned) < 0 or max(pruned) >= units or len(set(pruned)) != len(pruned):
        raise ConfigError(f"lightpeft: invalid pruned {what} {pruned} (the model has {units})")
    dropped = set(pruned)
    keep = [u for u in range(units) if u not in dropped]
    return torch.tensor([u * width + j for u in keep for j in range(width)], dtype=torch.long)


def _slice_parameter(linear: nn.Linear, index: torch.Tensor | None, dim: int) -> None:
    """Replace ``linear.weight`` by its ``index`` slice along ``dim`` (a LoRA A or B)."""
    if index is None:
        return
    weight = linear.weight
    sliced = weight.detach().index_select(dim, index.to(weight.device)).clone()
    linear.weight = nn.Parameter(sliced, requires_grad=weight.requires_grad)
    linear.out_features, linear.in_features = sliced.shape


def _prune_linear(module: nn.Module, rows: torch.Tensor | None, cols: torch.Tensor | None) -> int:
    """Prune a Linear (or a LoRA layer and its Linear) to ``rows`` x ``cols``; returns the
    number of pretrained entries removed."""
    if rows is None and cols is None:
        return 0
    linear = _linear(module)
    device = linear.weight.device
    rows = None if rows is None else rows.to(device)
    cols = None if cols is None else cols.to(device)
    before = linear.weight.numel() + (linear.bias.numel() if linear.bias is not None else 0)
    if isinstance(module, LoraLayer):
        for adapter in module.lora_A:
            _slice_parameter(module.lora_A[adapter], cols, 1)
            _slice_parameter(module.lora_B[adapter], rows, 0)
    parametrize.register_parametrization(linear, "weight", PrunedView(rows, cols), unsafe=True)
    if linear.bias is not None and rows is not None:
        parametrize.register_parametrization(linear, "bias", PrunedView(rows, None), unsafe=True)
    linear.out_features, linear.in_features = linear.weight.shape
    if isinstance(module, LoraLayer):
        module.out_features, module.in_features = linear.weight.shape
    return before - linear.weight.numel() - (linear.bias.numel() if linear.bias is not None else 0)


def _view(linear: nn.Module) -> PrunedView | None:
    if not parametrize.is_parametrized(linear, "weight"):
        return None
    return next((v for v in linear.parametrizations.weight if isinstance(v, PrunedView)), None)


def prune(model: nn.Module, plan: PruningPlan) -> nn.Module:
    """Physically prune ``model`` (with or without its LoRA) as ``plan`` says, in place; the
    record (plan and counts) is kept on the model for saving."""
    layers = encoder_layers(model)
    if len(plan.heads) != len(layers) or len(plan.ffn_dims) != len(layers):
        raise ConfigError(f"lightpeft: the pruning plan is for another depth than {len(layers)}")
    if any(_view(_linear(m)) is not None for m in unwrap(model).modules()):
        raise ConfigError("lightpeft: the model is pruned already")
    config = unwrap(model).config
    heads = config.num_attention_heads
    head_dim = config.hidden_size // heads
    removed = 0
    for layer, pruned_heads, pruned_dims in zip(layers, plan.heads, plan.ffn_dims, strict=True):
        if len(pruned_heads) >= heads:
            raise ConfigError("lightpeft: a layer must keep at least one attention head")
        rows = _kept(pruned_heads, heads, head_dim, "heads")
        for name in QKV:
            removed += _prune_linear(layer.get_submodule(name), rows, None)
        removed += _prune_linear(layer.get_submodule(ATTENTION_OUTPUT), None, rows)
        width = _linear(layer.get_submodule(FFN_IN)).out_features
        dims = _kept(pruned_dims, width, 1, "FFN dimensions")
        removed += _prune_linear(layer.get_submodule(FFN_IN), dims, None)
        removed += _prune_linear(layer.get_submodule(FFN_OUT), None, dims)
    module_ids = {id(p) for p in module_parameters(model).values()}
    encoder = sum(p.numel() for p in backbone(model).parameters() if id(p) not in module_ids)
    total_ranks = sum(len(r) for r in plan.ranks.values())
    record = {
        **dataclasses.asdict(plan),
        "pruned": {
            "heads": sum(map(len, plan.heads)) / (heads * len(layers)),
            "ffn_dims": sum(map(len, plan.ffn_dims)) / (width * len(layers)),
            "lora_targets_removed": sum(not r for r in plan.ranks.values()),
            "ranks_kept": total_ranks,
            "backbone_parameters": removed,
            "backbone_fraction": removed / encoder,
        },
    }
    setattr(unwrap(model), PRUNING_ATTR, record)
    return model


def _expand(tensor: torch.Tensor, index: torch.Tensor | None, size: int, dim: int):
    """``tensor`` placed at ``index`` along ``dim`` of a zero tensor of length ``size``."""
    if index is None:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = size
    return tensor.new_zeros(shape).index_copy(dim, index, tensor)


def _whole_lora(layer: LoraLayer) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) of a LoRA layer at the shapes of its unpruned Linear (zeros where pruned)."""
    a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    linear = _linear(layer)
    view = _view(linear)
    if view is None:
        return a, b
    d_out, d_in = linear.parametrizations.weight.original.shape
    return _expand(a, view.cols, d_in, 1), _expand(b, view.rows, d_out, 0)


def unprune(model: nn.Module) -> nn.Module:
    """Undo the pruning of a Light-PEFT model in place: the whole foundation model with the
    rank-pruned LoRA, which leaves the pruned heads and FFN dimensions unchanged (its A / B
    are zero there). The pruning record stays, so saving writes the same artefact."""
    for module in list(unwrap(model).modules()):
        linear = _linear(module)
        if _view(linear) is None:  # not pruned, or the Linear of a LoRA layer undone already
            continue
        if isinstance(module, LoraLayer):
            for part, tensor in zip(
                (module.lora_A, module.lora_B), _whole_lora(module), strict=True
            ):
                old = part["default"].weight
                part["default"].weight = nn.Parameter(tensor.detach().clone(), old.requires_grad)
                part["default"].out_features, part["default"].in_features = tensor.shape
        for name in ("weight", "bias"):
            if parametrize.is_parametrized(linear, name):
                parametrize.remove_parametrizations(linear, name, leave_parametrized=False)
        linear.out_features, linear.in_features = linear.weight.shape
        if isinstance(module, LoraLayer):
            module.out_features, module.in_features = linear.weight.shape
    return model


@register_method
class LightPeftMethod(LoraMethod):
    name = "lightpeft"
    display_name = "Light-PEFT"
    help = "Light-PEFT: LoRA r=8 + early pruning of heads, FFN dims and LoRA ranks"
    order = 180
    config_class = LightPeftSettings
    requires_calibration = True

    def __init__(self, config: LightPeftSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        for option in ("head_ratio", "ffn_ratio", "rank_ratio"):
            value = getattr(c, option)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"lightpeft: {option} must lie in [0, 1), got {value!r}")
        if c.r < 1 or c.estimation_steps < 1:
            raise ConfigError("lightpeft: r and estimation_steps must be at least 1")
        if not c.l1 >= 0.0:
            raise ConfigError(f"lightpeft: l1 must be >= 0, got {c.l1!r}")
        self.estimate: Estimate | None = None
        self.plan: PruningPlan | None = None

    @property
    def calibration_steps(self) -> int:
        return self.config.estimation_steps

    def calibrate(self, model: PreTrainedModel, train_fn: TrainFn) -> None:
        """The estimation phase (module docstring) on ``model`` + full-rank LoRA + masks, then
        :func:`plan_pruning`; ``model`` comes back unchanged (LoRA and masks removed)."""
        c = self.config
        layers = encoder_layers(model)
        flags = {n: p.requires_grad for n, p in model.named_parameters()}
        device = next(model.parameters()).device
        heads = model.config.num_attention_heads
        head_dim = model.config.hidden_size // heads
        ffn = _linear(layers[0].get_submodule(FFN_IN)).out_features
        wrapped = self._wrap(model, self.peft_config())
        lora = {n: m for n, m in model.named_modules() if isinstance(m, LoraLayer)}
        masks = nn.ModuleDict()
        if c.head_ratio > 0:
            masks["heads"] = ScalarMasks(
                len(layers), heads, head_dim, HEAD_MASK_SCALE, c.l1, device
            )
        if c.ffn_ratio > 0:
            masks["ffn"] = ScalarMasks(len(layers), ffn, 1, FFN_MASK_SCALE, c.l1, device)
        backbone(model).add_module(MASKS_ATTR, masks)
        handles = [
            masks[kind].scale_input(layer.get_submodule(part), i)
            for kind, part in (("heads", ATTENTION_OUTPUT), ("ffn", FFN_OUT))
            if kind in masks
            for i, layer in enumerate(layers)
        ]
        importance = RankImportance(lora)
        try:
            for param in wrapped.parameters():
                param.requires_grad_(False)
            for param in (*module_parameters(wrapped).values(), *masks.parameters()):
                param.requires_grad_(True)
            train_fn(wrapped)
            self.estimate = Estimate(
                head_masks=masks["heads"].values().detach().clone() if "heads" in masks else None,
                ffn_masks=masks["ffn"].values().detach().clone() if "ffn" in masks else None,
                rank_importance=importance.scores(),
                lora={
                    n: tuple(t.detach().clone() for t in _whole_lora(m)) for n, m in lora.items()
                },
            )
            self.plan = plan_pruning(self.estimate, c, len(layers))
        finally:
            importance.remove()
            for handle in handles:
                handle.remove()
            delattr(backbone(model), MASKS_ATTR)
            wrapped.unload()
            for name, param in model.named_parameters():
                param.requires_grad_(flags[name])

    def pruned_peft_config(self, ranks: dict[str, list[int]]) -> PeftConfig:
        """LoRA on the targets that keep ranks, rank r_kept and alpha * r_kept / r each."""
        c = self.config
        kept = {name: len(k) for name, k in ranks.items() if k}
        pattern = {re.escape(name): r for name, r in kept.items() if r != c.r}
        return LoraConfig(
            r=c.r,
            lora_alpha=c.alpha,
            lora_dropout=c.dropout,
            target_modules=sorted(kept),
            rank_pattern=pattern,
            alpha_pattern={key: c.alpha * r / c.r for key, r in pattern.items()},
        )

    def _attach(self, model: PreTrainedModel) -> nn.Module:
        if self.plan is None or self.estimate is None:
            raise ConfigError(
                "method 'lightpeft' needs calibrate(model, train_fn) (the estimation phase) "
                "before attach(), or a saved module to load"
            )
        model = self._wrap(model, self.pruned_peft_config(self.plan.ranks))
        with torch.no_grad():
            for name, ranks in self.plan.ranks.items():
                if not ranks:
                    continue
                layer = unwrap(model).get_submodule(name)
                kept = torch.tensor(ranks, dtype=torch.long)
                a, b = self.estimate.lora[name]
                layer.lora_A["default"].weight.copy_(a[kept])
                layer.lora_B["default"].weight.copy_(b[:, kept])
        return prune(model, self.plan)

    def _state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        state = get_peft_model_state_dict(model)
        for key in state:
            path, part, _ = key.rsplit(".", 2)
            a, b = _whole_lora(model.get_submodule(path))
            state[key] = a if part == "lora_A" else b
        return state

    def _backend_record(self, model: nn.Module) -> dict[str, Any]:
        return {**super()._backend_record(model), "pruning": getattr(unwrap(model), PRUNING_ATTR)}

    def _load(self, model: PreTrainedModel, folder: Path, record: dict[str, Any]) -> nn.Module:
        path = folder / MODULE_CONFIG
        plan = PruningPlan.from_record(record.get("backend", {}).get("pruning"), path)
        return prune(super()._load(model, folder, record), plan)
