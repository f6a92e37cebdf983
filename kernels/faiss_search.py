"""Nearest-code search on CPU through faiss-cpu's flat indexes.

For k=1 ``IndexFlatL2`` runs a fused distance + argmin scan (no distance matrix) that
beats a blocked matmul + argmin several times over at small D; the search writes its
results straight into the output tensors' memory. Cosine is inner product on unit rows.
Both faiss and this module keep the first best code on exact ties (``nearest`` then
maps duplicates to the lowest index, as for every backend).
"""

from __future__ import annotations

import faiss
import torch
from tokenizers_zoo.kernels.nearest import Metric, unit_rows
from torch import Tensor


def faiss_search(flat: Tensor, codebook: Tensor, metric: Metric) -> tuple[Tensor, Tensor]:
    """``flat (N, D)`` against ``codebook (K, D)`` on CPU: ``(indices int64, distance fp32)``."""
    x, codes = flat.float(), codebook.float()
    if metric == "cosine":
        x, codes = unit_rows(x), unit_rows(codes)
    dim = codes.shape[1]
    index = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
    index.add(codes.contiguous().numpy())
    n = x.shape[0]
    distance = torch.empty(n, 1, dtype=torch.float32)
    indices = torch.empty(n, 1, dtype=torch.int64)
    index.search(x.contiguous().numpy(), 1, D=distance.numpy(), I=indices.numpy())
    distance, indices = distance[:, 0], indices[:, 0]
    # faiss labels a row -1 when no distance compares (NaN input); the torch path's
    # argmin would point at a NaN code, so any index is as (in)valid: take 0.
    indices.clamp_min_(0)
    if metric == "l2":
        return indices, distance.clamp_min_(0.0)
    return indices, (1.0 - distance) if metric == "cosine" else distance.neg_()
