"""Spectral Adapter (Zhang & Pilanci, NeurIPS 2024, arXiv 2405.13952): fine-tune only the top-r
singular vectors of each target weight.

At attach time each target weight W (d_out x d_in) is decomposed, W = U S V^T, and the top-r
singular triplets U_r (d_out x r), S_r (r), V_r (d_in x r) are kept as frozen buffers of the
module (saved with it: singular vectors are defined only up to sign, so recomputing them on
another machine could pair trained offsets with flipped vectors). With the rest of W left as is,

    additive:    W' = W + (U_r + A_U) S_r (V_r + A_V)^T - U_r S_r V_r^T
                    = W + A_U S_r (V_r + A_V)^T + U_r S_r A_V^T
                 A_U (d_out x r) and A_V (d_in x r) trainable, zero at the start (the
                 reference's ``spectral_top``: (U_r + B) S_r (V_r + A^T)^T + the rest);
    rotational:  W' = W + U_r (R_U S_r R_V^T - S_r) V_r^T,  i.e. U_r -> U_r R_U, V_r -> V_r R_V,
                 R = (I - Q)^-1 (I + Q) (Cayley) with Q skew-symmetric, its r(r-1)/2 upper
                 entries trainable and zero at the start (R = I), so R is exactly orthogonal and
                 the singular values of W are kept.

W' = W exactly before training for both variants. Written as W + delta, the backbone weight
stays a trainable parameter downstream (the module frozen): the delta is the one learned on
the pretrained spectrum. Parameters per layer: r (d_out + d_in) additive (LoRA's count at the
same r), r (r - 1) rotational.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .base import MethodConfig, register_method
from .reparam import Reparametrization, ReparamMethod

VARIANTS = ("additive", "rotational")


def cayley(upper: torch.Tensor, size: int) -> torch.Tensor:
    """(I - Q)^-1 (I + Q) for the skew-symmetric Q whose strict upper triangle is ``upper``."""
    rows, cols = torch.triu_indices(size, size, offset=1, device=upper.device)
    q = upper.new_zeros(size, size).index_put((rows, cols), upper)
    q = q - q.T
    eye = torch.eye(size, device=upper.device, dtype=upper.dtype)
    return torch.linalg.solve(eye - q, eye + q)


class SpectralAdapter(Reparametrization):
    """W' = W + (change of the top-r singular part); see the module docstring."""

    def __init__(self, weight: torch.Tensor, r: int, variant: str, fresh: bool) -> None:
        super().__init__()
        d_out, d_in = weight.shape
        kw = {"device": weight.device, "dtype": weight.dtype}
        if fresh:
            u, s, vh = torch.linalg.svd(weight.detach().float(), full_matrices=False)
            u, s, v = u[:, :r], s[:r], vh[:r].T
        else:  # loading: the saved buffers replace these
            u, s, v = torch.zeros(d_out, r), torch.zeros(r), torch.zeros(d_in, r)
        self.register_buffer("spectral_u", u.to(**kw).contiguous())
        self.register_buffer("spectral_s", s.to(**kw).contiguous())
        self.register_buffer("spectral_v", v.to(**kw).contiguous())
        self.variant = variant
        self.r = r
        if variant == "additive":
            self.reparam_delta_u = nn.Parameter(torch.zeros(d_out, r, **kw))
            self.reparam_delta_v = nn.Parameter(torch.zeros(d_in, r, **kw))
        else:
            self.reparam_rotation_u = nn.Parameter(torch.zeros(r * (r - 1) // 2, **kw))
            self.reparam_rotation_v = nn.Parameter(torch.zeros(r * (r - 1) // 2, **kw))

    def delta(self) -> torch.Tensor:
        u, s, v = self.spectral_u, self.spectral_s, self.spectral_v
        if self.variant == "additive":
            a_u, a_v = self.reparam_delta_u, self.reparam_delta_v
            return (a_u * s) @ (v + a_v).T + (u * s) @ a_v.T
        r_u = cayley(self.reparam_rotation_u, self.r)
        r_v = cayley(self.reparam_rotation_v, self.r)
        core = (r_u * s) @ r_v.T - torch.diag(s)
        return u @ core @ v.T

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.delta()


@dataclasses.dataclass
class SpectralSettings(MethodConfig):
    """Spectral Adapter on the top ``r`` singular vectors of every target weight (peft's LoRA
    targets, query and value, unless ``target_modules`` is set); ``variant`` ``additive``
    (trainable offsets to U_r and V_r; r = 8 matches LoRA r = 8's parameter count) or
    ``rotational`` (Cayley-parametrised orthogonal rotations of U_r and V_r; r >= 2)."""

    r: int = 8
    variant: str = "additive"
    target_modules: list[str] | None = None


@register_method
class SpectralMethod(ReparamMethod):
    name = "spectral"
    display_name = "Spectral"
    help = "Spectral Adapter: top-8 singular vectors (variant additive|rotational)"
    order = 150
    config_class = SpectralSettings

    def __init__(self, config: SpectralSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        if c.variant not in VARIANTS:
            raise ConfigError(
                f"spectral: variant must be one of {', '.join(VARIANTS)}, got {c.variant!r}"
            )
        minimum = 2 if c.variant == "rotational" else 1
        if c.r < minimum:
            raise ConfigError(f"spectral ({c.variant}): r must be at least {minimum}, got {c.r}")

    def build(self, name: str, weight: torch.Tensor, fresh: bool) -> Reparametrization:
        if self.config.r > min(weight.shape):
            raise ConfigError(
                f"spectral: r = {self.config.r} exceeds the rank of {name} {tuple(weight.shape)}"
            )
        return SpectralAdapter(weight, self.config.r, self.config.variant, fresh)
