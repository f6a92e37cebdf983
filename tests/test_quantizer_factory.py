"""The quantizer factory: one calling convention, static descriptions, the grid hooks."""

from __future__ import annotations

import pytest
import torch

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.quantizers import (
    BSQ,
    FSQ,
    LFQ,
    GroupedVQ,
    MultiScaleResidualVQ,
    Quantizer,
    QuantizerSpec,
    ResidualVQ,
    SimVQ,
    VectorQuantizer,
    build_quantizer,
    describe_quantizer,
    quantizer_names,
    register_quantizer,
)

DIM = 8

# name -> (options of build_quantizer, the same module from its own constructor, spec)
CASES = {
    "vq": ({"codebook_size": 16}, lambda: VectorQuantizer(DIM, 16), QuantizerSpec(16)),
    "rvq": (
        {"num_quantizers": 3, "codebook_size": 16, "codebook_dim": 4, "decay": 0.9},
        lambda: ResidualVQ(DIM, 3, 16, codebook_dim=4, decay=0.9),
        QuantizerSpec(16, 3),
    ),
    "grouped": (
        {"codebook_size": 16, "groups": 2},
        lambda: GroupedVQ(DIM, 16, groups=2),
        QuantizerSpec(16, 2),
    ),
    "fsq": ({"levels": [7, 5, 5]}, lambda: FSQ([7, 5, 5], dim=DIM), QuantizerSpec(175)),
    "lfq": ({}, lambda: LFQ(dim=DIM), QuantizerSpec(256)),
    "bsq": ({"codebook_size": 64}, lambda: BSQ(dim=DIM, codebook_size=64), QuantizerSpec(64)),
    "msvq": (
        {"codebook_size": 16, "scales": [1, 2, 4]},
        lambda: MultiScaleResidualVQ(DIM, 16, scales=(1, 2, 4)),
        QuantizerSpec(16, scales=(1, 2, 4)),
    ),
    "simvq": ({"codebook_size": 16}, lambda: SimVQ(DIM, 16), QuantizerSpec(16)),
}


def test_every_factory_name_has_a_case() -> None:
    assert set(quantizer_names()) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_description_equals_what_the_built_module_reports(name: str) -> None:
    options, _, expected = CASES[name]
    spec = describe_quantizer(name, DIM, **options)
    built = build_quantizer(name, DIM, **options)
    assert isinstance(built, Quantizer) and built.dim == DIM
    assert spec == expected == built.spec
    assert (spec.codebook_size, spec.num_codebooks) == (built.codebook_size, built.num_codebooks)
    assert spec.scales == tuple(built.scales)
    assert spec.vocab_size == (built.codebook_size,) * built.num_codebooks


@pytest.mark.parametrize("name", sorted(CASES))
def test_factory_builds_what_the_constructor_builds(name: str) -> None:
    """Same class, same state-dict keys and values: checkpoints load either way."""
    options, constructor, _ = CASES[name]
    torch.manual_seed(0)
    built = build_quantizer(name, DIM, **options)
    torch.manual_seed(0)
    direct = constructor()
    assert type(built) is type(direct)
    a, b = built.state_dict(), direct.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lfq_description_follows_its_defaults_and_checks() -> None:
    assert describe_quantizer("lfq", 5).codebook_size == 32
    assert describe_quantizer("bsq", 5, codebook_size=1024).codebook_size == 1024
    with pytest.raises(ValueError, match="power of two"):
        describe_quantizer("lfq", 5, codebook_size=100)
    assert describe_quantizer("msvq", 4, codebook_size=8).scales == (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)


def test_unknown_names_and_options_are_value_errors_naming_them() -> None:
    with pytest.raises(ValueError, match=r"unknown quantizer 'pq'; known: bsq, fsq, grouped"):
        build_quantizer("pq", DIM)
    with pytest.raises(ValueError, match="takes no option levls"):
        build_quantizer("fsq", DIM, levls=[3, 3])
    with pytest.raises(ValueError, match="needs option levels"):
        describe_quantizer("fsq", DIM)
    with pytest.raises(ValueError, match="needs option codebook_size, groups"):
        build_quantizer("grouped", DIM)
    # options of every stage (VectorQuantizer's) pass; a misspelt one does not
    assert build_quantizer("rvq", DIM, num_quantizers=2, codebook_size=4, use_cosine_sim=True)
    with pytest.raises(ValueError, match="takes no option decy, groups"):
        build_quantizer("rvq", DIM, num_quantizers=2, codebook_size=4, decy=0.9, groups=2)


def test_a_quantizer_registers_beside_its_class() -> None:
    with pytest.raises(ValueError, match="taken by FSQ"):
        register_quantizer("fsq")(LFQ)


def test_grid_hooks_default_to_one_id_per_position() -> None:
    torch.manual_seed(0)
    vq = build_quantizer("vq", DIM, codebook_size=16).eval()
    ids = torch.randint(0, 16, (2, 3, 5))
    assert torch.equal(vq.indices_to_grid_codes(ids, (3, 5)), vq.indices_to_codes(ids))
    assert vq.grid_for_token_shape((3, 5)) == (3, 5)
    rvq = build_quantizer("rvq", DIM, num_quantizers=2, codebook_size=4)
    assert rvq.grid_for_token_shape((3, 5, 2)) == (3, 5)


def test_multiscale_grid_hooks_size_the_flat_ids() -> None:
    torch.manual_seed(0)
    ms = build_quantizer("msvq", 4, codebook_size=8, scales=[1, 2, 4]).eval()
    out = ms(torch.randn(2, 3, 5, 4))
    assert torch.equal(ms.indices_to_grid_codes(out.indices, (3, 5)), out.quantized)
    assert ms.grid_for_token_shape((1 + 4 + 16,)) == (4, 4)
    with pytest.raises(InvalidTokensError, match="no square grid"):
        ms.grid_for_token_shape((20,))
