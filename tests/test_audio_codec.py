"""The native audio codec: bitrates, streaming equal to the offline pass, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from audio_helpers import TINY_CODEC, speechlike, tiny_codec

import tokenizers_zoo as tz
from tokenizers_zoo.errors import InvalidMediaError, InvalidTokensError
from tokenizers_zoo.models.seanet import SEANetDecoder, SEANetEncoder
from tokenizers_zoo.tokenizers.audio.codec import CodecConfig, NeuralAudioCodec


@pytest.mark.parametrize("causal", [True, False])
def test_seanet_lengths(causal: bool) -> None:
    enc = SEANetEncoder(8, 4, (2, 5), (1, 3), causal=causal)
    dec = SEANetDecoder(8, 4, (2, 5), (1, 3), causal=causal)
    x = torch.randn(2, 1, 100)
    z = enc(x)
    assert z.shape == (2, 8, 10)
    assert dec(z).shape == (2, 1, 100)


def test_seanet_streams_like_the_offline_pass() -> None:
    torch.manual_seed(0)
    enc = SEANetEncoder(8, 4, (2, 5), (1, 3)).eval()
    dec = SEANetDecoder(8, 4, (2, 5), (1, 3)).eval()
    x = torch.randn(1, 1, 230)
    with torch.no_grad():
        state: dict = {}
        cuts = [0, 1, 7, 7, 64, 229, 230]
        z = torch.cat([enc.stream(x[..., a:b], state) for a, b in zip(cuts, cuts[1:], strict=False)], -1)
        torch.testing.assert_close(z, enc(x), atol=1e-5, rtol=1e-5)
        state = {}
        frames = [0, 1, 1, 5, 23]
        y = torch.cat([dec.stream(z[..., a:b], state) for a, b in zip(frames, frames[1:], strict=False)], -1)
        torch.testing.assert_close(y, dec(z), atol=1e-5, rtol=1e-5)


def test_bandwidth_picks_the_number_of_codebooks() -> None:
    codec = tiny_codec()
    x = speechlike(401)
    full = codec.encode(x, sample_rate=16000)
    assert full.shape == (1, 4, 101) and full.extras == {"bandwidth": 64.0}
    low = codec.encode(x, sample_rate=16000, bandwidth=16)
    assert low.shape == (1, 1, 101) and low.extras == {"bandwidth": 16.0}
    assert torch.equal(low.ids[:, 0], full.ids[:, 0])  # a lower rate is a prefix of the stack
    assert codec.decode(low).shape == (1, 1, 401)
    assert codec.decode(full.ids[:, :2]).shape == (1, 1, 404)  # bare ids: 2 codebooks = 32 kbps
    with pytest.raises(InvalidMediaError, match="16, 32, 64 kbps"):
        codec.encode(x, sample_rate=16000, bandwidth=24.0)
    with pytest.raises(InvalidMediaError, match="number of kbps"):
        codec.encode(x, sample_rate=16000, bandwidth="high")
    with pytest.raises(InvalidTokensError, match="not 3"):
        codec.decode(full.ids[:, :3])
    wrong = tz.Tokens(codec.name, (401,), ids=full.ids[:, :2], extras={"bandwidth": 64.0})
    with pytest.raises(InvalidTokensError, match="must have shape"):
        codec.decode(wrong)
    bad = full.ids.clone()
    bad[0, 3, 5] = 16
    with pytest.raises(InvalidTokensError, match="codebook 3"):
        codec.decode(bad)


def test_resampling_and_downmix_on_the_way_in() -> None:
    codec = tiny_codec()
    stereo_8k = torch.stack([speechlike(200), speechlike(200, 1)])
    tokens = codec.encode(stereo_8k, sample_rate=8000)
    assert tokens.original_size == (400,) and tokens.sample_rate == 16000
    with pytest.raises(InvalidMediaError, match="sample_rate="):
        codec.encode(speechlike(100))


def test_stream_encoder_gives_the_offline_ids() -> None:
    codec = tiny_codec()
    x = speechlike(1003)
    offline = codec.encode(x, sample_rate=16000, bandwidth=32).ids
    stream = codec.stream_encoder(bandwidth=32)
    chunks = [stream.push(x[a : a + 97]) for a in range(0, 1003, 97)]
    chunks.append(stream.flush())
    assert all(c.shape[:2] == (1, 2) for c in chunks)
    assert torch.equal(torch.cat(chunks, -1), offline)


def test_stream_decoder_gives_the_offline_audio() -> None:
    codec = tiny_codec()
    ids = codec.encode(speechlike(800), sample_rate=16000).ids
    offline = codec.decode(ids)
    stream = codec.stream_decoder()
    pieces = [stream.push(ids[..., a : a + 7]) for a in range(0, ids.shape[-1], 7)]
    torch.testing.assert_close(torch.cat(pieces, -1), offline, atol=1e-5, rtol=1e-5)
    with pytest.raises(InvalidTokensError, match="integers"):
        stream.push(ids.float())
    with pytest.raises(InvalidTokensError, match="not 3"):
        stream.push(ids[:, :3])


def test_stream_errors_are_clear() -> None:
    with pytest.raises(InvalidMediaError, match="not causal"):
        tiny_codec(causal=False).stream_encoder()
    stream = tiny_codec().stream_encoder()
    with pytest.raises(InvalidMediaError, match="nothing was pushed"):
        stream.flush()
    stream.push(torch.zeros(2, 1, 10))
    with pytest.raises(InvalidMediaError, match="carries 2"):
        stream.push(torch.zeros(1, 1, 10))


def test_training_forward_draws_a_shipped_depth() -> None:
    codec = tiny_codec().train()
    depths = set()
    for _ in range(20):
        recon, loss, metrics = codec(speechlike(64)[None, None])
        assert recon.shape == (1, 1, 64) and loss.ndim == 0
        depths.add(int(metrics["num_quantizers"]))
    assert depths <= {1, 2, 4} and len(depths) > 1


def test_config_must_pay_for_its_codebooks() -> None:
    with pytest.raises(ValueError, match="needs 4 codebooks, not 3"):
        NeuralAudioCodec(CodecConfig(**{**TINY_CODEC, "num_quantizers": 3}))


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    codec = tiny_codec()
    codec.save_pretrained(tmp_path / "ckpt")
    again = tz.load(str(tmp_path / "ckpt"))
    x = speechlike(300)
    assert torch.equal(again.encode(x, sample_rate=16000).ids, codec.encode(x, sample_rate=16000).ids)


def test_long_audio_goes_through_bounded_windows_with_the_same_result() -> None:
    codec = tiny_codec()
    x = speechlike(2001)
    one_pass = codec.encode(x, sample_rate=16000)
    audio = codec.decode(one_pass)
    codec.window_frames = 37  # instance override: windows of 148 samples
    windowed = codec.encode(x, sample_rate=16000)
    assert torch.equal(windowed.ids, one_pass.ids)
    torch.testing.assert_close(codec.decode(windowed), audio, atol=1e-5, rtol=1e-5)
