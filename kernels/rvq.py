"""Residual VQ encoding: every stage's nearest-code search, the residual kept on chip.

Stage ``s`` searches codebook ``s`` for the residual left by stages ``0..s-1``. On
CUDA all stages run in one Triton kernel (``triton_search`` with ``NUM_STAGES``): the
residual of a row block stays in registers from the first stage to the last, so the
only memory traffic is reading ``x`` and the codebooks and writing indices and the sum
of codes. Elsewhere each stage is a ``nearest_code`` call on the residual in torch.
Both do the residual arithmetic in fp32 in the same order as ``ResidualVQ``, so the
quantized sum is bitwise the sum of the chosen codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from tokenizers_zoo.kernels.dispatch import select_backend
from tokenizers_zoo.kernels.nearest import (
    TRITON_MAX_DIM,
    check_search_args,
    lowest_identical_codes,
    nearest_code,
    score_terms,
)


def _stack(codebooks: Tensor | Sequence[Tensor]) -> Tensor:
    stacked = codebooks if isinstance(codebooks, Tensor) else torch.stack(list(codebooks))
    if stacked.ndim != 3 or stacked.shape[0] == 0:
        raise ValueError(
            f"codebooks must be (n_q >= 1, K, D) or a list of (K, D), got {tuple(stacked.shape)}"
        )
    return stacked


@torch.no_grad()
def rvq_encode(x: Tensor, codebooks: Tensor | Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Residual VQ of ``x (..., D)`` with ``n_q`` codebooks of ``(K, D)`` (L2 search).

    Returns ``indices (..., n_q)`` int64, stage axis last, and ``quantized (..., D)``
    fp32, the sum of the chosen codes (fp32 residuals throughout, whatever the input
    dtype). Ties break to the lowest index at every stage.
    """
    codebooks = _stack(codebooks)
    for stage in codebooks:
        check_search_args(x, stage, "l2")
    num_stages, _, dim = codebooks.shape
    flat = x.reshape(-1, dim)
    codes = codebooks.float()
    if flat.shape[0] and dim <= TRITON_MAX_DIM and select_backend(x.device) == "triton":
        from tokenizers_zoo.kernels.triton_search import triton_search

        terms = [score_terms(stage, "l2") for stage in codes]
        offset = torch.stack([t[0] for t in terms])
        scale = torch.stack([t[1] for t in terms])
        indices, _, quantized = triton_search(flat, codes, offset, scale, "l2", want_quantized=True)
        for stage in range(num_stages):
            first = lowest_identical_codes(codes[stage])
            if first is not None:
                indices[:, stage] = first[indices[:, stage]]
    else:
        residual = flat.float()
        quantized = torch.zeros_like(residual)
        columns = []
        for stage in codes:
            idx, _ = nearest_code(residual, stage, "l2")
            chosen = stage[idx]
            residual = residual - chosen
            quantized = quantized + chosen
            columns.append(idx)
        indices = torch.stack(columns, -1)
    return indices.reshape(*x.shape[:-1], num_stages), quantized.reshape(*x.shape[:-1], dim)
