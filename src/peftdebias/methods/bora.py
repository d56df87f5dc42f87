"""BoRA, bi-dimensional weight-decomposed low-rank adaptation (Wang, Fan, Bao, Jiang, Song,
2024, arXiv 2412.06441): DoRA's magnitude/direction split (Liu et al., ICML 2024,
arXiv 2402.09353) applied along both dimensions of the weight.

In torch's layout, W0 is d_out x d_in (``y = x W'^T``); DoRA's magnitude has one entry per
output unit (the paper's "column-wise" norm of its d x k weight with k = d_out; peft's
``lora_magnitude_vector`` has ``out_features`` entries). With the LoRA direction update
V = W0 + (alpha / r) B A:

    V_1 = diag(m_out / ||V||_out) V            ||V||_out[i]  = ||V[i, :]||  (DoRA step)
    W'  = V_1 diag(m_in / ||V_1||_in)          ||V_1||_in[j] = ||V_1[:, j]|| (second step)

i.e. W' = m_row ⊙ normalise(m_col ⊙ normalise(W0 + BA)) in the paper's terms: the DoRA
("column", per output unit) normalisation and magnitude first, then the same along the other
dimension (one magnitude per input feature). Trainable: A (r x d_in, Kaiming-uniform), B
(d_out x r, zero), m_out (d_out) and m_in (d_in). Initialisation m_out = ||W0||_out and
m_in = ||V_1||_in at the start, so W' = W0 (up to rounding) before training; the columns of W'
have norms exactly m_in. Unlike peft's DoRA the norms are not detached from the graph (the
DoRA paper's memory-saving approximation); the gradient is exact.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .base import MethodConfig, register_method
from .reparam import LowRankDelta, Reparametrization, ReparamMethod


def bi_normalise(
    direction: torch.Tensor, magnitude_out: torch.Tensor, magnitude_in: torch.Tensor
) -> torch.Tensor:
    """diag(m_out / row norms) V, then · diag(m_in / column norms) of the result."""
    rows = direction * (magnitude_out / direction.norm(dim=1)).unsqueeze(1)
    return rows * (magnitude_in / rows.norm(dim=0)).unsqueeze(0)


class BiDimensionalDecomposition(Reparametrization):
    """W' = bi_normalise(W + (alpha / r) B A, m_out, m_in)."""

    def __init__(self, weight: torch.Tensor, r: int, alpha: float) -> None:
        super().__init__()
        self.lora = LowRankDelta(weight, r, alpha)
        with torch.no_grad():
            magnitude_out = weight.norm(dim=1)
            rows = weight * (magnitude_out / weight.norm(dim=1)).unsqueeze(1)
            magnitude_in = rows.norm(dim=0)
        self.reparam_magnitude_out = nn.Parameter(magnitude_out)
        self.reparam_magnitude_in = nn.Parameter(magnitude_in)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return bi_normalise(
            self.lora(weight), self.reparam_magnitude_out, self.reparam_magnitude_in
        )


@dataclasses.dataclass
class BoraSettings(MethodConfig):
    """BoRA: LoRA direction update of rank r (scaling alpha / r, as the project's ``lora``: r =
    alpha = 8) plus trainable magnitudes per output unit and per input feature, on peft's
    LoRA targets (query and value) unless ``target_modules`` is set."""

    r: int = 8
    alpha: int = 8
    target_modules: list[str] | None = None


@register_method
class BoraMethod(ReparamMethod):
    name = "bora"
    display_name = "BoRA"
    help = "BoRA: LoRA r=8 + magnitudes per output unit and per input feature"
    order = 140
    config_class = BoraSettings

    def __init__(self, config: BoraSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if self.config.r < 1:
            raise ConfigError(f"bora: r must be at least 1, got {self.config.r}")

    def build(self, name: str, weight: torch.Tensor, fresh: bool) -> Reparametrization:
        return BiDimensionalDecomposition(weight, self.config.r, self.config.alpha)
