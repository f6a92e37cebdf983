"""Bounds-checked gather in Triton: rows of the codebook, a flag for bad ids, one pass."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from tokenizers_zoo.kernels.triton_runtime import TritonKernel


def _gather(
    ids_ptr,
    codebook_ptr,
    out_ptr,
    bad_ptr,
    n,
    n_codes,
    dim,
    stride_ck,
    stride_cd,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n
    ids = tl.load(ids_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    valid = (ids >= 0) & (ids < n_codes)
    tl.atomic_max(bad_ptr, tl.max((row_ok & ~valid).to(tl.int32), axis=0))
    take = row_ok & valid
    for start in range(0, dim, BLOCK_D):
        dims = start + tl.arange(0, BLOCK_D)
        dim_ok = dims < dim
        values = tl.load(
            codebook_ptr + ids[:, None] * stride_ck + dims[None, :] * stride_cd,
            mask=take[:, None] & dim_ok[None, :],
            other=0.0,
        )
        tl.store(
            out_ptr + rows.to(tl.int64)[:, None] * dim + dims[None, :],
            values,
            mask=row_ok[:, None] & dim_ok[None, :],
        )


_KERNEL = TritonKernel(
    _gather,
    compiled_meta={"BLOCK_N": 64, "BLOCK_D": 64, "num_warps": 4},
    interpret_meta={"BLOCK_N": 32, "BLOCK_D": 32},
)


def triton_lookup(ids: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``codebook[ids]`` for flat integer ``ids`` and whether any id was out of range
    (those rows are left as zeros)."""
    n = ids.shape[0]
    dim = codebook.shape[1]
    out = torch.empty(n, dim, dtype=codebook.dtype, device=codebook.device)
    bad = torch.zeros(1, dtype=torch.int32, device=codebook.device)
    _KERNEL(
        ids.device,
        lambda meta: (triton.cdiv(n, meta["BLOCK_N"]),),
        ids.contiguous(),
        codebook,
        out,
        bad,
        n,
        codebook.shape[0],
        dim,
        codebook.stride(0),
        codebook.stride(1),
    )
    return out, bool(bad.item())
