"""Nearest-code search on CPU through faiss-cpu's flat indexes.

For k=1 ``IndexFlatL2`` runs a fused distance + argmin scan (no distance matrix) that
beats a blocked matmul + argmin several times over at small D; the search writes its
results straight into the output tensors' memory. Cosine is inner product on unit rows.
Both faiss and this module keep the first best code on exact ties (``nearest`` then
maps duplicates to the lowest index, as for every backend).
"""

from __future__ import annotations

import faiss
import numpy as np
import torch
from torch import Tensor

from tokenizers_zoo.kernels.nearest import Metric, unit_rows


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
    dist_np, idx_np = distance.numpy(), indices.numpy()
    index.search(x.contiguous().numpy(), 1, D=dist_np, I=idx_np)
    # Finished in numpy, in place and single-threaded: each torch op on N elements woke
    # torch's thread pool, which cost tens of ms on the busy 2-core machine, up to a third
    # of faiss's own time at D=8.
    # faiss labels a row -1 when no distance compares (NaN input); the torch path's
    # argmin would point at a NaN code, so any index is as (in)valid: take 0.
    np.maximum(idx_np, 0, out=idx_np)
    if metric == "l2":
        np.maximum(dist_np, 0.0, out=dist_np)
    elif metric == "cosine":
        np.subtract(1.0, dist_np, out=dist_np)
    else:
        np.negative(dist_np, out=dist_np)
    return indices[:, 0], distance[:, 0]
