"""K-means used to initialise codebooks from the first batch (dead codes otherwise)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.kernels import nearest_code


@torch.no_grad()
def kmeans(
    samples: Tensor,
    num_clusters: int,
    iters: int = 10,
    use_cosine_sim: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Lloyd's algorithm on ``samples (N, D)``; returns ``means (K, D)`` and ``counts (K,)``.

    Starts from randomly drawn samples (with replacement when N < K). A cluster that
    loses all its points keeps its previous mean rather than becoming NaN.
    """
    samples = samples.float()
    if samples.shape[0] == 0:
        raise ValueError("k-means needs at least one sample")
    if use_cosine_sim:
        samples = F.normalize(samples, dim=-1)
    n = samples.shape[0]
    if n >= num_clusters:
        start = torch.randperm(n, generator=generator, device="cpu")[:num_clusters]
    else:
        start = torch.randint(0, n, (num_clusters,), generator=generator, device="cpu")
    means = samples[start.to(samples.device)].clone()
    metric = "cosine" if use_cosine_sim else "l2"
    counts = torch.zeros(num_clusters, device=samples.device)
    for _ in range(max(iters, 1)):
        assign, _ = nearest_code(samples, means, metric)
        counts = torch.bincount(assign, minlength=num_clusters).float()
        sums = torch.zeros_like(means).index_add_(0, assign, samples)
        filled = counts > 0
        means[filled] = sums[filled] / counts[filled, None]
        if use_cosine_sim:
            means = F.normalize(means, dim=-1)
    return means, counts
