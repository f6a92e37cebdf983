"""Causal 3-D encoder/decoder: causality, the T = 1 + 4n rule, inflation from the 2-D
models (and from the shipped image tokenizer), windowed passes equal to whole-clip ones."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tokenizers_zoo as tz
from tokenizers_zoo.models import Decoder, Encoder, causal_blocks
from tokenizers_zoo.models.causal3d import CausalDecoder3d, CausalEncoder3d
from tokenizers_zoo.models.causal_blocks import CausalConv3d, CausalState
from tokenizers_zoo.models.inflation import inflate_decoder, inflate_encoder, inflate_weights

FIXTURE = Path(__file__).parent / "fixtures" / "chelsea_121x93.png"
# Three levels: the two resampling stages are both temporal by default (time / 4, space / 4).
ARCH = dict(channels=4, channel_mult=(1, 2, 2), num_res_blocks=1, mid_attention=True, norm_groups=2)
LATENT = 3


def encoder(**temporal: object) -> CausalEncoder3d:
    torch.manual_seed(0)
    return CausalEncoder3d(3, LATENT, **ARCH, **temporal).eval()


def decoder(**temporal: object) -> CausalDecoder3d:
    torch.manual_seed(1)
    return CausalDecoder3d(LATENT, 3, **ARCH, **temporal).eval()


def clip(frames: int, batch: int = 1, size: int = 16) -> torch.Tensor:
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(frames))


def in_windows(model: torch.nn.Module, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    assert sum(sizes) == x.shape[2]
    state: CausalState = {}
    bounds = np.cumsum([0, *sizes])
    return torch.cat([model(x[:, :, a:b], state) for a, b in zip(bounds[:-1], bounds[1:], strict=True)], 2)


def first_changed_output(model: torch.nn.Module, x: torch.Tensor, k: int) -> int:
    """The first output frame that changes when input frame ``k`` does."""
    changed = x.clone()
    changed[:, :, k] += 1
    with torch.no_grad():
        per_frame = (model(changed) - model(x)).abs().amax(dim=(0, 1, 3, 4))
    return int(per_frame.nonzero()[0])


def randomised_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Norm affines away from (1, 0), so that inflation is checked on them too."""
    for m in model.modules():
        if isinstance(m, torch.nn.GroupNorm):
            torch.nn.init.normal_(m.weight)
            torch.nn.init.normal_(m.bias)
    return model


# -- the causal conv ---------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_is_causal_and_frame_0_sees_itself_alone(stride: int) -> None:
    torch.manual_seed(0)
    conv = CausalConv3d(2, 3, stride=(stride, 1))
    x = torch.randn(1, 2, 1 + 2 * stride, 6, 6)
    assert conv(x).shape[2] == 3
    assert torch.equal(conv(x)[:, :, :1], conv(x[:, :, :1]))  # frame 0 alone gives output 0
    for k in range(1, x.shape[2]):
        assert first_changed_output(conv, x, k) == -(-k // stride), k  # output j reads inputs <= stride * j


@pytest.mark.parametrize(("stride", "sizes"), [(1, [1, 1, 3, 2]), (1, [4, 3]), (2, [1, 2, 4]), (2, [5, 2])])
def test_conv_in_windows_equals_the_whole_clip(stride: int, sizes: list[int]) -> None:
    torch.manual_seed(0)
    conv = CausalConv3d(2, 3, stride=(stride, 1))
    x = torch.randn(1, 2, sum(sizes), 6, 6)
    assert torch.equal(in_windows(conv, x, sizes), conv(x))


def test_conv_refuses_a_stride_that_skips_frames() -> None:
    with pytest.raises(ValueError, match="skip frames"):
        CausalConv3d(2, 2, temporal_kernel=1, stride=(2, 1))


# -- shapes and causality ------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2])
def test_1_plus_4n_frames_give_1_plus_n_latents_and_back(n: int) -> None:
    enc, dec = encoder(), decoder()
    assert enc.temporal_factor == dec.temporal_factor == 4
    with torch.no_grad():
        z = enc(clip(1 + 4 * n))
        assert z.shape == (1, LATENT, 1 + n, 4, 4)
        assert dec(z).shape == (1, 3, 1 + 4 * n, 16, 16)


@pytest.mark.parametrize("kernels", ["compressed", "all"])
def test_temporal_factor_1_is_a_purely_spatial_compression(kernels: str) -> None:
    enc, dec = encoder(temporal_stages=(), temporal_kernels=kernels), decoder(temporal_stages=())
    assert enc.temporal_factor == 1
    with torch.no_grad():
        z = enc(clip(6))
        assert z.shape == (1, LATENT, 6, 4, 4)
        assert dec(z).shape == (1, 3, 6, 16, 16)


def test_a_single_temporal_stage_halves_time() -> None:
    enc = encoder(temporal_stages=(1,))
    with torch.no_grad():
        assert enc(clip(5)).shape == (1, LATENT, 3, 4, 4)


@pytest.mark.parametrize("kernels", ["compressed", "all"])
def test_encoder_latent_j_depends_on_frames_up_to_4j_only(kernels: str) -> None:
    enc, x = encoder(temporal_kernels=kernels), clip(9)
    for k in range(1, 9):
        assert first_changed_output(enc, x, k) == -(-k // 4), k


@pytest.mark.parametrize("kernels", ["compressed", "all"])
def test_decoder_frames_depend_on_their_own_and_earlier_latents_only(kernels: str) -> None:
    dec, z = decoder(temporal_kernels=kernels), torch.randn(1, LATENT, 3, 4, 4)
    for k in range(1, 3):  # latent k decodes to frames 4k - 3 .. 4k
        assert first_changed_output(dec, z, k) == 4 * k - 3, k


def test_bad_layouts_are_refused() -> None:
    with pytest.raises(ValueError, match="temporal_stages"):
        encoder(temporal_stages=(2,))
    with pytest.raises(ValueError, match="temporal_stages"):
        decoder(temporal_stages=(0, 0))
    with pytest.raises(ValueError, match="temporal_kernels"):
        encoder(temporal_kernels="some")


# -- inflation --------------------------------------------------------------------------


def tiny_2d() -> tuple[Encoder, Decoder]:
    torch.manual_seed(2)
    enc = Encoder(3, LATENT, **ARCH)
    dec = Decoder(LATENT, 3, **ARCH)
    return randomised_norms(enc).eval(), randomised_norms(dec).eval()


@pytest.mark.parametrize("kernels", ["compressed", "all"])
def test_inflated_encoder_encodes_frame_0_and_every_4th_frame_as_the_image_encoder(kernels: str) -> None:
    enc2d, _ = tiny_2d()
    enc3d = inflate_encoder(enc2d, temporal_kernels=kernels).eval()
    x = clip(9)
    with torch.no_grad():
        z = enc3d(x)
        # The inflated temporal downsampling passes the newest frame of each pair through.
        for j in range(3):
            torch.testing.assert_close(z[:, :, j], enc2d(x[:, :, 4 * j]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kernels", ["compressed", "all"])
def test_inflated_decoder_decodes_every_latent_as_the_image_decoder(kernels: str) -> None:
    _, dec2d = tiny_2d()
    dec3d = inflate_decoder(dec2d, temporal_kernels=kernels).eval()
    z = torch.randn(1, LATENT, 3, 4, 4)
    with torch.no_grad():
        frames = dec3d(z)
        torch.testing.assert_close(frames[:, :, 0], dec2d(z[:, :, 0]), rtol=0, atol=1e-5)
        for j in (1, 2):  # latent j -> frames 4j - 3 .. 4j, each the image decoding of it
            image = dec2d(z[:, :, j])
            for i in range(4 * j - 3, 4 * j + 1):
                torch.testing.assert_close(frames[:, :, i], image, rtol=0, atol=1e-5)


def test_inflation_refuses_a_different_architecture() -> None:
    enc2d, _ = tiny_2d()
    with pytest.raises(ValueError, match="cannot inflate shape"):
        inflate_weights(CausalEncoder3d(3, LATENT, **{**ARCH, "channels": 8}), enc2d)
    with pytest.raises(ValueError, match="the 2-D model has no 'mid.1.norm1.weight'"):
        inflate_weights(CausalEncoder3d(3, LATENT, **{**ARCH, "mid_attention": False}), enc2d)


def test_inflated_shipped_image_model_encodes_and_decodes_frame_0_as_the_image_tokenizer() -> None:
    tok = tz.load("image-fsq-f8-4k")
    photo = np.asarray(Image.open(FIXTURE).convert("RGB").resize((64, 64)))
    image = tz.media.to_image_batch(photo)
    enc3d, dec3d = inflate_encoder(tok.encoder).eval(), inflate_decoder(tok.decoder).eval()
    video = torch.cat([image[:, :, None], clip(4, size=64).clamp(-1, 1)], dim=2)
    with torch.no_grad():
        latent2d = tok.encoder(image)
        latent3d = enc3d(video)[:, :, 0]
        torch.testing.assert_close(latent3d, latent2d, rtol=0, atol=1e-5)
        ids = tok.quantizer(latent3d.permute(0, 2, 3, 1)).indices
        assert torch.equal(ids, tok.encode_tensor(image))
        codes = tok.quantizer.indices_to_grid_codes(ids, (8, 8)).permute(0, 3, 1, 2)
        frame0 = dec3d(codes[:, :, None])[:, :, 0]
        torch.testing.assert_close(frame0, tok.decoder(codes), rtol=0, atol=1e-5)


# -- windows ----------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [[1, 4, 4, 4, 4], [5, 8, 4], [9, 8], [1, 16], [17]])
def test_encoder_in_windows_equals_the_whole_clip_bit_for_bit(sizes: list[int]) -> None:
    enc, x = encoder(), clip(17, batch=2)
    with torch.no_grad():
        assert torch.equal(in_windows(enc, x, sizes), enc(x))


@pytest.mark.parametrize("window", [4, 8, 12])
def test_encode_windows_equals_the_whole_clip(window: int) -> None:
    enc, x = encoder(temporal_kernels="all"), clip(13)
    with torch.no_grad():
        assert torch.equal(enc.encode_windows(x, window), enc(x))


@pytest.mark.parametrize("sizes", [[1, 1, 1, 1, 1], [2, 3], [1, 4], [3, 1, 1]])
def test_decoder_in_windows_equals_the_whole_clip_bit_for_bit(sizes: list[int]) -> None:
    dec, z = decoder(), torch.randn(2, LATENT, 5, 4, 4)
    with torch.no_grad():
        assert torch.equal(in_windows(dec, z, sizes), dec(z))


@pytest.mark.parametrize("window", [1, 2, 3])
def test_decode_windows_equals_the_whole_clip(window: int) -> None:
    dec, z = decoder(temporal_kernels="all"), torch.randn(1, LATENT, 4, 4, 4)
    with torch.no_grad():
        assert torch.equal(dec.decode_windows(z, window), dec(z))


def test_shipped_widths_stream_bit_for_bit_with_two_threads() -> None:
    """The real widths and thread count: CPU kernels pick their blocking by shape and threads."""
    tok = tz.load("image-fsq-f8-4k")
    enc3d, dec3d = inflate_encoder(tok.encoder).eval(), inflate_decoder(tok.decoder).eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            x = clip(9, size=32).clamp(-1, 1)
            z = enc3d(x)
            assert torch.equal(enc3d.encode_windows(x, 4), z)
            assert torch.equal(dec3d.decode_windows(z, 1), dec3d(z))
    finally:
        torch.set_num_threads(threads)


def test_a_stream_keeps_only_the_frames_the_next_window_reads() -> None:
    enc, state = encoder(), {}
    with torch.no_grad():
        for frames in (5, 8):
            enc(clip(frames), state)
    assert state and all(held.shape[2] <= 2 for held in state.values())


def test_bad_window_sizes_are_refused_with_the_rule() -> None:
    enc, dec = encoder(), decoder()
    with pytest.raises(ValueError, match=r"a clip must have 1 \+ 4 \* n frames .* got 6"):
        enc(clip(6))
    state: CausalState = {}
    with pytest.raises(ValueError, match=r"the first window must have 1 \+ 4 \* n frames .* got 4"):
        enc(clip(4), state)
    enc(clip(5), state)
    with pytest.raises(ValueError, match="windows after the first must have a multiple of 4 frames, got 5"):
        enc(clip(5), state)
    with pytest.raises(ValueError, match="window must be a positive multiple of 4 frames, got 6"):
        enc.encode_windows(clip(13), 6)
    with pytest.raises(ValueError, match="1 \\+ 4 \\* n frames, got 12"):
        enc.encode_windows(clip(12), 4)
    with pytest.raises(ValueError, match="at least one frame"):
        dec(torch.randn(1, LATENT, 0, 4, 4), {})
    with pytest.raises(ValueError, match="at least 1 latent frame"):
        dec.decode_windows(torch.randn(1, LATENT, 2, 4, 4), 0)
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        enc(torch.randn(1, 3, 16, 16))


# -- training and checkpoints -----------------------------------------------------------


def test_state_dict_round_trips() -> None:
    enc, dec = encoder(), decoder()
    buffer = io.BytesIO()
    torch.save({"encoder": enc.state_dict(), "decoder": dec.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    enc2, dec2 = CausalEncoder3d(3, LATENT, **ARCH).eval(), CausalDecoder3d(LATENT, 3, **ARCH).eval()
    enc2.load_state_dict(saved["encoder"])
    dec2.load_state_dict(saved["decoder"])
    x = clip(5)
    with torch.no_grad():
        assert torch.equal(dec2(enc2(x)), dec(enc(x)))


@pytest.mark.parametrize("onednn_bf16", [True, False], ids=["onednn", "no-bf16-kernels"])
def test_convs_follow_cpu_autocast(onednn_bf16: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CPU without oneDNN's bf16 kernels (no AVX-512), autocast falls back to F.conv3d."""
    if onednn_bf16 and not causal_blocks.onednn_computes(torch.bfloat16):
        pytest.skip("this CPU has no oneDNN bf16 kernels (AVX-512 bw/vl/dq or AVX-NE-CONVERT)")
    if not onednn_bf16:
        monkeypatch.setattr(causal_blocks, "onednn_computes", lambda dtype: dtype == torch.float32)
    enc = encoder().train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert enc(clip(5)).dtype == torch.bfloat16


def test_training_mode_folds_frames_into_the_batch_with_the_same_values() -> None:
    enc, dec, x = encoder(), decoder(), clip(9, batch=2)
    with torch.no_grad():
        frame_by_frame = dec(enc(x))
        torch.testing.assert_close(dec.train()(enc.train()(x)), frame_by_frame, rtol=0, atol=1e-5)


def test_gradients_reach_the_earlier_temporal_slices_of_an_inflated_model() -> None:
    enc2d, dec2d = tiny_2d()
    enc3d, dec3d = inflate_encoder(enc2d).train(), inflate_decoder(dec2d).train()
    dec3d(enc3d(clip(9))).abs().mean().backward()
    for name, conv in [("encoder", enc3d.mid[0].conv1), ("decoder", dec3d.mid[0].conv1)]:
        assert conv.weight.shape[2] == 3
        assert conv.weight.grad[:, :, :2].abs().sum() > 0, name
