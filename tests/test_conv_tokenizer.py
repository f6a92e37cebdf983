"""Learned convolutional image tokenizers: every bottleneck, any size, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tokenizers_zoo as tz
from tokenizers_zoo.quantizers import quantizer_names
from tokenizers_zoo.tokenizers.image import conv
from tokenizers_zoo.tokenizers.image.conv import ConvImageTokenizer, ConvTokenizerConfig

FIXTURE = Path(__file__).parent / "fixtures" / "chelsea_121x93.png"

BOTTLENECKS = {
    "fsq": ({"levels": [5, 3]}, 2),
    "vq": ({"codebook_size": 32}, 4),
    "rvq": ({"num_quantizers": 2, "codebook_size": 16}, 4),
    "lfq": ({"codebook_size": 16}, 4),
    "bsq": ({"codebook_size": 16}, 4),
    "simvq": ({"codebook_size": 32}, 4),
    "msvq": ({"codebook_size": 32, "scales": [1, 2, 4]}, 4),
    "grouped": ({"codebook_size": 8, "groups": 2}, 4),
    "kl": ({}, 3),
}


def tiny_config(bottleneck: str) -> ConvTokenizerConfig:
    args, channels = BOTTLENECKS[bottleneck]
    return ConvTokenizerConfig(
        bottleneck=bottleneck,
        bottleneck_args=args,
        latent_channels=channels,
        channels=8,
        channel_mult=(1, 2, 2),
        num_res_blocks=1,
        mid_attention=True,
        norm_groups=4,
    )


def tiny(bottleneck: str) -> ConvImageTokenizer:
    torch.manual_seed(0)
    return ConvImageTokenizer(tiny_config(bottleneck), name=f"tiny-{bottleneck}").eval()


@pytest.mark.parametrize("bottleneck", list(BOTTLENECKS))
@pytest.mark.parametrize("size", [(16, 16), (13, 22), (1, 5)])
def test_any_size_round_trips_to_the_same_size(bottleneck: str, size: tuple[int, int]) -> None:
    tok = tiny(bottleneck)
    x = torch.rand(2, 3, *size) * 2 - 1
    tokens = tok.encode(x)
    assert tokens.shape == (2, *tok.info.token_shape(size))
    assert tokens.original_size == size
    if tokens.ids is not None:
        assert tokens.ids.dtype == torch.int64
        assert 0 <= int(tokens.ids.min()) and int(tokens.ids.max()) < tok.info.vocab_size[0]
    out = tok.decode(tokens)
    assert out.shape == (2, 3, *size) and torch.isfinite(out).all()
    assert float(out.min()) >= -1 and float(out.max()) <= 1


@pytest.mark.parametrize("bottleneck", list(BOTTLENECKS))
def test_encode_is_deterministic_in_eval(bottleneck: str) -> None:
    tok = tiny(bottleneck)
    x = torch.rand(1, 3, 16, 12) * 2 - 1
    assert torch.equal(tok.encode(x).data, tok.encode(x).data)


def test_info_describes_the_model() -> None:
    fsq = tiny("fsq").info
    assert fsq.kind == "discrete" and fsq.vocab_size == (15,) and fsq.spatial_factor == 4
    assert tiny("rvq").info.vocab_size == (16, 16)
    assert tiny("kl").info.latent_dim == 3 and tiny("kl").info.kind == "continuous"
    ms = tiny("msvq").info
    assert ms.scales == (1, 2, 4) and ms.token_shape((16, 16)) == (1 + 4 + 16,)
    assert tiny("grouped").info.token_shape((16, 16)) == (4, 4, 2)


def test_every_factory_quantizer_is_a_bottleneck() -> None:
    assert set(conv.BOTTLENECKS) == set(conv.bottlenecks()) == {*quantizer_names(), "kl"} == set(BOTTLENECKS)


@pytest.mark.parametrize("bottleneck", list(BOTTLENECKS))
def test_describe_gives_the_info_without_building(bottleneck: str) -> None:
    config = tiny_config(bottleneck)
    assert ConvImageTokenizer.describe(config, f"tiny-{bottleneck}") == tiny(bottleneck).info
    default = ConvImageTokenizer()
    assert ConvImageTokenizer.describe(default.config, default.name) == default.info


def test_misspelt_bottleneck_options_name_the_option() -> None:
    config = ConvTokenizerConfig(bottleneck="vq", bottleneck_args={"codebook_sise": 8})
    with pytest.raises(ValueError, match="takes no option codebook_sise"):
        ConvImageTokenizer.describe(config, "x")
    with pytest.raises(ValueError, match="takes no option codebook_sise"):
        ConvImageTokenizer(config)


@pytest.mark.parametrize("bottleneck", ["fsq", "vq", "msvq", "kl"])
def test_save_and_load_give_identical_tokens(bottleneck: str, tmp_path: Path) -> None:
    tok = tiny(bottleneck)
    tok.save_pretrained(tmp_path)
    loaded = tz.load(str(tmp_path))
    x = torch.rand(1, 3, 20, 20) * 2 - 1
    a, b = tok.encode(x), loaded.encode(x)
    assert torch.equal(a.data, b.data)
    assert torch.equal(tok.decode(a), loaded.decode(b))


def test_bare_ids_decode_including_multiscale() -> None:
    tok = tiny("msvq")
    ids = torch.randint(0, 32, (2, 21))
    assert tok.decode(ids).shape == (2, 3, 16, 16)
    with pytest.raises(tz.InvalidTokensError, match="no square grid"):
        tok.decode(torch.zeros(1, 20, dtype=torch.long))


def test_dtype_and_device_handling() -> None:
    tok = tiny("fsq")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    reference = tok.encode(x).ids
    as_double = tok.to(torch.float64)
    assert as_double.dtype == torch.float64
    assert torch.equal(as_double.encode(x).ids, reference)
    bf16 = tiny("fsq").to(torch.bfloat16)
    tokens = bf16.encode(x)
    assert tokens.ids.dtype == torch.int64 and bf16.decode(tokens).dtype == torch.float32


def test_bad_tokens_and_media_raise_clear_errors() -> None:
    tok = tiny("fsq")
    tokens = tok.encode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(tz.InvalidTokensError, match="outside the vocabulary 0..14"):
        tok.decode(tokens.with_data(tokens.ids + 15))
    with pytest.raises(tz.InvalidTokensError, match="must have shape"):
        tok.decode(tokens.with_data(tokens.ids[:, :1]))
    kl = tiny("kl")
    latents = kl.encode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(tz.InvalidTokensError, match="NaN"):
        kl.decode(latents.with_data(latents.latents + float("nan")))
    with pytest.raises(tz.InvalidMediaError, match=r"\[-1, 1\]"):
        tok.encode(torch.full((1, 3, 8, 8), 5.0))
    with pytest.raises(ValueError, match="bottleneck must be one of"):
        ConvImageTokenizer(ConvTokenizerConfig(bottleneck="pq"))


def test_gradients_reach_encoder_through_every_bottleneck() -> None:
    for bottleneck in BOTTLENECKS:
        tok = tiny(bottleneck).train()
        recon, aux, _ = tok(torch.rand(2, 3, 16, 16) * 2 - 1)
        (recon.abs().mean() + aux).backward()
        grad = tok.encoder.conv_in.weight.grad
        assert grad is not None and grad.abs().sum() > 0, bottleneck


@pytest.mark.parametrize(
    "name",
    [
        "image-fsq-f8-64k-six",
        "image-fsq-f8-64k",
        "image-fsq-f8-4k",
        "image-kl-f8-c16-six",
        "image-kl-f8-c16",
        "image-palette-512",
    ],
)
def test_shipped_tokenizers_round_trip_a_real_photo(name: str) -> None:
    tok = tz.load(name)
    photo = np.asarray(Image.open(FIXTURE).convert("RGB"))
    tokens = tok.encode(photo)
    assert tokens.original_size == (93, 121)
    if tokens.ids is not None:
        assert int(tokens.ids.max()) < tok.info.vocab_size[0] and int(tokens.ids.min()) >= 0
    back = tok.decode(tokens)
    assert back.shape == (1, 3, 93, 121)
    # Far from perfect after a short CPU training run, but clearly a reconstruction.
    mse = (back - tz.media.to_image_batch(photo)).pow(2).mean()
    assert 10 * torch.log10(4 / mse) > 18


def test_defaults_name_the_trained_tokenizers() -> None:
    assert tz.default_tokenizer("image") == "image-fsq-f8-64k-six"
    assert tz.load("image-fsq-f8-64k").info.vocab_size == (64000,)  # the old default keeps its name
    assert tz.default_tokenizer("image", "continuous") == "image-kl-f8-c16-six"
    assert tz.load("image-kl-f8-c16").info.latent_dim == 16  # the old default keeps its name
    info = tz.load(tz.default_tokenizer("image")).info
    assert info.vocab_size == (64000,) and info.spatial_factor == 8
    assert tz.load("image-fsq-f8-4k").info.vocab_size == (4375,)  # the old default keeps its name


def test_a_discrete_tokenizer_starts_from_a_continuous_ones_autoencoder(monkeypatch) -> None:  # noqa: ANN001
    import dataclasses

    source = ConvImageTokenizer(dataclasses.replace(tiny_config("kl"), latent_channels=6), "test-kl").eval()
    config = dataclasses.replace(
        tiny_config("fsq"),
        bottleneck_args={"levels": [5, 3]},  # FSQ projects the 6 channels to 2
        latent_channels=6,
        autoencoder_from="test-kl",
    )
    monkeypatch.setattr(conv, "load", lambda name: {"test-kl": source}[name])
    model = ConvImageTokenizer(config, "test-fsq").eval()
    model.init_weights()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model.encoder(x), source.encoder(x)[:, :6], rtol=0, atol=0)  # the mean
        z = torch.randn(1, 6, 4, 4)
        torch.testing.assert_close(model.decoder(z), source.decoder(z), rtol=0, atol=0)
    narrow = ConvImageTokenizer(
        dataclasses.replace(config, latent_channels=2, bottleneck_args={"levels": [5, 3]})
    )
    with pytest.raises(ValueError, match="test-kl's encoder and decoder differ from .* in shape"):
        narrow.take_autoencoder(source)
    with pytest.raises(ValueError, match="is not a ConvImageTokenizer"):
        model.take_autoencoder(tz.load("image-patch-p8"))
