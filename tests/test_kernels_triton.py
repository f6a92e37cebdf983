"""The Triton kernels against brute force and against the torch reference path.

On CPU they run in Triton's interpreter (``TRITON_INTERPRET=1``), which executes every
block in numpy, so shapes are small but chosen to hit the edges: N and K that are no
multiple of the 16-row/16-code interpreter blocks, K=1, N=0, D not a power of two and
D=512, duplicates in the same and in different lanes of a tile. With a GPU the same
tests run compiled on CUDA (``gpu``; skipped without one).
"""

from __future__ import annotations

import pytest
import torch
from kernel_oracles import (
    DTYPES,
    METRICS,
    check_against_reference,
    first_nearest_index,
    lowest_identical_index,
)

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.kernels import (
    KernelBackendError,
    fsq_quantize,
    lfq_quantize,
    lookup_codes,
    nearest_code,
    rvq_encode,
    select_backend,
)
from tokenizers_zoo.kernels.dispatch import triton_interpreting
from tokenizers_zoo.quantizers import BSQ, FSQ, LFQ, ResidualVQ, VectorQuantizer

pytest.importorskip("triton")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request, monkeypatch):
    """``cpu``: the interpreter (conftest turns it on where there is no GPU)."""
    if request.param == "cpu" and not triton_interpreting():
        pytest.skip("Triton was imported without TRITON_INTERPRET=1: no CPU interpreter")
    monkeypatch.setenv("TZOO_KERNELS", "triton")
    return torch.device(request.param)


def reference(fn, *args, **kwargs):
    """``fn`` on the torch backend, on CPU."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZOO_KERNELS", "torch")
        return fn(*(a.cpu() if isinstance(a, torch.Tensor) else a for a in args), **kwargs)


def randn(*shape, seed, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale).to(dtype)


# ----------------------------------------------------------------------------- nearest_code


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("num_codes,dim", [(1, 4), (17, 7), (40, 33), (23, 300)])
def test_search_matches_bruteforce(device, metric, dtype, num_codes, dim):
    codebook = randn(num_codes, dim, seed=num_codes + dim, dtype=dtype)
    x = randn(37, dim, seed=dim, dtype=dtype, scale=1.5)
    indices, distance = nearest_code(x.to(device), codebook.to(device), metric)
    check_against_reference(x, codebook, metric, indices.cpu(), distance.cpu())


@pytest.mark.parametrize("metric", METRICS)
def test_search_widest_vectors(device, metric):
    codebook = randn(20, 512, seed=1)
    x = randn(18, 512, seed=2)
    indices, distance = nearest_code(x.to(device), codebook.to(device), metric)
    check_against_reference(x, codebook, metric, indices.cpu(), distance.cpu())


def test_wider_vectors_take_the_torch_path(device):
    codebook, x = randn(6, 513, seed=17), randn(5, 513, seed=18)
    indices, distance = nearest_code(x.to(device), codebook.to(device))
    check_against_reference(x, codebook, "l2", indices.cpu(), distance.cpu())
    indices, _ = rvq_encode(x.to(device), codebook[None].to(device))
    assert torch.equal(indices.cpu()[:, 0], reference(nearest_code, x, codebook)[0])


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_search_exact_ties_go_to_the_lowest_index(device, metric):
    """Integer inputs make distances exact: ties within a tile, across tiles and across
    lanes must all resolve to the lowest index, as brute force's first minimum does."""
    gen = torch.Generator().manual_seed(3)
    codebook = torch.randint(-1, 2, (45, 3), generator=gen).float()
    x = torch.randint(-1, 2, (40, 3), generator=gen).float()
    indices, _ = nearest_code(x.to(device), codebook.to(device), metric)
    assert torch.equal(indices.cpu(), first_nearest_index(x, codebook, metric))


@pytest.mark.parametrize("metric", METRICS)
def test_search_duplicated_codes_in_same_and_other_lanes(device, metric):
    codebook = randn(40, 9, seed=4)
    codebook[[19, 35, 38]] = codebook[3].clone()  # 19 and 35 share code 3's lane (3 + 16k); 38 does not
    codebook[[3, 19, 35, 38]] *= 4 if metric == "ip" else 1
    x = codebook[[3] * 8] + 0.01 * randn(8, 9, seed=5)
    indices, distance = nearest_code(x.to(device), codebook.to(device), metric)
    assert (indices.cpu() == 3).all()
    check_against_reference(x, codebook, metric, indices.cpu(), distance.cpu())
    assert torch.equal(indices.cpu(), lowest_identical_index(codebook, indices.cpu()))


@pytest.mark.parametrize("metric", METRICS)
def test_search_empty_single_and_batched(device, metric):
    codebook = randn(5, 6, seed=6).to(device)
    for shape in [(0, 6), (2, 0, 6)]:
        indices, distance = nearest_code(torch.empty(shape, device=device), codebook, metric)
        assert indices.shape == shape[:-1] == distance.shape and indices.dtype == torch.int64
    x = randn(2, 3, 6, seed=7)
    indices, distance = nearest_code(x.to(device), codebook, metric)
    assert indices.shape == (2, 3)
    check_against_reference(x, codebook.cpu(), metric, indices.cpu(), distance.cpu())


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_search_non_contiguous(device, metric, dtype):
    x = randn(33, 50, seed=8, dtype=dtype).t()[::2]  # (25, 33), transposed and strided
    codebook = randn(33, 60, seed=9, dtype=dtype).t()[::3]  # (20, 33)
    assert not x.is_contiguous() and not codebook.is_contiguous()
    indices, distance = nearest_code(x.to(device), codebook.to(device), metric)
    check_against_reference(x, codebook, metric, indices.cpu(), distance.cpu())


def test_search_cosine_zero_vectors_and_codes(device):
    codebook = randn(9, 6, seed=10)
    codebook[4] = 0
    x = randn(20, 6, seed=11)
    x[[0, 7, 19]] = 0
    indices, distance = nearest_code(x.to(device), codebook.to(device), "cosine")
    assert torch.equal(indices.cpu()[[0, 7, 19]], torch.zeros(3, dtype=torch.long))
    assert torch.equal(distance.cpu()[[0, 7, 19]], torch.ones(3))
    check_against_reference(x, codebook, "cosine", indices.cpu(), distance.cpu())


# ----------------------------------------------------------------------------- rvq_encode


@pytest.mark.parametrize("num_stages,num_codes,dim", [(1, 17, 8), (3, 40, 16), (4, 5, 3)])
def test_rvq_encode_equals_stagewise_search(device, num_stages, num_codes, dim):
    codebooks = (
        randn(num_stages, num_codes, dim, seed=num_stages) / torch.arange(1, num_stages + 1)[:, None, None]
    )
    x = randn(2, 19, dim, seed=12)
    indices, quantized = rvq_encode(x.to(device), codebooks.to(device))
    ref_indices, ref_quantized = reference(rvq_encode, x, codebooks)
    assert indices.shape == (2, 19, num_stages) and quantized.shape == (2, 19, dim)
    assert torch.equal(indices.cpu(), ref_indices)
    assert torch.equal(quantized.cpu(), ref_quantized)


def test_rvq_encode_duplicates_and_empty(device):
    codebooks = randn(2, 20, 4, seed=13)
    codebooks[1] *= 0.05  # a finer second stage, so stage 0 surely picks code 5
    codebooks[1, 17] = codebooks[1, 2].clone()
    x = codebooks[0, [5] * 6] + codebooks[1, 2] + 0.0001 * randn(6, 4, seed=14)
    indices, _ = rvq_encode(x.to(device), list(codebooks.to(device)))
    assert (indices.cpu()[:, 0] == 5).all() and (indices.cpu()[:, 1] == 2).all()
    indices, quantized = rvq_encode(torch.empty(0, 4, device=device), codebooks.to(device))
    assert indices.shape == (0, 2) and quantized.shape == (0, 4)


# ----------------------------------------------------------------------------- FSQ / LFQ


@pytest.mark.parametrize("variant", ["paper", "vector-quantize-pytorch"])
@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 6], [2, 3, 4, 5, 6, 7, 8, 9, 10]])
def test_fsq_equals_reference(device, variant, levels):
    z = randn(3, 50, len(levels), seed=len(levels), scale=2.0)
    z[0, 0] = 0
    z[0, 1] = 40  # saturated
    z[0, 2] = -40
    codes, indices = fsq_quantize(z.to(device), levels, variant=variant)
    ref_codes, ref_indices = reference(fsq_quantize, z, levels, variant=variant)
    assert torch.equal(codes.cpu(), ref_codes)
    assert torch.equal(indices.cpu(), ref_indices)


@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("bit_order", ["lsb_first", "msb_first"])
@pytest.mark.parametrize("bits", [1, 5, 18])
def test_lfq_equals_reference(device, spherical, bit_order, bits):
    z = randn(70, bits, seed=bits)
    z[0] = 0
    z[1, 0] = -0.0
    codes, indices = lfq_quantize(z.to(device), spherical, codebook_scale=1.5, bit_order=bit_order)
    ref_codes, ref_indices = reference(lfq_quantize, z, spherical, codebook_scale=1.5, bit_order=bit_order)
    assert torch.equal(codes.cpu(), ref_codes)
    assert torch.equal(indices.cpu(), ref_indices)
    assert int(indices[0]) == 0


# ----------------------------------------------------------------------------- lookup_codes


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_lookup_gathers_and_checks(device, dtype):
    codebook = randn(100, 37, seed=15).to(device)
    ids = torch.tensor([[0, 99, 42], [7, 7, 1]], dtype=dtype)
    assert torch.equal(lookup_codes(ids.to(device), codebook).cpu(), codebook.cpu()[ids.long()])
    with pytest.raises(InvalidTokensError, match="index 100 is outside"):
        lookup_codes(torch.tensor([3, 100], dtype=dtype, device=device), codebook)
    if dtype != torch.uint8:
        with pytest.raises(InvalidTokensError, match="index -1 is outside"):
            lookup_codes(torch.tensor([-1, 5], dtype=dtype, device=device), codebook)


# ----------------------------------------------------------------------------- quantizers


QUANTIZERS = {
    "vq": lambda: VectorQuantizer(8, 40),
    "vq_cosine": lambda: VectorQuantizer(8, 40, use_cosine_sim=True),
    "rvq": lambda: ResidualVQ(8, 3, 20),
    "fsq": lambda: FSQ([8, 5, 5], dim=8),
    "lfq": lambda: LFQ(dim=8, codebook_size=2**6),
    "bsq": lambda: BSQ(dim=8, codebook_size=2**6),
}


@pytest.mark.parametrize("name", QUANTIZERS)
def test_quantizers_in_eval_match_their_torch_path(device, name):
    torch.manual_seed(0)
    module = QUANTIZERS[name]().eval()
    x = randn(2, 21, 8, seed=16)
    with torch.no_grad():
        ref = reference(module, x)
        out = module.to(device)(x.to(device))
    assert torch.equal(out.indices.cpu(), ref.indices)
    assert torch.equal(out.quantized.cpu(), ref.quantized)
    assert torch.equal(out.loss.cpu(), ref.loss)


# ----------------------------------------------------------------------------- dispatch


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setenv("TZOO_KERNELS", "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(KernelBackendError, match="TRITON_INTERPRET=1"):
        nearest_code(torch.randn(3, 4), torch.randn(5, 4))


def test_unknown_forced_backend_is_named(monkeypatch):
    monkeypatch.setenv("TZOO_KERNELS", "cuda")
    with pytest.raises(KernelBackendError, match="'cuda' is not one of triton, torch, faiss"):
        nearest_code(torch.randn(3, 4), torch.randn(5, 4))


def test_default_cpu_backends(monkeypatch):
    monkeypatch.delenv("TZOO_KERNELS", raising=False)
    cpu = torch.device("cpu")
    assert select_backend(cpu, faiss_supported=True) == "faiss"
    assert select_backend(cpu) == "torch"
    monkeypatch.setenv("TZOO_KERNELS", "faiss")
    assert select_backend(cpu) == "torch"  # kernels faiss does not implement
    assert select_backend(cpu, faiss_supported=True) == "faiss"


def test_residual_vq_searches_all_stages_in_one_fused_call(device, monkeypatch):
    import tokenizers_zoo.quantizers.residual as residual

    calls = []
    monkeypatch.setattr(residual, "rvq_encode", lambda *a: calls.append(1) or rvq_encode(*a))
    torch.manual_seed(0)
    module = ResidualVQ(8, 4, 20).eval()
    x = randn(3, 7, 8, seed=19)
    with torch.no_grad():
        ref = reference(module, x)
        out = module.to(device)(x.to(device))
    assert calls == [1]
    assert torch.equal(out.indices.cpu(), ref.indices)
    assert torch.equal(out.quantized.cpu(), ref.quantized)
