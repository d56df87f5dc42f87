"""ETHER and ETHER+ (Bini, Roth, Akata, Khoreva, ICML 2024, arXiv 2405.20271): hyperplane
reflections of frozen weights.

For a target weight W (d_out x d_in, ``y = x W'^T``), the input dimension is split into
``n_blocks`` equal blocks and each block b gets one trainable vector u_b (and v_b for ETHER+):

    ETHER:   H_b  = I - 2 u_b u_b^T / ||u_b||^2                      (a Householder reflection)
    ETHER+:  H_b+ = I - u_b u_b^T / ||u_b||^2 + v_b v_b^T / ||v_b||^2
    W' = W · diag(H_1, ..., H_n)                                     (input side)
    ETHER+, two_sided: W' = diag(G_1, ..., G_m) · W · diag(H_1+, ..., H_n+), with G_c the ETHER+
    transform of the output dimension (m = n_blocks output blocks; vectors u'_c, v'_c).

As in the reference implementation (github.com/mwbini/ether, ``ETHERLinear``: ``filt @ H`` with
``filt`` the d_out x d_in weight, ``nb`` = 1, query and value layers by default), u is
Kaiming-uniform initialised and v = -u, so ETHER+ starts at H+ = I exactly up to rounding while
ETHER starts at a random reflection: ||H - I||_F = 2 per block, whatever u — the bounded distance
from the pretrained weight the paper argues makes it robust to the learning rate. ETHER+ drops
orthogonality (the two rank-one terms need not cancel) but keeps ||H+ - I|| <= 2. H is never
formed: per block, W_b H_b = W_b - 2 (W_b û_b) û_b^T with û = u / ||u|| (O(d_out d_in)).

Difference from HRA (peft ``hra``, Yuan et al. 2024, arXiv 2405.17484): HRA multiplies W by a
*chain* of r reflections H_1 ... H_r over the whole input dimension (r vectors, initialised in
equal pairs so that the chain starts at I, optionally orthogonalised by Gram-Schmidt); ETHER uses
*one* reflection per block (block-diagonal, n_blocks only changes the cost, not the count of
parameters: d_in per layer), starts away from the identity, and ETHER+ replaces the reflection
by the non-orthogonal I - ûû^T + v̂v̂^T.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .base import MethodConfig, register_method
from .reparam import Reparametrization, ReparamMethod


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    """Rows of ``vectors`` (n x b) scaled to unit length."""
    return vectors / vectors.norm(dim=1, keepdim=True)


def input_term(weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(W_b û_b) û_b^T for every input block b (u: n_blocks x block), as a d_out x d_in matrix,
    so that W · diag(I - c û_b û_b^T) = W - c * input_term(W, u)."""
    d_out, d_in = weight.shape
    n, block = u.shape
    unit = _unit(u)
    projected = torch.einsum("onb,nb->on", weight.reshape(d_out, n, block), unit)
    return (projected.unsqueeze(-1) * unit).reshape(d_out, d_in)


def output_term(weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """û_c (û_c^T W_c) for every output block c, so that diag(I - c û_c û_c^T) · W =
    W - c * output_term(W, u)."""
    d_out, d_in = weight.shape
    n, block = u.shape
    unit = _unit(u)
    projected = torch.einsum("nbi,nb->ni", weight.reshape(n, block, d_in), unit)
    return (unit.unsqueeze(-1) * projected.unsqueeze(1)).reshape(d_out, d_in)


def _initial_vectors(n_blocks: int, size: int, like: torch.Tensor) -> torch.Tensor:
    """Kaiming-uniform (a = sqrt 5) n_blocks x size vectors, as the reference implementation."""
    vectors = torch.empty(n_blocks, size, device=like.device, dtype=like.dtype)
    nn.init.kaiming_uniform_(vectors, a=math.sqrt(5))
    return vectors


class EtherReflection(Reparametrization):
    """ETHER: W' = W · diag(I - 2 û_b û_b^T)."""

    def __init__(self, weight: torch.Tensor, n_blocks: int) -> None:
        super().__init__()
        block = weight.shape[1] // n_blocks
        self.reparam_u = nn.Parameter(_initial_vectors(n_blocks, block, weight))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight - 2.0 * input_term(weight, self.reparam_u)


class EtherPlusTransform(Reparametrization):
    """ETHER+: W' = [G+ ·] W · diag(I - û_b û_b^T + v̂_b v̂_b^T), v = -u at the start."""

    def __init__(self, weight: torch.Tensor, n_blocks: int, two_sided: bool) -> None:
        super().__init__()
        d_out, d_in = weight.shape
        u = _initial_vectors(n_blocks, d_in // n_blocks, weight)
        self.reparam_u = nn.Parameter(u)
        self.reparam_v = nn.Parameter(-u.clone())
        self.two_sided = two_sided
        if two_sided:
            u_out = _initial_vectors(n_blocks, d_out // n_blocks, weight)
            self.reparam_u_out = nn.Parameter(u_out)
            self.reparam_v_out = nn.Parameter(-u_out.clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        # W (I - ûû^T + v̂v̂^T) = W - (Wû)û^T + (Wv̂)v̂^T
        out = weight - input_term(weight, self.reparam_u) + input_term(weight, self.reparam_v)
        if self.two_sided:
            out = out - output_term(out, self.reparam_u_out) + output_term(out, self.reparam_v_out)
        return out


@dataclasses.dataclass
class EtherSettings(MethodConfig):
    """ETHER: one Householder reflection per input block of every target weight.

    ``n_blocks`` (reference default 1) splits the input dimension into equal blocks, each with
    its own vector; the parameter count (d_in per layer) does not depend on it.
    ``target_modules=None`` = peft's LoRA targets (query and value, as the reference).
    """

    n_blocks: int = 1
    target_modules: list[str] | None = None


@dataclasses.dataclass
class EtherPlusSettings(EtherSettings):
    """ETHER+: I - ûû^T + v̂v̂^T per input block; ``two_sided`` also transforms the output
    dimension (the reference's ``etherplusHH``; twice the parameters)."""

    two_sided: bool = False


@register_method
class EtherMethod(ReparamMethod):
    name = "ether"
    display_name = "ETHER"
    help = "ETHER: one Householder reflection per block of query/value weights"
    order = 120
    config_class = EtherSettings

    def __init__(self, config: EtherSettings | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if self.config.n_blocks < 1:
            raise ConfigError(f"{self.name}: n_blocks must be at least 1")

    def _check(self, name: str, weight: torch.Tensor) -> None:
        d_out, d_in = weight.shape
        sizes = (d_in, d_out) if getattr(self.config, "two_sided", False) else (d_in,)
        if any(size % self.config.n_blocks for size in sizes):
            raise ConfigError(
                f"{self.name}: n_blocks {self.config.n_blocks} does not divide the dimensions "
                f"{tuple(weight.shape)} of {name}"
            )

    def build(self, name: str, weight: torch.Tensor, fresh: bool) -> Reparametrization:
        self._check(name, weight)
        return EtherReflection(weight, self.config.n_blocks)


@register_method
class EtherPlusMethod(EtherMethod):
    name = "ether+"
    display_name = "ETHER+"
    help = "ETHER+: I - uu^T + vv^T per block (identity at start)"
    order = 130
    config_class = EtherPlusSettings

    def build(self, name: str, weight: torch.Tensor, fresh: bool) -> Reparametrization:
        self._check(name, weight)
        return EtherPlusTransform(weight, self.config.n_blocks, self.config.two_sided)
