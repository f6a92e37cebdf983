"""Nearest-code search with bounded memory.

vector-quantize-pytorch materialises the full N x K distance matrix (and a one-hot
of the same size), which is what runs it out of memory on large feature maps. Here
the N rows are processed in blocks sized so that one block's distances stay under
``max_block_elements``, whatever N and K are: peak extra memory is O(block * K)
instead of O(N * K). Distances are computed in fp32 whatever the input dtype,
because bf16/fp16 distances collapse near-ties and overflow on large vectors.

Ties break to the lowest code index: ``min``/``max`` return the first extremum, and
identical codes are mapped to the first of them afterwards, because the GEMM does not
give identical columns identical scores (MKL computes tail columns with another
kernel, so a duplicate at a higher index can come out a rounding error closer).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidTokensError

Metric = Literal["l2", "cosine", "ip"]

_METRICS = ("l2", "cosine", "ip")
DEFAULT_MAX_BLOCK_ELEMENTS = 1 << 24  # 64 MiB of fp32 distances per block


def _unit(x: Tensor) -> Tensor:
    """L2-normalise rows; a zero row stays zero, so its cosine distance to every code is 1."""
    norm = x.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, x / norm.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(x))


def _first_equal_code(codes: Tensor) -> Tensor:
    """For every code, the lowest index of a code identical to it (itself if unique)."""
    num_codes = codes.shape[0]
    _, inverse = torch.unique(codes, dim=0, return_inverse=True)
    order = torch.arange(num_codes, device=codes.device)
    first = torch.full((num_codes,), num_codes, dtype=torch.long, device=codes.device)
    first.scatter_reduce_(0, inverse, order, reduce="amin")
    return first[inverse]


@torch.no_grad()
def nearest_code(
    x: Tensor,
    codebook: Tensor,
    metric: Metric = "l2",
    *,
    max_block_elements: int = DEFAULT_MAX_BLOCK_ELEMENTS,
) -> tuple[Tensor, Tensor]:
    """Index of the nearest code for every vector of ``x`` and its distance.

    ``x`` is ``(..., D)`` and ``codebook`` ``(K, D)``. Returns ``indices`` (int64,
    shape ``x.shape[:-1]``) and ``distance`` (fp32, same shape): the squared
    euclidean distance for ``"l2"``, ``1 - cos`` for ``"cosine"`` and ``-<x, c>``
    for ``"ip"``. A zero vector under ``"cosine"`` is at distance 1 from every
    code and maps to code 0.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    if codebook.ndim != 2:
        raise ValueError(f"codebook must be (K, D), got shape {tuple(codebook.shape)}")
    num_codes, dim = codebook.shape
    if num_codes == 0:
        raise ValueError("codebook is empty")
    if x.shape[-1] != dim:
        raise ValueError(f"vectors have dimension {x.shape[-1]} but codes have {dim}")

    batch_shape = x.shape[:-1]
    flat = x.reshape(-1, dim).float()
    codes = codebook.float()
    if metric == "cosine":
        flat, codes = _unit(flat), _unit(codes)

    n = flat.shape[0]
    indices = torch.empty(n, dtype=torch.long, device=x.device)
    distance = torch.empty(n, dtype=torch.float32, device=x.device)
    codes_t = codes.t()
    code_sq = codes.pow(2).sum(-1) if metric == "l2" else None
    block = max(1, max_block_elements // num_codes)
    for start in range(0, n, block):
        rows = flat[start : start + block]
        if metric == "l2":
            # ||x||^2 is constant per row, so it is left out of the argmin and added back.
            scores = torch.addmm(code_sq, rows, codes_t, alpha=-2.0)
            best, idx = scores.min(dim=-1)
            best = (best + rows.pow(2).sum(-1)).clamp_min_(0.0)
        else:
            scores = rows @ codes_t
            best, idx = scores.max(dim=-1)
            best = (1.0 - best) if metric == "cosine" else -best
        indices[start : start + block] = idx
        distance[start : start + block] = best
    if n and num_codes > 1:
        indices = _first_equal_code(codes)[indices]
    return indices.reshape(batch_shape), distance.reshape(batch_shape)


def lookup_codes(indices: Tensor, codebook: Tensor) -> Tensor:
    """Gather ``codebook[indices]`` after checking every index is in range.

    Out-of-range ids raise ``InvalidTokensError`` naming the offending value, instead
    of the CUDA device-side assert or silent wrap-around a plain gather gives.
    """
    if indices.dtype.is_floating_point or indices.dtype == torch.bool or indices.is_complex():
        raise InvalidTokensError(f"indices must be an integer tensor, got {indices.dtype}")
    num_codes = codebook.shape[0]
    if indices.numel():
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= num_codes:
            bad = low if low < 0 else high
            raise InvalidTokensError(
                f"index {bad} is outside the codebook of {num_codes} codes (valid: 0..{num_codes - 1})"
            )
    return codebook[indices.long()]
