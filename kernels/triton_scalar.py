"""FSQ and LFQ/BSQ in Triton: read ``z`` once, write codes and indices once.

FSQ's outputs must equal the torch reference (``scalar.fsq_quantize``) bit for bit, or
an id flips at a rounding boundary. So the kernel does the same fp32 operations in the
same order, compiled with FMA contraction off (torch rounds after the multiply), with
CUDA's ``tanhf`` and round-half-to-even (``rint``) from libdevice, which is also what
torch's CUDA kernels call. The interpreter cannot call libdevice; there ``tanh`` is
``1 - 2 / (exp(2y) + 1)`` (a few 1e-8 off, enough to flip only values within that of
a boundary) and ``rint`` is written out with ``floor``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

from tokenizers_zoo.kernels.scalar import FSQConstants
from tokenizers_zoo.kernels.triton_runtime import TritonKernel


def _fsq(
    z_ptr,
    codes_ptr,
    indices_ptr,
    n,
    channels,
    stride_zn,
    stride_zc,
    shift_ptr,
    half_l_ptr,
    offset_ptr,
    half_width_ptr,
    levels_ptr,
    basis_ptr,
    LIBDEVICE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rows64 = rows.to(tl.int64)
    ch = tl.arange(0, BLOCK_C)
    ch_ok = ch < channels
    mask = (rows < n)[:, None] & ch_ok[None, :]
    z = tl.load(z_ptr + rows64[:, None] * stride_zn + ch[None, :] * stride_zc, mask=mask, other=0.0)
    shift = tl.load(shift_ptr + ch, mask=ch_ok, other=0.0)[None, :]
    half_l = tl.load(half_l_ptr + ch, mask=ch_ok, other=0.0)[None, :]
    offset = tl.load(offset_ptr + ch, mask=ch_ok, other=0.0)[None, :]
    half_width = tl.load(half_width_ptr + ch, mask=ch_ok, other=1.0)[None, :]
    levels = tl.load(levels_ptr + ch, mask=ch_ok, other=2.0)[None, :]
    basis = tl.load(basis_ptr + ch, mask=ch_ok, other=0)[None, :]
    y = z.to(tl.float32) + shift
    if LIBDEVICE:
        t = libdevice.tanh(y)
    else:
        t = 1.0 - 2.0 / (tl.exp(2.0 * y) + 1.0)
    bounded = t * half_l - offset
    if LIBDEVICE:
        rounded = libdevice.rint(bounded)
    else:
        low = tl.floor(bounded)
        frac = bounded - low
        low_is_odd = (low - 2.0 * tl.floor(low * 0.5)) != 0.0
        rounded = tl.where((frac > 0.5) | ((frac == 0.5) & low_is_odd), low + 1.0, low)
    rounded = tl.minimum(tl.maximum(rounded, -half_width), levels - 1.0 - half_width)
    tl.store(
        codes_ptr + rows64[:, None] * channels + ch[None, :], tl.math.div_rn(rounded, half_width), mask=mask
    )
    digits = (rounded + half_width).to(tl.int64)
    index = tl.sum(tl.where(mask, digits * basis, 0), axis=1)
    tl.store(indices_ptr + rows64, index, mask=rows < n)


def _lfq(
    z_ptr,
    codes_ptr,
    indices_ptr,
    n,
    channels,
    stride_zn,
    stride_zc,
    weights_ptr,
    value,
    scale,
    SPHERICAL: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rows64 = rows.to(tl.int64)
    ch = tl.arange(0, BLOCK_C)
    mask = (rows < n)[:, None] & (ch < channels)[None, :]
    z = tl.load(z_ptr + rows64[:, None] * stride_zn + ch[None, :] * stride_zc, mask=mask, other=0.0).to(
        tl.float32
    )
    if SPHERICAL:
        # F.normalize(z) * scale, whose sign is tested: the same sign as z unless it underflows
        norm = tl.sqrt(tl.sum(z * z, axis=1))
        z = z / tl.maximum(norm, 1e-12)[:, None] * scale
    positive = z > 0
    weights = tl.load(weights_ptr + ch, mask=ch < channels, other=0)[None, :]
    tl.store(
        codes_ptr + rows64[:, None] * channels + ch[None, :], tl.where(positive, value, -value), mask=mask
    )
    index = tl.sum(tl.where(positive & mask, weights, 0), axis=1)
    tl.store(indices_ptr + rows64, index, mask=rows < n)


_FSQ = TritonKernel(
    _fsq, compiled_meta={"BLOCK_N": 128, "enable_fp_fusion": False}, interpret_meta={"BLOCK_N": 64}
)
_LFQ = TritonKernel(_lfq, compiled_meta={"BLOCK_N": 128}, interpret_meta={"BLOCK_N": 64})


def _run(kernel: TritonKernel, z: torch.Tensor, *args, **meta) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch a per-row kernel over ``z (..., C)``: fp32 codes of z's shape, int64 indices."""
    flat = z.reshape(-1, z.shape[-1])
    n, channels = flat.shape
    codes = torch.empty(n, channels, dtype=torch.float32, device=z.device)
    indices = torch.empty(n, dtype=torch.int64, device=z.device)
    if n:
        kernel(
            z.device,
            lambda meta: (triton.cdiv(n, meta["BLOCK_N"]),),
            flat,
            codes,
            indices,
            n,
            channels,
            flat.stride(0),
            flat.stride(1),
            *args,
            BLOCK_C=triton.next_power_of_2(channels),
            **meta,
        )
    return codes.reshape(z.shape), indices.reshape(z.shape[:-1])


def triton_fsq(z: torch.Tensor, const: FSQConstants) -> tuple[torch.Tensor, torch.Tensor]:
    args = (const.shift, const.half_l, const.offset, const.half_width, const.levels, const.basis)
    return _run(_FSQ, z, *args, LIBDEVICE=not _FSQ.interpreted)


def triton_lfq(
    z: torch.Tensor, weights: torch.Tensor, value: float, *, spherical: bool, scale: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    return _run(_LFQ, z, weights, value, scale, SPHERICAL=spherical)
