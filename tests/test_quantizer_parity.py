"""Parity with vector-quantize-pytorch 1.32: converted quantizers give the same ids.

Their modules take channel-last ``(b, n, d)`` input, as ours do; everything is
compared in eval mode on the codebooks and projections of the source module.
"""

from __future__ import annotations

import pytest
import torch
import vector_quantize_pytorch as vqp
from torch import nn

from tokenizers_zoo.quantizers import (
    BSQ,
    FSQ,
    LFQ,
    ResidualVQ,
    VectorQuantizer,
    from_vector_quantize_pytorch,
)


def convert_and_compare(theirs: nn.Module, x: torch.Tensor, atol: float = 1e-6):
    theirs.eval()
    ours = from_vector_quantize_pytorch(theirs)
    assert not ours.training
    with torch.no_grad():
        their_out = theirs(x)
        out = ours(x)
    their_q, their_ids = their_out[0], their_out[1]
    assert out.indices.dtype == torch.int64
    assert out.indices.shape == their_ids.shape
    assert torch.equal(out.indices, their_ids.long())
    assert out.quantized.shape == their_q.shape == x.shape
    torch.testing.assert_close(out.quantized, their_q, rtol=1e-5, atol=atol)
    return ours, out, their_ids


# --------------------------------------------------------------------------- VectorQuantize


@pytest.mark.parametrize("cosine", [False, True])
@pytest.mark.parametrize("codebook_dim", [None, 4])
def test_vector_quantize_parity(cosine, codebook_dim):
    torch.manual_seed(0)
    theirs = vqp.VectorQuantize(dim=16, codebook_size=64, codebook_dim=codebook_dim, use_cosine_sim=cosine)
    x = torch.randn(2, 50, 16)
    ours, out, ids = convert_and_compare(theirs, x)
    assert isinstance(ours, VectorQuantizer)
    assert ours.use_cosine_sim == cosine and ours.codebook_size == 64
    assert ours.codebook_dim == (codebook_dim or 16)
    assert isinstance(ours.project_in, nn.Linear) == (codebook_dim is not None)
    with torch.no_grad():
        torch.testing.assert_close(ours.indices_to_codes(out.indices), theirs.get_output_from_indices(ids))
    # Nothing is shared: changing their codebook or projections leaves ours alone.
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with torch.no_grad():
        for tensor in [*theirs.parameters(), *theirs.buffers()]:
            if tensor.is_floating_point():
                tensor.add_(1.0)
    for key, value in ours.state_dict().items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("cosine", [False, True])
def test_vector_quantize_parity_after_their_training(cosine):
    """A trained codebook (k-means init, EMA steps) and its EMA state come over."""
    torch.manual_seed(1)
    theirs = vqp.VectorQuantize(dim=8, codebook_size=16, kmeans_init=True, decay=0.9, use_cosine_sim=cosine)
    theirs.train()
    for _ in range(3):
        theirs(torch.randn(4, 32, 8) * 2 + 1)
    assert bool(theirs._codebook.initted)
    theirs.eval()
    ours = from_vector_quantize_pytorch(theirs)
    assert bool(ours.initted) and ours.decay == pytest.approx(0.9)
    torch.testing.assert_close(ours.cluster_size, theirs._codebook.cluster_size[0])
    torch.testing.assert_close(ours.embed_sum, theirs._codebook.embed_avg[0])
    convert_and_compare(theirs, torch.randn(3, 40, 8) * 2 + 1)
    # Continuing to train both on one batch moves both codebooks the same way.
    ours.train()
    theirs.train()
    batch = torch.randn(2, 30, 8) * 2 + 1
    ours(batch)
    theirs(batch)
    torch.testing.assert_close(ours.codebook, theirs.codebook, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.cluster_size, theirs._codebook.cluster_size[0])


def test_conversion_keeps_training_mode_and_settings():
    theirs = vqp.VectorQuantize(dim=8, codebook_size=16, threshold_ema_dead_code=2, commitment_weight=0.3)
    theirs.train()
    ours = from_vector_quantize_pytorch(theirs)
    assert ours.training
    assert ours.decay == pytest.approx(0.8)  # their default, not ours
    assert ours.threshold_ema_dead_code == 2.0 and ours.commitment_weight == pytest.approx(0.3)
    assert ours.ema_update
    learned = from_vector_quantize_pytorch(
        vqp.VectorQuantize(dim=8, codebook_size=16, ema_update=False, learnable_codebook=True)
    )
    assert not learned.ema_update and isinstance(learned.codebook, nn.Parameter)


# --------------------------------------------------------------------------- ResidualVQ


@pytest.mark.parametrize("codebook_dim", [None, 6])
def test_residual_vq_parity(codebook_dim):
    torch.manual_seed(2)
    theirs = vqp.ResidualVQ(dim=16, num_quantizers=4, codebook_size=32, codebook_dim=codebook_dim)
    x = torch.randn(2, 50, 16)
    ours, out, ids = convert_and_compare(theirs, x, atol=1e-5)
    assert isinstance(ours, ResidualVQ)
    assert out.indices.shape == (2, 50, 4)
    assert ours.codebook_dim == (codebook_dim or 16)
    with torch.no_grad():
        torch.testing.assert_close(
            ours.indices_to_codes(out.indices), theirs.get_output_from_indices(ids), rtol=1e-5, atol=1e-5
        )


def test_residual_vq_parity_after_their_training():
    torch.manual_seed(3)
    theirs = vqp.ResidualVQ(
        dim=8,
        num_quantizers=3,
        codebook_size=16,
        kmeans_init=True,
        quantize_dropout=True,
        quantize_dropout_cutoff_index=1,
    )
    theirs.train()
    for _ in range(3):
        theirs(torch.randn(4, 32, 8))
    ours, _, _ = convert_and_compare(theirs, torch.randn(2, 40, 8), atol=1e-5)
    assert ours.quantize_dropout and ours.quantize_dropout_cutoff_index == 1


# --------------------------------------------------------------------------- FSQ


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 5, 5, 5, 5]])
@pytest.mark.parametrize("dim", [None, 16])
def test_fsq_parity(levels, dim):
    torch.manual_seed(4)
    theirs = vqp.FSQ(levels, dim=dim)
    x = torch.randn(2, 100, dim or len(levels)) * 2
    ours, out, ids = convert_and_compare(theirs, x)
    assert isinstance(ours, FSQ) and ours.variant == "vector-quantize-pytorch"
    assert ours.codebook_size == theirs.codebook_size
    assert ids.dtype == torch.int32  # theirs; ours are int64 with the same values
    with torch.no_grad():
        torch.testing.assert_close(ours.indices_to_codes(out.indices), theirs.indices_to_codes(ids))
        all_ids = torch.arange(ours.codebook_size)
        torch.testing.assert_close(
            ours.indices_to_codes(all_ids), theirs.indices_to_codes(all_ids.int()[None])[0]
        )


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 6, 5]])
def test_fsq_parity_near_rounding_boundaries(levels):
    """Inputs a hair either side of their rounding boundaries: where the paper's bound
    (``1 - eps``, ``tan``) and theirs (``1 + eps``, ``atanh``) disagree."""
    theirs = vqp.FSQ(levels).eval()
    lv = torch.tensor(levels, dtype=torch.float64)
    half_l = (lv - 1) * (1 + 1e-3) / 2
    offset = torch.where(lv % 2 == 0, 0.5, 0.0)
    shift = torch.atanh(offset / half_l)
    # Boundaries k + 0.5 of the bounded value, for every k the grid has.
    rows = []
    for k in torch.arange(-4.0, 4.0, dtype=torch.float64):
        b = (k + 0.5).expand(len(levels))
        inside = (b + offset).abs() < half_l
        for delta in (-1e-3, 1e-3):
            target = torch.where(inside, b + delta, torch.zeros_like(b))
            rows.append(torch.atanh((target + offset) / half_l) - shift)
    x = torch.stack(rows).float()[None]
    ours, out, ids = convert_and_compare(theirs, x)
    paper = FSQ(levels, variant="paper").eval()
    assert not torch.equal(paper(x).indices, out.indices)  # the variant matters here


# --------------------------------------------------------------------------- LFQ


@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("projected", [False, True])
def test_lfq_parity(spherical, projected):
    torch.manual_seed(5)
    if projected:
        theirs = vqp.LFQ(dim=16, codebook_size=64, spherical=spherical)
        x = torch.randn(2, 60, 16)
    else:
        theirs = vqp.LFQ(dim=6, spherical=spherical)
        x = torch.randn(2, 60, 6)
    ours, out, ids = convert_and_compare(theirs, x)
    assert isinstance(ours, BSQ if spherical else LFQ)
    assert ours.bit_order == "msb_first" and ours.codebook_size == 64
    with torch.no_grad():
        torch.testing.assert_close(ours.indices_to_codes(out.indices), theirs.indices_to_codes(ids))
    # Their ids are not ours with the default bit order: the mapping is needed.
    default = (BSQ if spherical else LFQ)(dim=6).eval()
    with torch.no_grad():
        z = ours.project_in(x)
    assert not torch.equal(default(z).indices, out.indices)


def test_lfq_parity_with_codebook_scale():
    torch.manual_seed(6)
    for spherical in (False, True):
        theirs = vqp.LFQ(dim=5, codebook_scale=0.5, spherical=spherical)
        convert_and_compare(theirs, torch.randn(2, 30, 5))


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "make",
    [
        lambda: vqp.VectorQuantize(dim=16, codebook_size=32, heads=2),
        lambda: vqp.VectorQuantize(dim=16, codebook_size=32, heads=2, separate_codebook_per_head=True),
        lambda: vqp.VectorQuantize(dim=16, codebook_size=32, codebook_dim=4, layernorm_after_project_in=True),
        lambda: vqp.VectorQuantize(dim=16, codebook_size=32, affine_param=True),
        lambda: vqp.ResidualVQ(dim=8, codebook_size=(16, 32)),
        lambda: vqp.FSQ([8, 5, 5, 5], num_codebooks=2),
        lambda: vqp.FSQ([8, 5, 5, 5], preserve_symmetry=True),
        lambda: vqp.LFQ(dim=8, num_codebooks=2, codebook_size=16),
        lambda: vqp.LFQ(dim=8, soft_clamp_input_value=10.0),
        lambda: vqp.LFQ(dim=16, codebook_size=64, cosine_sim_project_in=True),
    ],
)
def test_unsupported_options_raise_value_error(make):
    module = make()
    with pytest.raises(ValueError, match="cannot convert"):
        from_vector_quantize_pytorch(module)


def test_non_vqp_modules_raise_type_error():
    with pytest.raises(TypeError):
        from_vector_quantize_pytorch(nn.Linear(4, 4))
    with pytest.raises(TypeError):
        from_vector_quantize_pytorch(VectorQuantizer(4, 8))

    class VectorQuantize(nn.Module):  # the right name from the wrong package
        pass

    with pytest.raises(TypeError):
        from_vector_quantize_pytorch(VectorQuantize())
