"""Lookup-free quantization (MAGVIT-v2) and its spherical form BSQ (Zhao et al. 2024).

Each of ``d`` channels is quantized to its sign, giving a 2^d codebook with no table
to search. The entropy loss (per-sample entropy minus ``diversity_gamma`` times
codebook entropy) keeps bits confident and the codebook used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.kernels.scalar import BitOrder, bit_weights, lfq_quantize
from tokenizers_zoo.quantizers.base import (
    Quantizer,
    QuantizerOutput,
    QuantizerSpec,
    check_indices,
    full_precision,
    make_projection,
    straight_through,
)
from tokenizers_zoo.quantizers.entropy import factorised_entropy_terms
from tokenizers_zoo.quantizers.factory import register_quantizer


def entropy_terms(logits: Tensor, group_bits: int) -> tuple[Tensor, Tensor]:
    """Mean per-sample and codebook entropy for bits with log-odds ``logits (N, d)``,
    the codebook term exact within groups of ``group_bits`` bits (see
    ``factorised_entropy_terms``)."""
    p = torch.sigmoid(logits)
    bits = [torch.stack([1 - bit, bit], -1) for bit in p.unbind(-1)]
    return factorised_entropy_terms(bits, 2**group_bits)


def codebook_bits(dim: int | None, codebook_size: int | None) -> int:
    """Bits per id: ``log2(codebook_size)``, with ``codebook_size = 2 ** dim`` when not
    given; ``ValueError`` unless that is a power of two >= 2."""
    if codebook_size is None:
        if dim is None:
            raise ValueError("give dim or codebook_size")
        codebook_size = 2**dim
    bits = int(math.log2(codebook_size)) if codebook_size > 0 else -1
    if bits < 1 or 2**bits != codebook_size:
        raise ValueError(f"codebook_size must be a power of two >= 2, got {codebook_size}")
    return bits


@register_quantizer("lfq")
class LFQ(Quantizer):
    """Sign quantization; index = sum 2^i [z_i > 0] with channel 0 least significant.

    ``bit_order="msb_first"`` puts channel 0 in the most significant bit instead, as
    vector-quantize-pytorch does; models converted from it use that order so their
    ids stay the same. Zero maps to the negative code.
    """

    spherical = False

    def __init__(
        self,
        dim: int | None = None,
        codebook_size: int | None = None,
        *,
        entropy_loss_weight: float = 0.1,
        diversity_gamma: float = 1.0,
        commitment_weight: float = 0.25,
        inv_temperature: float = 100.0,
        codebook_scale: float = 1.0,
        entropy_group_bits: int = 8,
        bit_order: BitOrder = "lsb_first",
        projection_bias: bool = True,
    ) -> None:
        super().__init__()
        bits = codebook_bits(dim, codebook_size)
        self.codebook_dim = bits
        self.dim = dim or bits
        self._codebook_size = 2**bits
        self.entropy_loss_weight = entropy_loss_weight
        self.diversity_gamma = diversity_gamma
        self.commitment_weight = commitment_weight
        self.inv_temperature = inv_temperature
        self.codebook_scale = codebook_scale
        self.entropy_group_bits = max(1, entropy_group_bits)
        self.bit_order = bit_order
        self.project_in = make_projection(self.dim, bits, projection_bias)
        self.project_out = make_projection(bits, self.dim, projection_bias)
        self.register_buffer("_bit_weights", bit_weights(bits, bit_order), persistent=False)

    @property
    def codebook_size(self) -> int:
        return self._codebook_size

    @classmethod
    def spec_from_arguments(cls, arguments: Mapping[str, Any]) -> QuantizerSpec:
        return QuantizerSpec(2 ** codebook_bits(arguments["dim"], arguments["codebook_size"]))

    @property
    def code_value(self) -> float:
        """Magnitude of every code component."""
        if self.spherical:
            return self.codebook_scale / math.sqrt(self.codebook_dim)
        return self.codebook_scale

    def forward(self, x: Tensor) -> QuantizerOutput:
        self.check_input(x)
        with full_precision(x):
            z = self.project_in(x.float())
            if self.spherical:
                z = F.normalize(z, dim=-1) * self.codebook_scale
            # z is already on the sphere: the kernel only takes signs (and needs z for the loss)
            codes, indices = lfq_quantize(z, codebook_scale=self.code_value, bit_order=self.bit_order)
            loss = z.new_zeros(())
            metrics: dict[str, Tensor] = {}
            if self.commitment_weight > 0:
                loss = loss + self.commitment_weight * F.mse_loss(z, codes)
            if self.training and self.entropy_loss_weight > 0:
                # log p(bit=1)/p(bit=0) for a softmax over -inv_temperature * ||z - c||^2.
                logits = 4 * self.code_value * self.inv_temperature * z.reshape(-1, self.codebook_dim)
                per_sample, codebook = entropy_terms(logits, self.entropy_group_bits)
                loss = loss + self.entropy_loss_weight * (per_sample - self.diversity_gamma * codebook)
                metrics = {"per_sample_entropy": per_sample.detach(), "codebook_entropy": codebook.detach()}
            if torch.is_grad_enabled() and z.requires_grad:
                codes = straight_through(z, codes)
            quantized = self.project_out(codes).to(x.dtype)
        return QuantizerOutput(quantized, indices, loss, metrics)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        check_indices(indices, self.codebook_size, stacked=False)
        with full_precision(indices):
            bits = (indices.long()[..., None] & self._bit_weights) != 0
            value = self.code_value
            codes = torch.where(bits, value, -value).float()
            return self.project_out(codes)


@register_quantizer("bsq")
class BSQ(LFQ):
    """Binary spherical quantization: project to the unit sphere, then ``sign / sqrt(d)``.

    Every code has norm ``codebook_scale``, which bounds the quantization error and
    lets the codebook grow to 2^d without the LFQ error growing with d.
    """

    spherical = True
