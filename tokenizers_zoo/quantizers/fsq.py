"""Finite scalar quantization (Mentzer et al. 2023), exactly as the paper's appendix.

Each channel is bounded with tanh to ``levels[i]`` values and rounded; the implicit
codebook is the grid of size ``prod(levels)``, so there is nothing to learn, collapse
or restart. Nothing spreads the encoder over the grid either: a small model trained on
little data uses a fraction of it. The optional entropy penalty (off by default, as in
the paper) is the one LFQ uses, with each channel softly assigned to its levels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.kernels.scalar import FSQVariant, fsq_constants, fsq_quantize
from tokenizers_zoo.quantizers.base import (
    Quantizer,
    QuantizerOutput,
    QuantizerSpec,
    check_indices,
    full_precision,
    make_projection,
    straight_through,
    usage_metrics,
)
from tokenizers_zoo.quantizers.entropy import factorised_entropy_terms
from tokenizers_zoo.quantizers.factory import register_quantizer

_USAGE_METRICS_MAX_CODES = 1 << 20


@register_quantizer("fsq")
class FSQ(Quantizer):
    """``levels`` per channel; index = mixed radix with channel 0 least significant.

    ``variant="paper"`` bounds with ``half_l = (L - 1)(1 - eps) / 2`` and
    ``shift = tan(offset / half_l)`` as in the paper's code. vector-quantize-pytorch
    uses ``(1 + eps)`` and ``atanh``, which moves a few rounding boundaries;
    ``variant="vector-quantize-pytorch"`` reproduces it so converted models keep their
    ids. Rounded values are clamped to the grid, so no index is ever out of range.

    With ``entropy_loss_weight > 0``, training adds ``weight * (per-sample entropy -
    diversity_gamma * codebook entropy)``, where channel c of a sample takes level l
    with probability ``softmax(-inv_temperature * (bounded_c - l)^2)`` (levels are one
    unit apart in the bounded space). The codebook term is exact within groups of
    channels of at most ``entropy_group_codes`` codes.
    """

    def __init__(
        self,
        levels: Sequence[int],
        dim: int | None = None,
        *,
        eps: float = 1e-3,
        variant: FSQVariant = "paper",
        projection_bias: bool = True,
        entropy_loss_weight: float = 0.0,
        diversity_gamma: float = 1.0,
        inv_temperature: float = 1.0,
        entropy_group_codes: int = 1 << 13,
    ) -> None:
        super().__init__()
        const = fsq_constants(levels, eps, variant)
        self.levels = [int(level) for level in levels]
        self.eps = eps
        self.variant = variant
        self.codebook_dim = len(self.levels)
        self.dim = dim or self.codebook_dim
        self.entropy_loss_weight = entropy_loss_weight
        self.diversity_gamma = diversity_gamma
        self.inv_temperature = inv_temperature
        self.entropy_group_codes = entropy_group_codes
        self.project_in = make_projection(self.dim, self.codebook_dim, projection_bias)
        self.project_out = make_projection(self.codebook_dim, self.dim, projection_bias)
        for name, value in const._asdict().items():
            self.register_buffer(f"_{name}", value, persistent=False)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    @classmethod
    def spec_from_arguments(cls, arguments: Mapping[str, Any]) -> QuantizerSpec:
        return QuantizerSpec(math.prod(int(level) for level in arguments["levels"]))

    def bound(self, z: Tensor) -> Tensor:
        return torch.tanh(z + self._shift) * self._half_l - self._offset

    def forward(self, x: Tensor) -> QuantizerOutput:
        self.check_input(x)
        with full_precision(x):
            z = self.project_in(x.float())
            codes, indices = fsq_quantize(z, self.levels, eps=self.eps, variant=self.variant)
            loss = z.new_zeros(())
            metrics = (
                usage_metrics(indices, self.codebook_size)
                if self.codebook_size <= _USAGE_METRICS_MAX_CODES
                else {}
            )
            if self.training and self.entropy_loss_weight > 0:
                per_sample, codebook = self.entropy_terms(z)
                loss = loss + self.entropy_loss_weight * (per_sample - self.diversity_gamma * codebook)
                metrics |= {"per_sample_entropy": per_sample.detach(), "codebook_entropy": codebook.detach()}
            if torch.is_grad_enabled() and z.requires_grad:
                codes = straight_through(self.bound(z) / self._half_width, codes)
            quantized = self.project_out(codes).to(x.dtype)
        return QuantizerOutput(quantized, indices, loss, metrics)

    def entropy_terms(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample and codebook entropy (nats) of the soft level assignment of ``z``."""
        bounded = self.bound(z).reshape(-1, self.codebook_dim)
        channels = []
        for c, level_count in enumerate(self.levels):
            grid = torch.arange(level_count, device=z.device, dtype=bounded.dtype) - self._half_width[c]
            distance = (bounded[:, c, None] - grid) ** 2
            channels.append(torch.softmax(-self.inv_temperature * distance, dim=-1))
        return factorised_entropy_terms(channels, self.entropy_group_codes)

    def indices_to_level_indices(self, indices: Tensor) -> Tensor:
        """Per-channel digits ``(..., len(levels))``, for factorised output heads."""
        return (indices.long()[..., None] // self._basis) % self._levels.long()

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        check_indices(indices, self.codebook_size, stacked=False)
        with full_precision(indices):
            digits = self.indices_to_level_indices(indices).float()
            return self.project_out((digits - self._half_width) / self._half_width)
