"""Finite scalar quantization (Mentzer et al. 2023), exactly as the paper's appendix.

Each channel is bounded with tanh to ``levels[i]`` values and rounded; the implicit
codebook is the grid of size ``prod(levels)``, so there is nothing to learn, collapse
or restart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from tokenizers_zoo.quantizers.base import (
    Quantizer,
    QuantizerOutput,
    check_indices,
    full_precision,
    make_projection,
    straight_through,
    usage_metrics,
)

FSQVariant = Literal["paper", "vector-quantize-pytorch"]
_USAGE_METRICS_MAX_CODES = 1 << 20


class FSQ(Quantizer):
    """``levels`` per channel; index = mixed radix with channel 0 least significant.

    ``variant="paper"`` bounds with ``half_l = (L - 1)(1 - eps) / 2`` and
    ``shift = tan(offset / half_l)`` as in the paper's code. vector-quantize-pytorch
    uses ``(1 + eps)`` and ``atanh``, which moves a few rounding boundaries;
    ``variant="vector-quantize-pytorch"`` reproduces it so converted models keep their
    ids. Rounded values are clamped to the grid, so no index is ever out of range.
    """

    def __init__(
        self,
        levels: Sequence[int],
        dim: int | None = None,
        *,
        eps: float = 1e-3,
        variant: FSQVariant = "paper",
        projection_bias: bool = True,
    ) -> None:
        super().__init__()
        levels = [int(level) for level in levels]
        if not levels or min(levels) < 2:
            raise ValueError(f"levels must be a non-empty list of integers >= 2, got {levels}")
        if variant not in ("paper", "vector-quantize-pytorch"):
            raise ValueError(f"unknown FSQ variant {variant!r}")
        self.levels = levels
        self.eps = eps
        self.variant = variant
        self.codebook_dim = len(levels)
        self.dim = dim or self.codebook_dim
        self.project_in = make_projection(self.dim, self.codebook_dim, projection_bias)
        self.project_out = make_projection(self.codebook_dim, self.dim, projection_bias)
        lv = torch.tensor(levels, dtype=torch.float64)
        half_width = torch.floor(lv / 2)
        if variant == "paper":
            half_l = (lv - 1) * (1 - eps) / 2
        else:
            half_l = (lv - 1) * (1 + eps) / 2
        offset = torch.where(lv % 2 == 0, 0.5, 0.0)
        shift = torch.tan(offset / half_l) if variant == "paper" else torch.atanh(offset / half_l)
        basis = torch.cumprod(torch.tensor([1] + levels[:-1], dtype=torch.int64), 0)
        for name, value in [
            ("_levels", lv.float()),
            ("_half_width", half_width.float()),
            ("_half_l", half_l.float()),
            ("_offset", offset.float()),
            ("_shift", shift.float()),
        ]:
            self.register_buffer(name, value, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def bound(self, z: Tensor) -> Tensor:
        return torch.tanh(z + self._shift) * self._half_l - self._offset

    def forward(self, x: Tensor) -> QuantizerOutput:
        self.check_input(x)
        with full_precision(x):
            z = self.project_in(x.float())
            bounded = self.bound(z)
            rounded = torch.round(bounded).clamp(-self._half_width, self._levels - 1 - self._half_width)
            codes = rounded / self._half_width
            indices = ((rounded + self._half_width).long() * self._basis).sum(-1)
            if torch.is_grad_enabled() and bounded.requires_grad:
                codes = straight_through(bounded / self._half_width, codes)
            quantized = self.project_out(codes).to(x.dtype)
        metrics = (
            usage_metrics(indices, self.codebook_size)
            if self.codebook_size <= _USAGE_METRICS_MAX_CODES
            else {}
        )
        return QuantizerOutput(quantized, indices, z.new_zeros(()), metrics)

    def indices_to_level_indices(self, indices: Tensor) -> Tensor:
        """Per-channel digits ``(..., len(levels))``, for factorised output heads."""
        return (indices.long()[..., None] // self._basis) % self._levels.long()

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        check_indices(indices, self.codebook_size, stacked=False)
        with full_precision(indices):
            digits = self.indices_to_level_indices(indices).float()
            return self.project_out((digits - self._half_width) / self._half_width)
