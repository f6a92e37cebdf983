"""The parameter-free tokenizers and the media handling they share."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import tokenizers_zoo as tz
from tokenizers_zoo.media import to_image_batch, to_pil, to_uint8


@pytest.mark.parametrize("size", [(16, 16), (37, 50), (1, 1), (64, 17)])
def test_patch_tokenizer_is_exact_at_any_size(size: tuple[int, int]) -> None:
    tok = tz.load("image-patch-p16")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    tokens = tok.encode(image)
    assert tokens.original_size == size
    assert tokens.shape == (1, *tok.info.token_shape(size))
    back = tok.decode(tokens)
    assert back.shape == (1, 3, *size)
    assert np.array_equal(to_uint8(back)[0].permute(1, 2, 0).numpy(), image)


def test_patch_layout_matches_fuyu_order() -> None:
    tok = tz.load("image-patch-p8")
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    latents = tok.encode(x).latents
    assert latents.shape == (2, 2, 3, 8 * 8 * 3)
    # token (1, 2), pixel (row 3, col 5), channel 1
    assert latents[1, 1, 2, (3 * 8 + 5) * 3 + 1] == x[1, 1, 8 + 3, 16 + 5]


def test_image_inputs_convert_consistently(tmp_path) -> None:  # noqa: ANN001
    rgb = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    expected = to_image_batch(rgb)
    assert torch.equal(to_image_batch(Image.fromarray(rgb)), expected)
    assert torch.equal(to_image_batch(torch.from_numpy(rgb).permute(2, 0, 1)), expected)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    assert torch.equal(to_image_batch(str(tmp_path / "x.png")), expected)
    assert to_image_batch([rgb, rgb]).shape == (2, 3, 9, 7)
    gray = to_image_batch(rgb[..., 0])
    assert torch.equal(gray[:, 0], gray[:, 2])
    rgba = np.concatenate([rgb, np.zeros((9, 7, 1), np.uint8)], axis=2)
    assert torch.equal(to_image_batch(rgba), torch.ones(1, 3, 9, 7))  # transparent -> white
    assert to_pil(expected).size == (7, 9)


@pytest.mark.parametrize(
    ("media", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (torch.zeros(1, 3, 4, 4) + 3.0, r"\[-1, 1\]"),
        (torch.full((1, 3, 4, 4), float("nan")), "NaN"),
        (torch.zeros(2, 4, 4, 4), "channels"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)], "share a size"),
        ("/definitely/not/here.png", "cannot open"),
        (b"bytes", "cannot read"),
        ([], "no images"),
    ],
)
def test_bad_images_raise_invalid_media(media, message: str) -> None:  # noqa: ANN001
    with pytest.raises(tz.InvalidMediaError, match=message):
        tz.load("image-patch-p16").encode(media)


def test_not_an_image_file(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(tz.InvalidMediaError, match="not an image"):
        to_image_batch(tmp_path / "fake.png")


def test_mulaw_round_trip_error_is_bounded() -> None:
    tok = tz.load("audio-mulaw-8bit")
    t = torch.linspace(0, 1, 8000)
    wave = 0.8 * torch.sin(2 * torch.pi * 220 * t)
    tokens = tok.encode(wave, sample_rate=8000)
    assert tokens.shape == (1, 1, 8000) and tokens.sample_rate == 8000
    assert int(tokens.ids.min()) >= 0 and int(tokens.ids.max()) <= 255
    back = tok.decode(tokens)[0, 0]
    # mu-law step is relative: error at most ~3.2% of |x| plus a tiny floor near zero
    assert torch.all((back - wave).abs() <= 0.035 * wave.abs() + 2e-3)


def test_mulaw_inputs_and_downmix() -> None:
    tok = tz.load("audio-mulaw-8bit")
    pcm = (np.sin(np.linspace(0, 50, 400)) * 20000).astype(np.int16)
    from_int = tok.encode(pcm, sample_rate=16000).ids
    from_float = tok.encode(pcm.astype(np.float32) / 32768, sample_rate=16000).ids
    assert torch.equal(from_int, from_float)
    stereo = torch.stack([torch.zeros(400), torch.from_numpy(pcm / 32768).float() * 2])
    assert torch.equal(tok.encode(stereo, sample_rate=16000).ids, from_float)


@pytest.mark.parametrize(
    ("media", "kwargs", "message"),
    [
        (np.array(["a"]), {}, "numbers"),
        (torch.zeros(0), {}, "empty"),
        (torch.zeros(1, 1, 1, 5), {}, "shape"),
        (torch.tensor([float("inf")]), {}, "NaN"),
        ("no-such-file.wav", {}, "cannot read audio file no-such-file.wav: no such file"),
        (torch.zeros(10), {"sample_rate": -5}, "positive"),
        (torch.zeros(10), {"bandwidth": 6.0}, "does not take"),
    ],
)
def test_bad_audio_raises_invalid_media(media, kwargs, message: str) -> None:  # noqa: ANN001
    with pytest.raises(tz.InvalidMediaError, match=message):
        tz.load("audio-mulaw-8bit").encode(media, **kwargs)


def test_decode_checks_tokens_before_use() -> None:
    tok = tz.load("audio-mulaw-8bit")
    good = tok.encode(torch.zeros(100))
    with pytest.raises(tz.InvalidTokensError, match="outside the vocabulary 0..255"):
        tok.decode(good.with_data(good.ids + 300))
    with pytest.raises(tz.InvalidTokensError, match="must have shape"):
        tok.decode(good.with_data(good.ids[..., :50]))
    with pytest.raises(tz.InvalidTokensError, match="not from"):
        tz.load("image-patch-p16").decode(
            tz.Tokens("audio-mulaw-8bit", (4, 4), latents=torch.zeros(1, 1, 1, 768))
        )
    with pytest.raises(tz.InvalidTokensError, match="integer ids"):
        tok.decode(torch.zeros(1, 1, 10))
    with pytest.raises(tz.InvalidTokensError, match="expects"):
        tok.decode(torch.zeros(1, 10, dtype=torch.long))
    patch = tz.load("image-patch-p16")
    bad = patch.encode(torch.zeros(1, 3, 16, 16))
    with pytest.raises(tz.InvalidTokensError, match="NaN"):
        patch.decode(bad.with_data(bad.latents * float("nan")))


def test_decode_bare_tensor_uses_the_full_grid() -> None:
    tok = tz.load("audio-mulaw-8bit")
    ids = torch.randint(0, 256, (2, 1, 77))
    assert tok.decode(ids).shape == (2, 1, 77)
    patch = tz.load("image-patch-p16")
    assert patch.decode(torch.zeros(1, 2, 3, 768)).shape == (1, 3, 32, 48)


def test_image_tokenizer_rejects_sample_rate() -> None:
    with pytest.raises(tz.InvalidMediaError, match="sample_rate"):
        tz.load("image-patch-p16").encode(torch.zeros(1, 3, 4, 4), sample_rate=16000)


def test_load_moves_to_dtype() -> None:
    tok = tz.load("image-patch-p16", dtype=torch.float64)
    assert tok.encode(torch.zeros(1, 3, 16, 16)).latents.dtype == torch.float64
