"""Float64 brute-force oracles shared by the kernel tests of every backend."""

from __future__ import annotations

import torch

METRICS = ("l2", "cosine", "ip")
DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def unit64(v: torch.Tensor) -> torch.Tensor:
    norm = v.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, v / norm.clamp_min(1e-300), torch.zeros_like(v))


def reference_distances(x: torch.Tensor, codebook: torch.Tensor, metric: str) -> torch.Tensor:
    """All (N, K) distances in float64 from the (already rounded) input values."""
    x = x.reshape(-1, codebook.shape[-1]).double()
    c = codebook.double()
    if metric == "l2":
        return (x[:, None, :] - c[None, :, :]).pow(2).sum(-1)
    if metric == "cosine":
        return 1.0 - unit64(x) @ unit64(c).t()
    return -(x @ c.t())


def tolerance(x: torch.Tensor, codebook: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-row fp32 error budget: a few ulps of the magnitudes the distance is made of.

    bf16/fp16 arithmetic would be ~1e-3 relative, far outside it.
    """
    x = x.reshape(-1, codebook.shape[-1]).double()
    c = codebook.double()
    x_norm, c_norm = x.norm(dim=-1), c.norm(dim=-1).max()
    if metric == "l2":
        scale = x_norm.pow(2) + c_norm.pow(2)
    elif metric == "ip":
        scale = x_norm * c_norm
    else:
        scale = torch.ones_like(x_norm)
    return 1e-5 * scale + 1e-6


def check_against_reference(x, codebook, metric, indices, distance):
    """``distance`` is the float64 distance of the chosen code, and that code is nearest
    up to tolerance (near-ties are judged by distance, not by index)."""
    assert indices.dtype == torch.int64
    assert distance.dtype == torch.float32
    assert indices.shape == x.shape[:-1] == distance.shape
    ref = reference_distances(x, codebook, metric)
    tol = tolerance(x, codebook, metric)
    idx = indices.reshape(-1)
    assert int(idx.min()) >= 0 and int(idx.max()) < codebook.shape[0]
    chosen = ref.gather(1, idx[:, None]).squeeze(1)
    got = distance.reshape(-1).double()
    assert torch.isfinite(got).all()
    err = (got - chosen).abs()
    assert (err <= tol).all(), f"distance off by {float((err - tol).max()):.3g} beyond tolerance"
    excess = chosen - ref.min(dim=1).values
    assert (excess <= tol).all(), f"chosen code is {float((excess - tol).max()):.3g} too far"


def assert_same_choices(x, codebook, metric, a, b):
    """Two searches of the same vectors agree, except possibly on near-ties."""
    ref = reference_distances(x, codebook, metric)
    tol = tolerance(x, codebook, metric)
    da = ref.gather(1, a.reshape(-1, 1)).squeeze(1)
    db = ref.gather(1, b.reshape(-1, 1)).squeeze(1)
    differ = a.reshape(-1) != b.reshape(-1)
    assert ((da - db).abs()[differ] <= tol[differ]).all()


def lowest_identical_index(codebook: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """For each chosen index, the lowest index of a code bit-identical to it."""
    same = (codebook[:, None, :] == codebook[None, :, :]).all(-1)  # (K, K)
    first = same.float().argmax(dim=1)  # first True in each row
    return first[indices]


def first_nearest_index(x: torch.Tensor, codebook: torch.Tensor, metric: str) -> torch.Tensor:
    """The lowest index among the exact float64 minima: the answer when inputs make every
    distance exact (small integers), so ties are real ties."""
    ref = reference_distances(x, codebook, metric)
    return (ref == ref.min(dim=1, keepdim=True).values).double().argmax(dim=1)
