"""Code lookup: ``codebook[indices]`` with every index checked, in one pass on GPU.

A plain gather either trips a CUDA device-side assert (which poisons the whole CUDA
context) or, on CPU with negative ids, silently wraps around. Here out-of-range ids
raise ``InvalidTokensError`` naming the offending value. On CUDA the check rides along
with the gather in one Triton kernel (one flag read instead of a min and a max pass
before the gather).
"""

from __future__ import annotations

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.kernels.dispatch import select_backend


def _raise_out_of_range(indices: Tensor, num_codes: int) -> None:
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= num_codes:
        bad = low if low < 0 else high
        raise InvalidTokensError(
            f"index {bad} is outside the codebook of {num_codes} codes (valid: 0..{num_codes - 1})"
        )


def lookup_codes(indices: Tensor, codebook: Tensor) -> Tensor:
    """Gather ``codebook[indices]``: ``(...,)`` integer ids of any dtype -> ``(..., D)``."""
    if indices.dtype.is_floating_point or indices.dtype == torch.bool or indices.is_complex():
        raise InvalidTokensError(f"indices must be an integer tensor, got {indices.dtype}")
    if codebook.ndim != 2:
        raise ValueError(f"codebook must be (K, D), got shape {tuple(codebook.shape)}")
    num_codes = codebook.shape[0]
    if indices.numel() == 0:
        return codebook.new_empty(*indices.shape, codebook.shape[1])
    indices = indices.to(codebook.device)
    if select_backend(codebook.device) == "triton":
        from tokenizers_zoo.kernels.triton_lookup import triton_lookup

        out, any_bad = triton_lookup(indices.reshape(-1), codebook)
        if any_bad:
            _raise_out_of_range(indices, num_codes)
        return out.reshape(*indices.shape, codebook.shape[1])
    _raise_out_of_range(indices, num_codes)
    return codebook[indices.long()]
