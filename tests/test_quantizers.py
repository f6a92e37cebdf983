"""Quantizers against brute-force oracles, the papers' formulas and their contracts.

Every test uses tiny shapes on CPU; nothing here needs a GPU.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.kernels import nearest_code
from tokenizers_zoo.quantizers import (
    BSQ,
    FSQ,
    LFQ,
    GroupedVQ,
    MultiScaleResidualVQ,
    QuantizerOutput,
    ResidualVQ,
    SimVQ,
    VectorQuantizer,
)
from tokenizers_zoo.quantizers.lfq import entropy_terms

DIM = 8
MS_SIZE = (4, 6)  # a non-square feature map for the multi-scale quantizer

# name -> (factory, input shape, extra kwargs of indices_to_codes)
QUANTIZERS = {
    "vq": (lambda: VectorQuantizer(DIM, 16), (2, 5, DIM), {}),
    "vq_cosine": (lambda: VectorQuantizer(DIM, 16, use_cosine_sim=True), (2, 5, DIM), {}),
    "vq_projected": (lambda: VectorQuantizer(DIM, 16, codebook_dim=4), (2, 5, DIM), {}),
    "vq_learned": (lambda: VectorQuantizer(DIM, 16, ema_update=False), (2, 5, DIM), {}),
    "vq_rotation": (lambda: VectorQuantizer(DIM, 16, rotation_trick=True), (2, 5, DIM), {}),
    "rvq": (lambda: ResidualVQ(DIM, 3, 16, codebook_dim=4), (2, 5, DIM), {}),
    "grouped": (lambda: GroupedVQ(DIM, 16, groups=2), (2, 5, DIM), {}),
    "fsq": (lambda: FSQ([8, 5, 5, 5]), (2, 5, 4), {}),
    "fsq_projected": (lambda: FSQ([7, 5, 5], dim=DIM), (2, 5, DIM), {}),
    "lfq": (lambda: LFQ(dim=5), (2, 5, 5), {}),
    "lfq_projected": (lambda: LFQ(dim=DIM, codebook_size=64), (2, 5, DIM), {}),
    "bsq": (lambda: BSQ(dim=DIM, codebook_size=64), (2, 5, DIM), {}),
    "msvq": (
        lambda: MultiScaleResidualVQ(DIM, 16, scales=(1, 2, 4)),
        (2, *MS_SIZE, DIM),
        {"size": MS_SIZE},
    ),
    "simvq": (lambda: SimVQ(DIM, 16), (2, 5, DIM), {}),
}
NAMES = list(QUANTIZERS)


def make(name: str, seed: int = 0):
    torch.manual_seed(seed)
    factory, shape, codes_kwargs = QUANTIZERS[name]
    return factory(), shape, codes_kwargs


def assert_nearest(points: torch.Tensor, codebook: torch.Tensor, chosen: torch.Tensor, tol: float = 1e-4):
    """``chosen`` is an argmin of the euclidean distance (exactly it where no near-tie)."""
    dist = torch.cdist(points.double(), codebook.double())
    best = dist.min(-1)
    got = dist.gather(-1, chosen[:, None]).squeeze(-1)
    assert (got <= best.values + tol).all(), (got - best.values).max()
    second = dist.topk(2, largest=False).values[:, 1] if codebook.shape[0] > 1 else best.values + 1
    clear = (second - best.values) > tol
    assert torch.equal(chosen[clear], best.indices[clear])


# --------------------------------------------------------------------------- oracles


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cosine", [False, True])
def test_vq_indices_are_brute_force_nearest(seed, cosine):
    torch.manual_seed(seed)
    vq = VectorQuantizer(6, 32, use_cosine_sim=cosine).eval()
    x = torch.randn(3, 40, 6) * 2
    out = vq(x)
    assert out.indices.shape == (3, 40) and out.indices.dtype == torch.int64
    flat = x.reshape(-1, 6)
    codebook = vq.codebook
    if cosine:
        flat, codebook = F.normalize(flat, dim=-1), F.normalize(codebook, dim=-1)
    assert_nearest(flat, codebook, out.indices.reshape(-1))
    # The output is the chosen code itself.
    assert torch.equal(out.quantized.reshape(-1, 6), vq.get_codebook()[out.indices.reshape(-1)])


def test_vq_indices_with_projection_are_nearest_in_codebook_space():
    torch.manual_seed(3)
    vq = VectorQuantizer(8, 16, codebook_dim=3).eval()
    x = torch.randn(50, 8)
    out = vq(x)
    with torch.no_grad():
        z = vq.project_in(x)
    assert_nearest(z, vq.codebook, out.indices)


def test_nearest_code_blocks_match_cdist():
    torch.manual_seed(4)
    x, codebook = torch.randn(37, 5), torch.randn(11, 5)
    for block in (1, 11, 23, 10**6):
        idx, dist = nearest_code(x, codebook, "l2", max_block_elements=block)
        assert_nearest(x, codebook, idx)
        torch.testing.assert_close(dist, torch.cdist(x, codebook).min(-1).values ** 2, rtol=1e-4, atol=1e-4)


def greedy_residual(z: torch.Tensor, codebooks: list[torch.Tensor]):
    """Hand-written SoundStream algorithm 1, checking every stage against brute force."""
    residual, total, ids = z.double(), torch.zeros_like(z, dtype=torch.float64), []
    for codebook in codebooks:
        dist = torch.cdist(residual, codebook.double())
        idx = dist.argmin(-1)
        ids.append(idx)
        residual = residual - codebook.double()[idx]
        total = total + codebook.double()[idx]
    return torch.stack(ids, -1), total


@pytest.mark.parametrize("num_quantizers", [None, 1, 2])
@pytest.mark.parametrize("codebook_dim", [None, 3])
def test_rvq_matches_greedy_residual_loop(num_quantizers, codebook_dim):
    torch.manual_seed(5)
    rvq = ResidualVQ(6, 4, 16, codebook_dim=codebook_dim).eval()
    x = torch.randn(40, 6)
    out = rvq(x, num_quantizers=num_quantizers)
    stages = num_quantizers or 4
    assert out.indices.shape == (40, stages)
    assert int(out.metrics["num_quantizers"]) == stages
    with torch.no_grad():
        z = rvq.project_in(x)
    codebooks = [layer.get_codebook() for layer in rvq.layers[:stages]]
    expected_ids, expected_total = greedy_residual(z, codebooks)
    # Follow our own path stage by stage so a near-tie is judged by distance.
    residual = z
    for stage, codebook in enumerate(codebooks):
        assert_nearest(residual, codebook, out.indices[:, stage])
        residual = residual - codebook[out.indices[:, stage]]
    assert torch.equal(out.indices, expected_ids)
    with torch.no_grad():
        expected = rvq.project_out(expected_total.float())
    torch.testing.assert_close(out.quantized, expected, rtol=1e-5, atol=1e-5)


def test_rvq_fewer_stages_is_a_prefix():
    torch.manual_seed(6)
    rvq = ResidualVQ(6, 4, 16).eval()
    x = torch.randn(30, 6)
    full = rvq(x)
    for k in (1, 2, 3):
        assert torch.equal(rvq(x, num_quantizers=k).indices, full.indices[:, :k])
    with pytest.raises(ValueError):
        rvq(x, num_quantizers=5)
    with pytest.raises(ValueError):
        rvq(x, num_quantizers=0)


def test_grouped_vq_is_independent_per_group():
    torch.manual_seed(7)
    gvq = GroupedVQ(6, 8, groups=3).eval()
    x = torch.randn(25, 6)
    out = gvq(x)
    assert out.indices.shape == (25, 3)
    for g, (layer, part) in enumerate(zip(gvq.layers, x.chunk(3, -1), strict=True)):
        assert_nearest(part, layer.codebook, out.indices[:, g])


def test_simvq_searches_the_transformed_codebook():
    torch.manual_seed(8)
    sim = SimVQ(5, 16).eval()
    x = torch.randn(30, 5)
    out = sim(x)
    with torch.no_grad():
        codebook = sim.frozen_codebook @ sim.codebook_transform.weight.t()
    assert_nearest(x, codebook, out.indices)


def test_msvq_first_scale_is_nearest_code_of_the_mean():
    torch.manual_seed(9)
    ms = MultiScaleResidualVQ(4, 8, scales=(1, 2, 4)).eval()
    x = torch.randn(3, 4, 4, 4)
    out = ms(x)
    assert out.indices.shape == (3, ms.num_tokens(4, 4)) == (3, 1 + 4 + 16)
    assert_nearest(x.mean((1, 2)), ms.codebook, out.indices[:, 0])


# --------------------------------------------------------------------------- FSQ


def fsq_preimage(fsq: FSQ, digits: torch.Tensor) -> torch.Tensor:
    """An input whose bounded value rounds to the grid point of ``digits`` (``(..., d)``)."""
    hw = fsq._half_width.double()
    rounded = digits.double() - hw
    offset, half_l, shift = fsq._offset.double(), fsq._half_l.double(), fsq._shift.double()
    # Aim a quarter step inside the grid point, towards the centre of the tanh range.
    target = rounded - 0.25 * torch.sign(rounded + offset)
    return (torch.atanh((target + offset) / half_l) - shift).float()


@settings(max_examples=40, deadline=None)
@given(
    levels=st.lists(st.sampled_from([2, 3, 4, 5, 7, 8]), min_size=1, max_size=4),
    variant=st.sampled_from(["paper", "vector-quantize-pytorch"]),
)
def test_fsq_is_a_bijection_on_its_grid(levels, variant):
    fsq = FSQ(levels, variant=variant).eval()
    n = math.prod(levels)
    assert fsq.codebook_size == n
    ids = torch.arange(n)
    codes = fsq.indices_to_codes(ids)
    assert codes.shape == (n, len(levels))
    assert torch.unique(codes, dim=0).shape[0] == n
    digits = fsq.indices_to_level_indices(ids)
    assert (digits >= 0).all() and (digits < torch.tensor(levels)).all()
    out = fsq(fsq_preimage(fsq, digits))
    assert torch.equal(out.indices, ids)
    assert torch.equal(out.quantized, codes)


def test_fsq_index_is_mixed_radix_first_dim_least_significant():
    fsq = FSQ([3, 5, 4]).eval()
    big = 20.0
    # Saturated inputs pick the lowest (-big) or highest (+big) digit of each channel.
    x = torch.tensor(
        [
            [-big, -big, -big],
            [big, -big, -big],
            [-big, big, -big],
            [-big, -big, big],
            [big, big, big],
            [0.0, 0.0, -big],
        ]
    )
    expected = torch.tensor([0, 2, 4 * 3, 3 * 15, 2 + 4 * 3 + 3 * 15, 1 + 2 * 3])
    out = fsq(x)
    assert torch.equal(out.indices, expected)
    assert torch.equal(fsq.indices_to_level_indices(expected)[1], torch.tensor([2, 0, 0]))
    assert torch.equal(fsq.indices_to_level_indices(expected)[5], torch.tensor([1, 2, 0]))
    # Codes are the digits centred and divided by floor(L / 2).
    torch.testing.assert_close(out.quantized[4], torch.tensor([1.0, 1.0, 1 / 2]), rtol=0, atol=0)
    torch.testing.assert_close(out.quantized[0], torch.tensor([-1.0, -1.0, -1.0]), rtol=0, atol=0)


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 5, 5, 5, 5], [2, 4, 6, 3]])
def test_fsq_paper_bound_formula(levels):
    eps = 1e-3
    fsq = FSQ(levels, eps=eps, variant="paper")
    z = torch.linspace(-4, 4, 101, dtype=torch.float64)[:, None].expand(-1, len(levels))
    lv = torch.tensor(levels, dtype=torch.float64)
    half_l = (lv - 1) * (1 - eps) / 2
    offset = torch.where(lv % 2 == 0, 0.5, 0.0)
    expected = torch.tanh(z + torch.tan(offset / half_l)) * half_l - offset
    torch.testing.assert_close(fsq.bound(z.float()).double(), expected, rtol=1e-5, atol=1e-5)
    # vector-quantize-pytorch's variant uses (1 + eps) and atanh instead.
    vqp = FSQ(levels, eps=eps, variant="vector-quantize-pytorch")
    half_l = (lv - 1) * (1 + eps) / 2
    expected = torch.tanh(z + torch.atanh(offset / half_l)) * half_l - offset
    torch.testing.assert_close(vqp.bound(z.float()).double(), expected, rtol=1e-5, atol=1e-5)


def test_fsq_quantized_is_rounded_bound_over_half_width():
    torch.manual_seed(10)
    fsq = FSQ([8, 5, 3]).eval()
    z = torch.randn(200, 3) * 2
    out = fsq(z)
    bounded = fsq.bound(z).double()
    hw = torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(out.quantized.double(), torch.round(bounded) / hw)


# --------------------------------------------------------------------------- LFQ / BSQ


def all_bit_patterns(d: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0, 1], repeat=d)), dtype=torch.bool)


@settings(max_examples=30, deadline=None)
@given(
    d=st.integers(1, 7),
    spherical=st.booleans(),
    bit_order=st.sampled_from(["lsb_first", "msb_first"]),
    scale=st.sampled_from([1.0, 0.5, 3.0]),
)
def test_lfq_bsq_are_bijections(d, spherical, bit_order, scale):
    cls = BSQ if spherical else LFQ
    q = cls(dim=d, bit_order=bit_order, codebook_scale=scale).eval()
    n = 2**d
    assert q.codebook_size == n
    ids = torch.arange(n)
    codes = q.indices_to_codes(ids)
    assert torch.unique(codes, dim=0).shape[0] == n
    expected_norm = scale if spherical else scale * math.sqrt(d)
    torch.testing.assert_close(codes.norm(dim=-1), torch.full((n,), expected_norm))
    out = q(codes)
    assert torch.equal(out.indices, ids)
    assert torch.equal(out.quantized, codes)
    # Brute force: bit i of the id is channel i's sign, in the stated order.
    bits = all_bit_patterns(d)
    weights = 2 ** torch.arange(d)
    if bit_order == "msb_first":
        weights = weights.flip(0)
    x = torch.where(bits, 0.3, -0.7)
    assert torch.equal(q(x).indices, (bits.long() * weights).sum(-1))


def test_lfq_hand_made_bit_orders():
    x = torch.tensor([[0.5, -1.0, -2.0], [-0.1, 3.0, 0.2], [0.0, 0.0, 0.0]])
    lsb = LFQ(dim=3).eval()(x).indices
    msb = LFQ(dim=3, bit_order="msb_first").eval()(x).indices
    assert lsb.tolist() == [1, 2 + 4, 0]
    assert msb.tolist() == [4, 2 + 1, 0]  # zero maps to the negative code


# --------------------------------------------------------------------------- contracts


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_indices_to_codes_in_eval(name):
    q, shape, codes_kwargs = make(name)
    q.eval()
    torch.manual_seed(11)
    x = torch.randn(shape)
    out = q(x)
    assert isinstance(out, QuantizerOutput)
    assert out.quantized.shape == x.shape and out.quantized.dtype == x.dtype
    assert out.indices.dtype == torch.int64
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < q.codebook_size
    assert torch.equal(q.indices_to_codes(out.indices, **codes_kwargs), out.quantized)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes = q.indices_to_codes(out.indices, **codes_kwargs)
    assert codes.dtype == torch.float32 and torch.equal(codes, out.quantized)


def test_msvq_non_square_sizes_and_split():
    ms = MultiScaleResidualVQ(4, 8, scales=(1, 2, 4))
    assert ms.scale_sizes(*MS_SIZE) == [(1, 2), (2, 3), (4, 6)]
    assert ms.num_tokens(*MS_SIZE) == 2 + 6 + 24
    ids = torch.arange(2 * 32).reshape(2, 32) % 8
    parts = ms.split_indices(ids, MS_SIZE)
    assert [tuple(p.shape) for p in parts] == [(2, 1, 2), (2, 2, 3), (2, 4, 6)]
    assert torch.equal(torch.cat([p.flatten(1) for p in parts], 1), ids)
    with pytest.raises(InvalidTokensError):
        ms.indices_to_codes(ids)  # without size= the map is assumed 4x4 (21 tokens)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_input_in_train_mode(name):
    q, shape, _ = make(name)
    q.train()
    torch.manual_seed(12)
    x = torch.randn(shape, requires_grad=True)
    out = q(x)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    (out.quantized.sum() + out.loss).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # Every input vector gets a gradient.
    assert (x.grad.abs().sum(-1) > 0).all()


@pytest.mark.parametrize("cosine", [False, True])
def test_rotation_trick_gradient_is_the_rotation(cosine):
    torch.manual_seed(13)
    vq = VectorQuantizer(
        4, 8, rotation_trick=True, ema_update=False, commitment_weight=0.0, use_cosine_sim=cosine
    ).train()
    x = torch.randn(10, 4, dtype=torch.float32, requires_grad=True)
    out = vq(x)
    codes = vq.get_codebook()[out.indices].detach()
    assert torch.equal(out.quantized, codes)  # forward value is exactly the code
    g = torch.randn(10, 4)
    (out.quantized * g).sum().backward()
    # Fifty et al.: grad = (|q| / |e|) R^T g with R = I - 2ww^T + 2 q^ e^T, w = (e^ + q^)/|e^ + q^|.
    e = F.normalize(x.detach(), dim=-1).double() if cosine else x.detach().double()
    q = codes.double()
    e_hat, q_hat = F.normalize(e, dim=-1), F.normalize(q, dim=-1)
    w = F.normalize(e_hat + q_hat, dim=-1)
    eye = torch.eye(4, dtype=torch.float64)
    rot = eye - 2 * w[:, :, None] * w[:, None, :] + 2 * q_hat[:, :, None] * e_hat[:, None, :]
    ratio = (q.norm(dim=-1) / e.norm(dim=-1))[:, None]
    torch.testing.assert_close(ratio * (rot @ e[:, :, None]).squeeze(-1), q)  # maps e onto q
    grad_e = ratio * (rot.transpose(1, 2) @ g.double()[:, :, None]).squeeze(-1)
    if cosine:  # chain through the normalisation of x
        xd = x.detach().double()
        n = xd.norm(dim=-1, keepdim=True)
        grad_e = grad_e / n - xd * (grad_e * xd).sum(-1, keepdim=True) / n**3
    torch.testing.assert_close(x.grad.double(), grad_e, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(x.grad, g)  # not plain straight-through


def test_straight_through_gradient_is_identity():
    torch.manual_seed(14)
    vq = VectorQuantizer(4, 8, ema_update=False, commitment_weight=0.0).train()
    x = torch.randn(10, 4, requires_grad=True)
    g = torch.randn(10, 4)
    (vq(x).quantized * g).sum().backward()
    assert torch.equal(x.grad, g)


def test_learned_codebook_gets_codebook_loss_gradient():
    torch.manual_seed(15)
    vq = VectorQuantizer(4, 8, ema_update=False, commitment_weight=0.0, codebook_weight=0.7).train()
    assert isinstance(vq.codebook, torch.nn.Parameter)
    x = torch.randn(12, 4)
    out = vq(x)
    out.loss.backward()
    grad = vq.codebook.grad
    assert grad is not None and torch.isfinite(grad).all()
    codes = vq.codebook.detach()[out.indices]
    expected = torch.zeros_like(vq.codebook).index_add_(0, out.indices, 0.7 * 2 * (codes - x) / x.numel())
    torch.testing.assert_close(grad, expected)
    used = torch.zeros(8, dtype=torch.bool)
    used[out.indices] = True
    assert (grad[used].abs().sum(-1) > 0).all()
    assert (grad[~used] == 0).all()


def test_ema_codebook_gets_no_gradient_and_is_a_buffer():
    vq = VectorQuantizer(4, 8)
    assert "codebook" not in dict(vq.named_parameters())
    assert "codebook" in dict(vq.named_buffers())


def test_simvq_transform_gets_gradient_and_codebook_is_frozen():
    torch.manual_seed(16)
    sim = SimVQ(4, 16).train()
    assert "frozen_codebook" not in dict(sim.named_parameters())
    x = torch.randn(20, 4, requires_grad=True)
    out = sim(x)
    (out.quantized.sum() + out.loss).backward()
    grad = sim.codebook_transform.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert sim.frozen_codebook.grad is None


def test_msvq_codebook_and_phi_get_gradient():
    torch.manual_seed(17)
    ms = MultiScaleResidualVQ(4, 8, scales=(1, 2, 4)).train()
    x = torch.randn(2, 4, 4, 4, requires_grad=True)
    ms(x).loss.backward()
    assert ms.codebook.grad is not None and ms.codebook.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in ms.phis.parameters())


# --------------------------------------------------------------------------- precision


@pytest.mark.parametrize("magnitude", [1.0, 1e4])
@pytest.mark.parametrize("mode", ["autocast", "bf16", "fp16"])
@pytest.mark.parametrize("name", NAMES)
def test_low_precision_is_finite_and_keeps_dtype(name, mode, magnitude):
    q, shape, _ = make(name)
    torch.manual_seed(18)
    x32 = torch.randn(shape) * magnitude
    dtype = {"autocast": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]
    x = x32.to(dtype)

    def run(inp):
        if mode == "autocast":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return q(inp)
        return q(inp)

    # Eval: the ids of a low-precision input are those of the same values in fp32.
    q.eval()
    with torch.no_grad():
        out = run(x)
        reference = q(x.float())
    assert out.quantized.dtype == dtype
    assert torch.isfinite(out.quantized).all() and torch.isfinite(out.loss)
    assert torch.equal(out.indices, reference.indices)
    # Train: finite outputs, loss and gradients.
    q.train()
    xt = x.clone().requires_grad_(True)
    out = run(xt)
    assert out.quantized.dtype == dtype
    assert torch.isfinite(out.quantized).all(), name
    assert torch.isfinite(out.loss), name
    (out.quantized.float().sum() + out.loss).backward()
    assert torch.isfinite(xt.grad).all()
    for value in out.metrics.values():
        assert torch.isfinite(value).all()


@pytest.mark.parametrize("name", NAMES)
def test_module_cast_to_bf16_still_quantizes_in_fp32(name):
    """A quantizer cast with the rest of a bf16 model must not mix dtypes or lose ids."""
    q, shape, codes_kwargs = make(name)
    q = q.to(torch.bfloat16).eval()
    torch.manual_seed(5)
    x = torch.randn(shape).to(torch.bfloat16)
    with torch.no_grad():
        out = q(x)
        reference = q(x.float())
    assert out.quantized.dtype == torch.bfloat16 and torch.isfinite(out.quantized).all()
    assert torch.equal(out.indices, reference.indices)
    codes = q.indices_to_codes(out.indices, **codes_kwargs)
    assert torch.equal(codes.to(torch.bfloat16), out.quantized)
    q.train()
    xt = x.clone().requires_grad_(True)
    out = q(xt)
    (out.quantized.float().sum() + out.loss).backward()
    assert torch.isfinite(xt.grad).all()


# --------------------------------------------------------------------------- EMA and restarts

CENTRES = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [-5.0, -5.0], [5.0, -5.0]])


def clustered(n_per: int, noise: float = 0.1, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (CENTRES[:, None, :] + noise * torch.randn(4, n_per, 2, generator=gen)).reshape(-1, 2)


def test_ema_step_matches_formula():
    torch.manual_seed(19)
    vq = VectorQuantizer(2, 4, decay=0.8, eps=1e-5).train()
    with torch.no_grad():
        vq.codebook.copy_(CENTRES + 1.0)
        vq.embed_sum.copy_(CENTRES + 1.0)
    x = clustered(8)
    out = vq(x)
    counts = torch.bincount(out.indices, minlength=4).float()
    sums = torch.zeros(4, 2).index_add_(0, out.indices, x)
    cluster_size = 0.8 * 1.0 + 0.2 * counts
    embed_sum = 0.8 * (CENTRES + 1.0) + 0.2 * sums
    total = cluster_size.sum()
    smoothed = (cluster_size + 1e-5) / (total + 4 * 1e-5) * total
    torch.testing.assert_close(vq.cluster_size, cluster_size)
    torch.testing.assert_close(vq.embed_sum, embed_sum)
    torch.testing.assert_close(vq.codebook, embed_sum / smoothed[:, None])


def test_ema_moves_codebook_to_cluster_centres():
    torch.manual_seed(20)
    vq = VectorQuantizer(2, 4, decay=0.8).train()
    with torch.no_grad():
        start = CENTRES + torch.tensor([1.5, -1.0])
        vq.codebook.copy_(start)
        vq.embed_sum.copy_(start)
    before = (vq.codebook - CENTRES).norm(dim=-1)
    for step in range(40):
        vq(clustered(16, seed=step))
    after = (vq.codebook - CENTRES).norm(dim=-1)
    assert (after < 0.1).all() and (after < before / 10).all(), after
    # Eval does not move it.
    frozen = vq.codebook.clone()
    vq.eval()(clustered(16, seed=99))
    assert torch.equal(vq.codebook, frozen)


@pytest.mark.parametrize("ema_update", [True, False])
def test_kmeans_init_sets_initted_and_codes_near_data(ema_update):
    torch.manual_seed(21)
    vq = VectorQuantizer(2, 2, kmeans_init=True, ema_update=ema_update, kmeans_iters=10)
    assert not bool(vq.initted)
    gen = torch.Generator().manual_seed(21)
    centres = CENTRES[[0, 2]]
    x = (centres[:, None, :] + 0.1 * torch.randn(2, 32, 2, generator=gen)).reshape(-1, 2)
    initial = vq.codebook.detach().clone()
    vq.eval()(x)
    assert not bool(vq.initted)  # eval never initialises
    assert torch.equal(vq.codebook.detach(), initial)
    out = vq.train()(x)
    assert bool(vq.initted)
    codebook = vq.codebook.detach().clone()
    # One code on each cluster, at the cluster's mean (random init is ~0.5 from the origin).
    assert sorted(out.indices[:32].unique().tolist() + out.indices[32:].unique().tolist()) == [0, 1]
    for k in range(2):
        torch.testing.assert_close(codebook[k], x[out.indices == k].mean(0), rtol=0, atol=1e-3)
    assert (torch.cdist(codebook, centres).min(-1).values < 0.1).all()
    if ema_update:
        torch.testing.assert_close(vq.cluster_size, torch.full((2,), 32.0))
    # A second step does not re-run k-means.
    vq.train()(x + 100)
    if not ema_update:
        assert torch.equal(vq.codebook.detach(), codebook)


def test_kmeans_is_a_lloyd_fixed_point_on_four_clusters():
    torch.manual_seed(27)
    vq = VectorQuantizer(2, 4, kmeans_init=True, ema_update=False, kmeans_iters=10).train()
    x = clustered(32)
    before = torch.cdist(x, vq.codebook.detach()).min(-1).values.pow(2).mean()
    vq(x)
    codebook = vq.codebook.detach()
    assign = torch.cdist(x, codebook).argmin(-1)
    for k in assign.unique():
        torch.testing.assert_close(codebook[k], x[assign == k].mean(0), rtol=0, atol=1e-4)
    after = torch.cdist(x, codebook).min(-1).values.pow(2).mean()
    assert after < before / 2


def test_dead_codes_restart_onto_batch_vectors():
    torch.manual_seed(22)
    vq = VectorQuantizer(2, 8, decay=0.8, threshold_ema_dead_code=1.0).train()
    far = torch.full((7, 2), 100.0) + torch.arange(7.0)[:, None]
    with torch.no_grad():
        vq.codebook.copy_(torch.cat([torch.zeros(1, 2), far]))
        vq.embed_sum.copy_(vq.codebook)
    x = torch.randn(64, 2) * 0.1
    out = vq(x)
    assert (out.indices == 0).all()  # only code 0 was used in this batch
    restarted = vq.codebook[1:]
    # Each unused code now sits exactly on one of the batch vectors.
    match = (restarted[:, None, :] == x[None, :, :]).all(-1).any(-1)
    assert match.all()
    torch.testing.assert_close(vq.cluster_size[1:], torch.full((7,), 1.0))
    torch.testing.assert_close(vq.embed_sum[1:], restarted * 1.0)
    assert vq.cluster_size[0] > 1.0  # the used code is not restarted


def test_a_threshold_too_high_for_the_batch_warns_once_per_place():
    vq = VectorQuantizer(4, 64, threshold_ema_dead_code=2.0).train()
    with pytest.warns(UserWarning, match=r"16 vectors / 64 codes = 0.25\): \d+ codes were restarted"):
        vq(torch.randn(16, 4))
    fitting = VectorQuantizer(4, 64, threshold_ema_dead_code=0.01).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitting(torch.randn(16, 4))


def test_no_restart_without_threshold():
    vq = VectorQuantizer(2, 8, decay=0.8).train()
    far = torch.full((7, 2), 100.0)
    with torch.no_grad():
        vq.codebook.copy_(torch.cat([torch.zeros(1, 2), far]))
        vq.embed_sum.copy_(vq.codebook)
    vq(torch.randn(64, 2) * 0.1)
    assert (vq.codebook[1:] > 50).all()


# --------------------------------------------------------------------------- quantize dropout


def test_rvq_quantize_dropout_varies_stage_count():
    random.seed(23)
    torch.manual_seed(23)
    rvq = ResidualVQ(4, 5, 8, quantize_dropout=True, quantize_dropout_cutoff_index=1).train()
    x = torch.randn(6, 4)
    seen = set()
    for _ in range(120):
        out = rvq(x)
        stages = out.indices.shape[-1]
        assert int(out.metrics["num_quantizers"]) == stages
        assert int(out.indices.min()) >= 0  # dropped stages are left out, not -1
        seen.add(stages)
    assert seen == {2, 3, 4, 5}
    # An explicit count overrides the draw; eval always runs every stage.
    assert rvq(x, num_quantizers=3).indices.shape[-1] == 3
    rvq.eval()
    assert {rvq(x).indices.shape[-1] for _ in range(20)} == {5}


def test_rvq_without_dropout_uses_all_stages_in_train():
    rvq = ResidualVQ(4, 3, 8).train()
    x = torch.randn(6, 4)
    assert {rvq(x).indices.shape[-1] for _ in range(10)} == {3}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", NAMES)
def test_bad_indices_raise_invalid_tokens(name):
    q, shape, codes_kwargs = make(name)
    q.eval()
    ids = q(torch.randn(shape)).indices

    def expect_invalid(bad, pattern=None):
        with pytest.raises(InvalidTokensError, match=pattern) as info:
            q.indices_to_codes(bad, **codes_kwargs)
        assert isinstance(info.value, ValueError)

    too_big = ids.clone()
    too_big.view(-1)[0] = q.codebook_size
    expect_invalid(too_big, str(q.codebook_size))
    negative = ids.clone()
    negative.view(-1)[-1] = -1
    expect_invalid(negative, "-1")
    expect_invalid(ids.float(), "integer")
    expect_invalid(ids.bool(), "integer")
    if name == "rvq":
        expect_invalid(torch.cat([ids, ids[..., :1]], -1), "1..3")
        expect_invalid(ids[..., :0])
        expect_invalid(torch.tensor(3))
    if name == "grouped":
        expect_invalid(ids[..., :1], "2 group")
        expect_invalid(torch.cat([ids, ids], -1))
    if name == "msvq":
        expect_invalid(ids[:, :-1])
        expect_invalid(ids.reshape(-1))


def test_rvq_accepts_fewer_stage_ids():
    torch.manual_seed(24)
    rvq = ResidualVQ(4, 3, 8).eval()
    x = torch.randn(5, 4)
    for k in (1, 2):
        out = rvq(x, num_quantizers=k)
        assert torch.equal(rvq.indices_to_codes(out.indices), out.quantized)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_input_raises_value_error(name):
    q, shape, _ = make(name)
    bad = torch.randn(*shape[:-1], shape[-1] + 1)
    message = re.escape(f"expects channel-last input (..., {shape[-1]}), got shape {tuple(bad.shape)}")
    with pytest.raises(ValueError, match=message):
        q(bad)
    with pytest.raises(ValueError, match="float"):
        q(torch.ones(shape, dtype=torch.long))


def test_msvq_needs_a_map():
    ms = MultiScaleResidualVQ(4, 8, scales=(1, 2))
    with pytest.raises(ValueError, match=r"\(B, H, W, 4\)"):
        ms(torch.randn(3, 4))


def test_constructor_validation():
    with pytest.raises(ValueError):
        FSQ([1, 5])
    with pytest.raises(ValueError):
        LFQ(dim=4, codebook_size=12)
    with pytest.raises(ValueError):
        GroupedVQ(7, 8, groups=2)
    with pytest.raises(ValueError):
        VectorQuantizer(4, 8, decay=1.0)
    with pytest.raises(ValueError):
        ResidualVQ(4, 3, 8, quantize_dropout_cutoff_index=3)
    with pytest.raises(ValueError):
        MultiScaleResidualVQ(4, 8, scales=(2, 1))


# --------------------------------------------------------------------------- LFQ entropy


def brute_force_entropies(z: torch.Tensor, value: float, inv_temperature: float):
    """Exact entropies of the softmax over all 2^d codes of logits -t * ||z - c||^2."""
    d = z.shape[-1]
    codes = torch.where(all_bit_patterns(d), value, -value).double()
    logits = -inv_temperature * torch.cdist(z.double(), codes) ** 2
    probs = logits.softmax(-1)
    per_sample = -(probs * probs.clamp_min(1e-300).log()).sum(-1).mean()
    avg = probs.mean(0)
    codebook = -(avg * avg.clamp_min(1e-300).log()).sum()
    return per_sample, codebook


@pytest.mark.parametrize("d", [1, 3, 5])
@pytest.mark.parametrize("value", [1.0, 0.4])
def test_entropy_terms_exact_for_small_d(d, value):
    torch.manual_seed(25)
    t = 2.0
    z = torch.randn(30, d) * 0.5
    exact_per_sample, exact_codebook = brute_force_entropies(z, value, t)
    logits = 4 * value * t * z
    per_sample, codebook = entropy_terms(logits, group_bits=d)
    torch.testing.assert_close(per_sample.double(), exact_per_sample, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(codebook.double(), exact_codebook, rtol=1e-5, atol=1e-5)
    per_sample_big, codebook_big = entropy_terms(logits, group_bits=d + 3)
    torch.testing.assert_close(codebook_big.double(), exact_codebook, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(per_sample_big, per_sample)
    if d > 1:
        # Smaller groups sum marginal entropies: an upper bound, strict for dependent bits.
        _, grouped = entropy_terms(logits, group_bits=1)
        assert grouped.double() >= exact_codebook - 1e-5


def test_entropy_codebook_grouping_is_strict_upper_bound_for_dependent_bits():
    # Two samples that are sure of 00 and 11: the codebook entropy is log 2, but the
    # per-bit marginals are each uniform, giving 2 log 2.
    logits = torch.tensor([[-30.0, -30.0], [30.0, 30.0]])
    _, exact = entropy_terms(logits, group_bits=2)
    _, split = entropy_terms(logits, group_bits=1)
    torch.testing.assert_close(exact, torch.tensor(math.log(2)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(split, torch.tensor(2 * math.log(2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spherical", [False, True])
def test_lfq_training_entropy_metrics_match_brute_force(spherical):
    torch.manual_seed(26)
    d, t, scale = 4, 3.0, 1.5
    cls = BSQ if spherical else LFQ
    q = cls(
        dim=d,
        inv_temperature=t,
        codebook_scale=scale,
        entropy_group_bits=8,
        entropy_loss_weight=0.3,
        diversity_gamma=0.7,
        commitment_weight=0.2,
    ).train()
    x = torch.randn(2, 15, d) * 0.4
    out = q(x)
    z = F.normalize(x, dim=-1) * scale if spherical else x
    value = scale / math.sqrt(d) if spherical else scale
    per_sample, codebook = brute_force_entropies(z.reshape(-1, d), value, t)
    torch.testing.assert_close(out.metrics["per_sample_entropy"].double(), per_sample, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.metrics["codebook_entropy"].double(), codebook, rtol=1e-5, atol=1e-5)
    commitment = F.mse_loss(z, torch.where(z > 0, value, -value))
    expected = 0.2 * commitment + 0.3 * (per_sample - 0.7 * codebook)
    torch.testing.assert_close(out.loss.double(), expected.double(), rtol=1e-5, atol=1e-5)
    # Eval has no entropy term.
    q.eval()
    assert "per_sample_entropy" not in q(x).metrics


@pytest.mark.parametrize("levels,group_codes", [([3, 4, 5], 1 << 13), ([3, 4, 5], 12), ([2, 7], 1 << 13)])
def test_fsq_entropy_terms_match_softmax_over_all_codes(levels, group_codes):
    torch.manual_seed(27)
    t = 1.5
    penalty = {"entropy_loss_weight": 0.2, "diversity_gamma": 0.8, "inv_temperature": t}
    q = FSQ(levels, entropy_group_codes=group_codes, **penalty)
    z = torch.randn(2, 20, len(levels)) * 1.5
    out = q.train()(z)
    # Every code as a point of the bounded space, then one softmax over all of them.
    grid = (q.indices_to_level_indices(torch.arange(q.codebook_size)) - q._half_width).double()
    bounded = q.bound(z).reshape(-1, len(levels)).double()
    probs = (-t * torch.cdist(bounded, grid) ** 2).softmax(-1)
    per_sample = -(probs * probs.clamp_min(1e-300).log()).sum(-1).mean()
    avg = probs.mean(0)
    exact_codebook = -(avg * avg.clamp_min(1e-300).log()).sum()
    codebook = out.metrics["codebook_entropy"].double()
    torch.testing.assert_close(out.metrics["per_sample_entropy"].double(), per_sample, rtol=1e-5, atol=1e-5)
    if group_codes >= q.codebook_size:
        torch.testing.assert_close(codebook, exact_codebook, rtol=1e-5, atol=1e-5)
    else:  # split into groups: an upper bound
        assert codebook >= exact_codebook - 1e-5
    torch.testing.assert_close(out.loss.double(), 0.2 * (per_sample - 0.8 * codebook), rtol=1e-5, atol=1e-5)


def test_fsq_entropy_penalty_is_off_by_default_and_spreads_codes_when_on():
    torch.manual_seed(28)
    x = torch.randn(512, 6) * 0.05  # squeezed near zero: few codes used
    assert FSQ([5, 5, 5, 5], dim=6).train()(x).loss.item() == 0.0
    q = FSQ([5, 5, 5, 5], dim=6, entropy_loss_weight=1.0).train()
    before = q(x).metrics["perplexity"].item()
    opt = torch.optim.Adam(q.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        q(x).loss.backward()
        opt.step()
    after = q(x).metrics["perplexity"].item()
    assert after > 4 * before, (before, after)
