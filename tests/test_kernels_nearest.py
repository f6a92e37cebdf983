"""Brute-force checks of the CPU nearest-code search (torch and faiss backends) against
float64 references. The Triton kernels have their own file (the interpreter is slow)."""

from __future__ import annotations

import pytest
import torch
from kernel_oracles import (
    DTYPES,
    METRICS,
    assert_same_choices,
    check_against_reference,
    first_nearest_index,
    lowest_identical_index,
    unit64,
)

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.kernels import lookup_codes, nearest_code
from tokenizers_zoo.kernels.nearest import lowest_identical_codes
from tokenizers_zoo.quantizers import ResidualVQ, VectorQuantizer


@pytest.fixture(autouse=True, params=["torch", "faiss"])
def backend(request, monkeypatch):
    """Every test runs on both CPU backends: the same answers, the same tie rule."""
    monkeypatch.setenv("TZOO_KERNELS", request.param)
    return request.param


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("num_codes,dim", [(1, 4), (5, 7), (17, 33), (300, 64), (64, 1)])
def test_matches_float64_bruteforce(metric, dtype, num_codes, dim):
    gen = torch.Generator().manual_seed(num_codes * 100 + dim)
    codebook = torch.randn(num_codes, dim, generator=gen).to(dtype)
    x = (torch.randn(203, dim, generator=gen) * 1.5).to(dtype)
    indices, distance = nearest_code(x, codebook, metric)
    check_against_reference(x, codebook, metric, indices, distance)


@pytest.mark.parametrize("metric", METRICS)
def test_vectors_on_codes_pick_them(metric):
    gen = torch.Generator().manual_seed(1)
    codebook = torch.randn(40, 16, generator=gen)
    codebook = codebook * torch.linspace(1, 2, 40)[:, None] if metric == "ip" else codebook
    pick = torch.randint(0, 40, (100,), generator=gen)
    # ip's nearest code to c is not c itself in general, so only test l2/cosine exactly
    indices, distance = nearest_code(codebook[pick], codebook, metric)
    check_against_reference(codebook[pick], codebook, metric, indices, distance)
    if metric != "ip":
        assert torch.equal(indices, pick)
        assert distance.abs().max() < 1e-4


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
def test_low_precision_inputs_get_fp32_distances(dtype):
    """Large half-precision vectors: their squared norms overflow fp16 (> 65504), and
    bf16 arithmetic would merge these near-ties; fp32 distances do neither."""
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(1, 33, generator=gen) * 300
    codebook = (base + torch.randn(12, 33, generator=gen)).to(dtype)
    x = (base + torch.randn(50, 33, generator=gen)).to(dtype)
    for metric in METRICS:
        indices, distance = nearest_code(x, codebook, metric)
        check_against_reference(x, codebook, metric, indices, distance)
    # the squared euclidean distances themselves are small and must come out exactly
    # (to fp32 rounding), not as inf or as a multiple of a bf16 ulp of ||x||^2 ~ 3e6
    _, distance = nearest_code(x, codebook, "l2")
    assert torch.isfinite(distance).all()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("num_codes", [2, 5, 8, 17, 33, 100])
@pytest.mark.parametrize("dim", [3, 7, 33])
def test_duplicated_codes_break_ties_to_lowest_index(metric, num_codes, dim):
    gen = torch.Generator().manual_seed(num_codes * 1000 + dim)
    codebook = torch.randn(num_codes, dim, generator=gen)
    # copy a few codes to later (and earlier) positions, including the last column,
    # which BLAS kernels often compute on a separate tail path
    src = torch.randint(0, num_codes, (3,), generator=gen)
    dst = torch.tensor([num_codes - 1, num_codes // 2, 0])
    codebook[dst] = codebook[src]
    if metric == "ip":
        codebook[dst] *= 10  # make the duplicated codes the inner-product winners
    targets = codebook[dst].repeat_interleave(40, dim=0)
    x = targets + 0.01 * torch.randn(targets.shape, generator=gen)
    indices, distance = nearest_code(x, codebook, metric)
    check_against_reference(x, codebook, metric, indices, distance)
    assert torch.equal(indices, lowest_identical_index(codebook, indices))
    # and with blocks of 7 rows: the same choices
    blocked, _ = nearest_code(x, codebook, metric, max_block_elements=7 * num_codes)
    assert torch.equal(blocked, indices)


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("dim", [2, 5, 32])
def test_exact_ties_go_to_the_lowest_index(metric, dim):
    """Small integers make every distance exact, so ties are real: each row must get the
    lowest index among its equally near codes, whichever kernel or block found them."""
    gen = torch.Generator().manual_seed(dim)
    codebook = torch.randint(-2, 3, (700, dim), generator=gen).float()
    x = torch.randint(-2, 3, (500, dim), generator=gen).float()
    indices, _ = nearest_code(x, codebook, metric)
    assert torch.equal(indices, first_nearest_index(x, codebook, metric))


@pytest.mark.parametrize("num_codes,dim", [(2, 3), (50, 4), (3000, 8)])
def test_identical_code_map_matches_bruteforce(num_codes, dim):
    """The hashed duplicate detection finds exactly the identical codes (-0.0 == 0.0 too)."""
    gen = torch.Generator().manual_seed(num_codes)
    codebook = torch.randint(-1, 2, (num_codes, dim), generator=gen).float()
    codebook[codebook == 0] = torch.where(torch.rand((codebook == 0).sum(), generator=gen) < 0.5, -0.0, 0.0)
    first = lowest_identical_codes(codebook)
    expected = lowest_identical_index(codebook, torch.arange(num_codes))
    if first is None:
        assert torch.equal(expected, torch.arange(num_codes))
    else:
        assert torch.equal(first, expected)
    assert lowest_identical_codes(torch.randn(num_codes, dim, generator=gen)) is None


@pytest.mark.parametrize("metric", METRICS)
def test_all_codes_identical_gives_index_zero(metric):
    codebook = torch.randn(1, 9).repeat(37, 1)
    x = torch.randn(64, 9)
    indices, distance = nearest_code(x, codebook, metric)
    assert torch.equal(indices, torch.zeros(64, dtype=torch.long))
    check_against_reference(x, codebook, metric, indices, distance)


@pytest.mark.parametrize("metric", METRICS)
def test_single_code(metric):
    codebook = torch.randn(1, 6)
    x = torch.randn(4, 5, 6)
    indices, distance = nearest_code(x, codebook, metric)
    assert indices.shape == (4, 5) and (indices == 0).all()
    check_against_reference(x, codebook, metric, indices, distance)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("shape", [(0, 7), (3, 0, 7), (0, 0, 7)])
def test_no_vectors(metric, shape):
    indices, distance = nearest_code(torch.randn(shape), torch.randn(5, 7), metric)
    assert indices.shape == shape[:-1] == distance.shape
    assert indices.dtype == torch.int64 and distance.dtype == torch.float32


@pytest.mark.parametrize("metric", METRICS)
def test_single_vector_gives_scalars(metric):
    codebook = torch.randn(10, 7)
    x = torch.randn(7)
    indices, distance = nearest_code(x, codebook, metric)
    assert indices.shape == () == distance.shape
    check_against_reference(x, codebook, metric, indices, distance)


@pytest.mark.parametrize("metric", METRICS)
def test_batch_shape_preserved(metric):
    gen = torch.Generator().manual_seed(3)
    codebook = torch.randn(23, 7, generator=gen)
    x = torch.randn(2, 3, 5, 7, generator=gen)
    indices, distance = nearest_code(x, codebook, metric)
    assert indices.shape == (2, 3, 5) == distance.shape
    check_against_reference(x, codebook, metric, indices, distance)
    flat_idx, flat_dist = nearest_code(x.reshape(-1, 7), codebook, metric)
    assert torch.equal(indices.reshape(-1), flat_idx)
    assert torch.equal(distance.reshape(-1), flat_dist)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
def test_non_contiguous_inputs(metric, dtype):
    gen = torch.Generator().manual_seed(4)
    x_big = torch.randn(33, 90, generator=gen).to(dtype)
    x = x_big.t()[::2]  # (45, 33), strided and transposed
    cb_big = torch.randn(3, 33, 40, generator=gen).to(dtype)
    codebook = cb_big[1].t()[::3]  # (14, 33), column-major and strided
    assert not x.is_contiguous() and not codebook.is_contiguous()
    indices, distance = nearest_code(x, codebook, metric)
    check_against_reference(x, codebook, metric, indices, distance)
    dense_idx, dense_dist = nearest_code(x.contiguous(), codebook.contiguous(), metric)
    assert_same_choices(x, codebook, metric, indices, dense_idx)
    torch.testing.assert_close(distance, dense_dist, rtol=1e-5, atol=1e-5)
    # a broadcast (stride 0) batch view too
    x3 = x[:5].unsqueeze(0).expand(4, 5, 33)
    idx3, dist3 = nearest_code(x3, codebook, metric)
    assert idx3.shape == (4, 5)
    check_against_reference(x3, codebook, metric, idx3, dist3)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("num_vectors", [1, 10, 31, 97])
@pytest.mark.parametrize("max_block_elements", [1, 5, 3 * 11, 4 * 11 + 5])
def test_block_remainders(backend, metric, num_vectors, max_block_elements):
    """Blocks of 1, 3 or 4 rows (and fewer elements than codes): N is no multiple of the block."""
    if backend != "torch":
        pytest.skip("row blocks are the torch path's")
    gen = torch.Generator().manual_seed(num_vectors)
    codebook = torch.randn(11, 7, generator=gen)
    x = torch.randn(num_vectors, 7, generator=gen)
    indices, distance = nearest_code(x, codebook, metric, max_block_elements=max_block_elements)
    check_against_reference(x, codebook, metric, indices, distance)
    whole_idx, whole_dist = nearest_code(x, codebook, metric)
    assert_same_choices(x, codebook, metric, indices, whole_idx)
    torch.testing.assert_close(distance, whole_dist, rtol=1e-5, atol=1e-5)


def test_blocks_cover_every_row_exactly_once(backend):
    """With codes placed on the rows themselves, every row (first, last, remainder) must
    find its own code: a skipped or overlapped block would leave garbage."""
    if backend != "torch":
        pytest.skip("row blocks are the torch path's")
    x = torch.randn(50, 5) * 10
    codebook = x[torch.randperm(50)]
    expected = (x[:, None, :] == codebook[None]).all(-1).float().argmax(1)
    for max_block in (11 * 50, 7 * 50 + 3, 50, 1):
        indices, distance = nearest_code(x, codebook, "l2", max_block_elements=max_block)
        assert torch.equal(indices, expected)
        assert distance.max() < 1e-2


def test_cosine_zero_vectors():
    gen = torch.Generator().manual_seed(5)
    codebook = torch.randn(9, 6, generator=gen)
    x = torch.randn(20, 6, generator=gen)
    x[[0, 7, 19]] = 0
    indices, distance = nearest_code(x, codebook, "cosine")
    assert torch.equal(indices[[0, 7, 19]], torch.zeros(3, dtype=torch.long))
    assert torch.equal(distance[[0, 7, 19]], torch.ones(3))
    check_against_reference(x, codebook, "cosine", indices, distance)
    # also in fp16/bf16 and when the whole batch is zero
    for dtype in (torch.float16, torch.bfloat16):
        idx, dist = nearest_code(torch.zeros(4, 6, dtype=dtype), codebook.to(dtype), "cosine")
        assert torch.equal(idx, torch.zeros(4, dtype=torch.long))
        assert torch.equal(dist, torch.ones(4))


def test_cosine_zero_code_never_beats_a_real_match():
    gen = torch.Generator().manual_seed(6)
    codebook = torch.randn(12, 6, generator=gen)
    codebook[[0, 5]] = 0  # zero codes, one at index 0 where ties would land
    real = torch.tensor([i for i in range(12) if i not in (0, 5)])
    x = codebook[real].repeat(4, 1) * torch.rand(40, 1, generator=gen).add(0.1)
    x = x + 0.05 * torch.randn(x.shape, generator=gen)
    indices, distance = nearest_code(x, codebook, "cosine")
    assert not torch.isin(indices, torch.tensor([0, 5])).any()
    check_against_reference(x, codebook, "cosine", indices, distance)
    assert torch.isfinite(distance).all() and (distance < 1).all()
    # any vector with a positively correlated real code goes to a real code
    y = torch.randn(500, 6, generator=gen)
    idx, dist = nearest_code(y, codebook, "cosine")
    has_match = (unit64(y.double()) @ unit64(codebook.double()).t()).max(1).values > 1e-6
    assert not torch.isin(idx[has_match], torch.tensor([0, 5])).any()
    check_against_reference(y, codebook, "cosine", idx, dist)
    # a zero vector against a zero code: distance 1, index 0
    idx0, dist0 = nearest_code(torch.zeros(1, 6), codebook, "cosine")
    assert int(idx0) == 0 and float(dist0) == 1.0


def test_l2_and_ip_zero_vectors():
    codebook = torch.randn(8, 4)
    codebook[3] = 0
    for metric in ("l2", "ip"):
        x = torch.zeros(3, 4)
        indices, distance = nearest_code(x, codebook, metric)
        check_against_reference(x, codebook, metric, indices, distance)
    indices, _ = nearest_code(torch.zeros(3, 4), codebook, "l2")
    assert (indices == 3).all()


@pytest.mark.parametrize("metric", ["L2", "euclidean", "", None, "dot"])
def test_bad_metric_raises(metric):
    with pytest.raises(ValueError, match="metric"):
        nearest_code(torch.randn(3, 4), torch.randn(5, 4), metric)


@pytest.mark.parametrize(
    "x_shape,cb_shape",
    [((3, 4), (5, 3)), ((3, 5), (5, 4)), ((2, 3, 8), (5, 4)), ((4,), (5, 3))],
)
def test_mismatched_dim_raises(x_shape, cb_shape):
    with pytest.raises(ValueError):
        nearest_code(torch.randn(x_shape), torch.randn(cb_shape), "l2")


@pytest.mark.parametrize("cb_shape", [(5,), (2, 5, 4), (0, 4)])
def test_bad_codebook_raises(cb_shape):
    with pytest.raises(ValueError):
        nearest_code(torch.randn(3, 4), torch.randn(cb_shape), "l2")


# --------------------------------------------------------------------------- lookup_codes

INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: str(d).split(".")[-1])
def test_lookup_codes_integer_dtypes(dtype):
    codebook = torch.randn(100, 5)
    ids = torch.tensor([[0, 99, 42], [7, 7, 1]], dtype=dtype)
    out = lookup_codes(ids, codebook)
    assert out.shape == (2, 3, 5)
    assert torch.equal(out, codebook[ids.long()])
    # 0-d and empty ids
    assert torch.equal(lookup_codes(torch.tensor(3, dtype=dtype), codebook), codebook[3])
    assert lookup_codes(torch.zeros(0, 2, dtype=dtype), codebook).shape == (0, 2, 5)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: str(d).split(".")[-1])
def test_lookup_codes_out_of_range(dtype):
    codebook = torch.randn(10, 3)
    with pytest.raises(InvalidTokensError, match=r"\b10\b"):
        lookup_codes(torch.tensor([0, 10, 3], dtype=dtype), codebook)
    with pytest.raises(InvalidTokensError, match=r"\b77\b"):
        lookup_codes(torch.tensor([[1], [77]], dtype=dtype), codebook)
    if dtype.is_signed:
        with pytest.raises(InvalidTokensError, match="-1"):
            lookup_codes(torch.tensor([0, -1, 9], dtype=dtype), codebook)
    # an InvalidTokensError is a ValueError too
    with pytest.raises(ValueError):
        lookup_codes(torch.tensor([12], dtype=dtype), codebook)


def test_lookup_codes_big_index_named_in_message():
    with pytest.raises(InvalidTokensError, match="123456789"):
        lookup_codes(torch.tensor([5, 123456789]), torch.randn(16, 2))
    with pytest.raises(InvalidTokensError, match="-7"):
        lookup_codes(torch.tensor([-7, 123456789]), torch.randn(16, 2))


@pytest.mark.parametrize(
    "dtype",
    [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.bool, torch.complex64],
    ids=lambda d: str(d).split(".")[-1],
)
def test_lookup_codes_rejects_non_integer_ids(dtype):
    ids = torch.tensor([0, 1], dtype=dtype)
    with pytest.raises(InvalidTokensError, match="integer"):
        lookup_codes(ids, torch.randn(4, 3))


def test_lookup_codes_roundtrip_with_nearest_code():
    codebook = torch.randn(64, 12)
    x = torch.randn(3, 7, 12)
    indices, _ = nearest_code(x, codebook, "l2")
    codes = lookup_codes(indices.to(torch.int16), codebook)
    assert codes.shape == x.shape
    assert torch.equal(codes, codebook[indices])


@pytest.mark.parametrize("use_cosine_sim", [False, True])
def test_vector_quantizers_give_their_torch_path_outputs(use_cosine_sim):
    torch.manual_seed(0)
    modules = [
        VectorQuantizer(16, 256, use_cosine_sim=use_cosine_sim).eval(),
        ResidualVQ(16, 3, 64, use_cosine_sim=use_cosine_sim).eval(),
    ]
    x = torch.randn(4, 100, 16)
    for module in modules:
        with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
            out = module(x)
            mp.setenv("TZOO_KERNELS", "torch")
            ref = module(x)
        assert torch.equal(out.indices, ref.indices)
        assert torch.equal(out.quantized, ref.quantized)
        assert torch.equal(out.loss, ref.loss)
