"""Scalar quantizers in one pass: FSQ (bounded rounding) and LFQ/BSQ (signs).

Neither has a codebook to search: each channel is quantized on its own and the index is
a mixed-radix number of the per-channel digits. In torch that is five to eight
elementwise kernels, each reading and writing the whole tensor; the Triton kernels
(``triton_scalar``) read ``z`` once and write codes and indices once. The torch code
here is the reference the quantizers' outputs are defined by, and the CPU path.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.kernels.dispatch import select_backend

FSQVariant = Literal["paper", "vector-quantize-pytorch"]
BitOrder = Literal["lsb_first", "msb_first"]


class FSQConstants(NamedTuple):
    """Per-channel fp32 constants of FSQ's bound; ``basis`` is the int64 mixed radix."""

    levels: Tensor
    half_width: Tensor
    half_l: Tensor
    offset: Tensor
    shift: Tensor
    basis: Tensor


def fsq_constants(levels: Sequence[int], eps: float = 1e-3, variant: FSQVariant = "paper") -> FSQConstants:
    """The paper bounds with ``half_l = (L - 1)(1 - eps) / 2`` and ``shift = tan(offset / half_l)``;
    vector-quantize-pytorch with ``(1 + eps)`` and ``atanh``, which moves a few rounding
    boundaries, so converted models need it to keep their ids. Computed in float64."""
    levels = [int(level) for level in levels]
    if not levels or min(levels) < 2:
        raise ValueError(f"levels must be a non-empty list of integers >= 2, got {levels}")
    if variant not in ("paper", "vector-quantize-pytorch"):
        raise ValueError(f"unknown FSQ variant {variant!r}")
    lv = torch.tensor(levels, dtype=torch.float64)
    half_l = (lv - 1) * ((1 - eps) if variant == "paper" else (1 + eps)) / 2
    offset = torch.where(lv % 2 == 0, 0.5, 0.0)
    shift = torch.tan(offset / half_l) if variant == "paper" else torch.atanh(offset / half_l)
    basis = torch.cumprod(torch.tensor([1] + levels[:-1], dtype=torch.int64), 0)
    return FSQConstants(
        lv.float(), torch.floor(lv / 2).float(), half_l.float(), offset.float(), shift.float(), basis
    )


@functools.lru_cache(maxsize=64)
def _cached_constants(levels: tuple[int, ...], eps: float, variant: str, device: str) -> FSQConstants:
    return FSQConstants(*(t.to(device) for t in fsq_constants(levels, eps, variant)))  # type: ignore[arg-type]


def _check_channels(z: Tensor, channels: int, what: str) -> None:
    if not z.is_floating_point():
        raise ValueError(f"{what} expects a float tensor, got {z.dtype}")
    if z.ndim == 0 or z.shape[-1] != channels:
        raise ValueError(f"{what} expects (..., {channels}) input, got shape {tuple(z.shape)}")


@torch.no_grad()
def fsq_quantize(
    z: Tensor, levels: Sequence[int], *, eps: float = 1e-3, variant: FSQVariant = "paper"
) -> tuple[Tensor, Tensor]:
    """FSQ of ``z (..., len(levels))``: ``codes`` fp32 in [-1, 1] and int64 ``indices (...)``.

    Channel ``i`` is bounded to ``tanh(z + shift) * half_l - offset``, rounded half to
    even, clamped to its ``levels[i]`` values and scaled by ``1 / floor(L / 2)``; the
    index is the mixed-radix number of the digits with channel 0 least significant.
    """
    const = _cached_constants(tuple(int(v) for v in levels), float(eps), variant, str(z.device))
    _check_channels(z, len(const.levels), "fsq_quantize")
    if select_backend(z.device) == "triton":
        from tokenizers_zoo.kernels.triton_scalar import triton_fsq

        return triton_fsq(z, const)
    bounded = torch.tanh(z.float() + const.shift) * const.half_l - const.offset
    rounded = torch.round(bounded).clamp(-const.half_width, const.levels - 1 - const.half_width)
    indices = ((rounded + const.half_width).long() * const.basis).sum(-1)
    return rounded / const.half_width, indices


def bit_weights(bits: int, bit_order: BitOrder, device: torch.device | str = "cpu") -> Tensor:
    """``2^i`` for channel ``i`` (``lsb_first``) or ``2^(bits-1-i)`` (``msb_first``,
    vector-quantize-pytorch's order)."""
    if bit_order not in ("lsb_first", "msb_first"):
        raise ValueError(f"unknown bit_order {bit_order!r}")
    weights = 2 ** torch.arange(bits, dtype=torch.int64, device=device)
    return weights.flip(0) if bit_order == "msb_first" else weights


@torch.no_grad()
def lfq_quantize(
    z: Tensor,
    spherical: bool = False,
    *,
    codebook_scale: float = 1.0,
    bit_order: BitOrder = "lsb_first",
) -> tuple[Tensor, Tensor]:
    """LFQ (or BSQ when ``spherical``) of ``z (..., d)``: ``codes`` fp32 and int64 ``indices``.

    Each channel becomes ``+v`` if it is positive (after projecting ``z`` to the sphere
    of radius ``codebook_scale`` when ``spherical``) and ``-v`` otherwise, zero included;
    ``v`` is ``codebook_scale``, or ``codebook_scale / sqrt(d)`` on the sphere. The index
    sets bit ``i`` for a positive channel ``i``.
    """
    if z.ndim == 0:
        raise ValueError("lfq_quantize expects (..., d) input, got a scalar")
    bits = z.shape[-1]
    _check_channels(z, bits, "lfq_quantize")
    if not 1 <= bits <= 62:
        raise ValueError(f"lfq_quantize handles 1..62 channels (int64 indices), got {bits}")
    if codebook_scale <= 0:
        raise ValueError(f"codebook_scale must be positive, got {codebook_scale}")
    value = codebook_scale / math.sqrt(bits) if spherical else codebook_scale
    weights = bit_weights(bits, bit_order, z.device)
    if select_backend(z.device) == "triton":
        from tokenizers_zoo.kernels.triton_scalar import triton_lfq

        return triton_lfq(z, weights, value, spherical=spherical, scale=codebook_scale)
    z = z.float()
    if spherical:
        z = F.normalize(z, dim=-1) * codebook_scale
    positive = z > 0
    return torch.where(positive, value, -value), (positive.long() * weights).sum(-1)
