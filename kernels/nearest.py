"""Nearest-code search: one entry point, three backends, one tie rule.

``nearest_code`` runs the fused Triton kernel on CUDA tensors and, on CPU tensors,
faiss-cpu (``kernels.dispatch`` says why) or a blocked matmul + argmin in torch. None
of them materialises the N x K distance matrix of vector-quantize-pytorch: the torch
path processes rows in blocks sized so that one block's distances stay under
``max_block_elements`` (peak extra memory O(block * K)), Triton keeps a running best
per row in registers, and faiss scans blocks on CPU. Distances are fp32 whatever the
input dtype, because bf16/fp16 distances collapse near-ties and overflow on large
vectors.

Ties break to the lowest code index on every backend. Each backend keeps the first
extremum it sees, but a GEMM need not give identical codes identical scores (MKL
computes tail columns with another kernel, so a duplicate at a higher index can come
out a rounding error closer); chosen codes are therefore mapped to the first code
identical to them afterwards (``lowest_identical_codes``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from tokenizers_zoo.kernels.dispatch import select_backend

Metric = Literal["l2", "cosine", "ip"]

METRICS = ("l2", "cosine", "ip")
DEFAULT_MAX_BLOCK_ELEMENTS = 1 << 24  # 64 MiB of fp32 distances per block
TRITON_MAX_DIM = 512  # the Triton kernel holds a row block's whole vectors in registers


def unit_rows(x: Tensor) -> Tensor:
    """L2-normalise rows; a zero row stays zero, so its cosine distance to every code is 1."""
    norm = x.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, x / norm.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(x))


def score_terms(codes: Tensor, metric: Metric) -> tuple[Tensor, Tensor]:
    """Per-code ``(offset, scale)``, fp32: the search minimises ``offset + scale * <x, c>``.

    ``"l2"``: ``||c||^2 - 2 <x, c>`` (``||x||^2`` is constant per row, so it is added back
    to the winner only); ``"ip"``: ``-<x, c>``; ``"cosine"``: ``-<x, c> / ||c||`` (0 for a
    zero code), which orders codes as ``-cos`` does for every non-zero ``x``.
    """
    codes = codes.float()
    if metric == "l2":
        return codes.pow(2).sum(-1), codes.new_full((codes.shape[0],), -2.0)
    if metric == "ip":
        return codes.new_zeros(codes.shape[0]), codes.new_full((codes.shape[0],), -1.0)
    norm = codes.norm(dim=-1)
    inv = torch.where(norm > 0, 1.0 / norm.clamp_min(torch.finfo(torch.float32).tiny), torch.zeros_like(norm))
    return codes.new_zeros(codes.shape[0]), -inv


def _rows_all_distinct(codes: Tensor) -> bool:
    """True when no two rows are identical, judged by a 64-bit hash of each row's fp32
    bits (a hash collision only sends the caller to the exact check). Wrapping integer
    sums do not depend on the reduction order, so identical rows always hash alike
    (``+ 0.0`` merges -0.0 into 0.0).

    On CPU this runs in numpy, single-threaded: ~1 ms for 4096 x 32 codes, where torch's
    thread pool on a busy 2-core machine took 30-70 ms (and ``torch.unique`` of 65536
    keys alone 80 ms).
    """
    gen = torch.Generator().manual_seed(0x7A00)
    mult = torch.randint(1, 1 << 30, (2, codes.shape[1]), generator=gen) * 2 + 1
    if codes.device.type == "cpu":
        bits = (codes.float().numpy() + np.float32(0.0)).view(np.int32)
        low, high = ((bits * m).sum(-1, dtype=np.int32).astype(np.int64) for m in mult.int().numpy())
        keys = np.sort((high << 32) | (low & 0xFFFFFFFF))
        return not (keys[1:] == keys[:-1]).any()
    bits = (codes.float() + 0.0).view(torch.int32)
    low, high = ((bits * m).sum(-1, dtype=torch.int32).long() for m in mult.int().to(codes.device))
    keys = ((high << 32) | (low & 0xFFFFFFFF)).sort().values
    return not bool((keys[1:] == keys[:-1]).any())


def lowest_identical_codes(codes: Tensor) -> Tensor | None:
    """For every code, the lowest index of a code identical to it; None when all are distinct.

    The common case (no duplicates) costs one hash per row and a sort of K integers;
    only when two hashes agree are rows compared exactly (``torch.unique`` over rows,
    ~100x dearer).
    """
    num_codes = codes.shape[0]
    if num_codes < 2 or _rows_all_distinct(codes):
        return None
    _, inverse = torch.unique(codes, dim=0, return_inverse=True)
    order = torch.arange(num_codes, device=codes.device)
    first = torch.full((num_codes,), num_codes, dtype=torch.long, device=codes.device)
    first.scatter_reduce_(0, inverse, order, reduce="amin")
    return first[inverse]


def check_search_args(x: Tensor, codebook: Tensor, metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if codebook.ndim != 2:
        raise ValueError(f"codebook must be (K, D), got shape {tuple(codebook.shape)}")
    if codebook.shape[0] == 0:
        raise ValueError("codebook is empty")
    if x.shape[-1] != codebook.shape[1]:
        raise ValueError(f"vectors have dimension {x.shape[-1]} but codes have {codebook.shape[1]}")
    if x.device != codebook.device:
        raise ValueError(f"vectors are on {x.device} but codes on {codebook.device}")


def _torch_search(
    flat: Tensor, codebook: Tensor, metric: Metric, max_block_elements: int
) -> tuple[Tensor, Tensor]:
    """Blocked ``addmm`` + ``min``: the reference path, and the CPU path without faiss."""
    flat = flat.float()
    codes = codebook.float()
    if metric == "cosine":
        flat, codes = unit_rows(flat), unit_rows(codes)
    n, num_codes = flat.shape[0], codes.shape[0]
    indices = torch.empty(n, dtype=torch.long, device=flat.device)
    distance = torch.empty(n, dtype=torch.float32, device=flat.device)
    codes_t = codes.t()
    code_sq = codes.pow(2).sum(-1) if metric == "l2" else None
    block = max(1, max_block_elements // num_codes)
    for start in range(0, n, block):
        rows = flat[start : start + block]
        if metric == "l2":
            scores = torch.addmm(code_sq, rows, codes_t, alpha=-2.0)
            best, idx = scores.min(dim=-1)
            best = (best + rows.pow(2).sum(-1)).clamp_min_(0.0)
        else:
            scores = rows @ codes_t
            best, idx = scores.max(dim=-1)
            best = (1.0 - best) if metric == "cosine" else -best
        indices[start : start + block] = idx
        distance[start : start + block] = best
    return indices, distance


@torch.no_grad()
def nearest_code(
    x: Tensor,
    codebook: Tensor,
    metric: Metric = "l2",
    *,
    max_block_elements: int = DEFAULT_MAX_BLOCK_ELEMENTS,
) -> tuple[Tensor, Tensor]:
    """Index of the nearest code for every vector of ``x`` and its distance.

    ``x`` is ``(..., D)`` and ``codebook`` ``(K, D)``, fp32/bf16/fp16, any strides.
    Returns ``indices`` (int64, shape ``x.shape[:-1]``) and ``distance`` (fp32, same
    shape): the squared euclidean distance for ``"l2"``, ``1 - cos`` for ``"cosine"``
    and ``-<x, c>`` for ``"ip"``. A zero vector under ``"cosine"`` is at distance 1
    from every code and maps to code 0. ``max_block_elements`` bounds the distances
    the torch path holds at once; it also serves D > 512 where Triton would run.
    """
    check_search_args(x, codebook, metric)
    num_codes, dim = codebook.shape
    batch_shape = x.shape[:-1]
    flat = x.reshape(-1, dim)
    if flat.shape[0] == 0:
        empty = torch.empty(batch_shape, device=x.device)
        return empty.long(), empty.float()
    backend = select_backend(x.device, faiss_supported=True)
    if backend == "triton" and dim <= TRITON_MAX_DIM:
        from tokenizers_zoo.kernels.triton_search import triton_search

        offset, scale = score_terms(codebook, metric)
        idx, distance, _ = triton_search(
            flat, codebook[None], offset[None], scale[None], metric, want_quantized=False
        )
        indices = idx[:, 0]
    elif backend == "faiss":
        from tokenizers_zoo.kernels.faiss_search import faiss_search

        indices, distance = faiss_search(flat, codebook, metric)
    else:
        indices, distance = _torch_search(flat, codebook, metric, max_block_elements)
    first = lowest_identical_codes(unit_rows(codebook.float()) if metric == "cosine" else codebook)
    if first is not None:
        indices = first[indices]
    return indices.reshape(batch_shape), distance.reshape(batch_shape)
