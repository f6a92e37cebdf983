"""EnCodec wrappers: codes equal to the ``encodec`` package's on the same weights, weights found
offline in the documented order, long audio in bounded windows, the 48 kHz scales.

No download: the weights are encodec's own architecture with random weights (codebooks
drawn from its encoder's output, so codes vary), saved as encodec saves its checkpoints
(a state dict under the official file name).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from encodec import EncodecModel
from encodec.model import ROOT_URL

import tokenizers_zoo as tz
from tokenizers_zoo.tokenizers.audio import encodec_weights
from tokenizers_zoo.tokenizers.audio.encodec_codec import (
    Encodec24Config,
    Encodec24kTokenizer,
    Encodec48kTokenizer,
    EncodecTokenizer,
)
from tokenizers_zoo.tokens import PER_ITEM

# The reference models are built by encodec, which uses torch's older weight_norm.
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")

BUILDERS = {
    Encodec24kTokenizer: EncodecModel.encodec_model_24khz,
    Encodec48kTokenizer: EncodecModel.encodec_model_48khz,
}


@torch.no_grad()
def _random_encodec(build, seed: int) -> EncodecModel:  # noqa: ANN001
    """encodec's model, random, with each codebook drawn from the residuals it will quantize."""
    torch.manual_seed(seed)
    model = build(pretrained=False)
    rate = model.sample_rate
    residual = model.encoder(torch.randn(1, model.channels, rate // 2) * torch.linspace(0, 1, rate // 2))
    for layer in model.quantizer.vq.layers:
        frames = residual.transpose(1, 2).reshape(-1, residual.shape[1])
        picks = frames[torch.randint(len(frames), (layer.codebook_size,))]
        layer._codebook.embed.copy_(picks + 0.1 * frames.std() * torch.randn_like(picks))
        layer._codebook.inited.fill_(1)
        residual = residual - layer.decode(layer.encode(residual))
    return model.eval()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding both official file names, with random weights."""
    directory = tmp_path_factory.mktemp("encodec")
    for seed, (cls, build) in enumerate(BUILDERS.items()):
        torch.save(_random_encodec(build, seed).state_dict(), directory / cls.checkpoint)
    return directory


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real cache, no env directory, no download: only what each test puts in place."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(encodec_weights.ENV_DIR, raising=False)
    monkeypatch.delenv(encodec_weights.ENV_DOWNLOAD, raising=False)


def reference(cls: type[EncodecTokenizer], checkpoints: Path, bandwidth: float) -> EncodecModel:
    """encodec itself with the same weights (its pretrained loader would check the checksum)."""
    model = BUILDERS[cls](pretrained=False)
    model.load_state_dict(torch.load(checkpoints / cls.checkpoint, weights_only=True))
    model.set_target_bandwidth(bandwidth)
    return model.eval()


def tone(channels: int, samples: int, rate: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / rate
    wave = 0.3 * torch.sin(2 * math.pi * 330 * t) * torch.sin(math.pi * t)
    return (wave + 0.05 * torch.randn(2, channels, samples, generator=generator)).clamp(-1, 1)


@pytest.mark.parametrize("bandwidth", [1.5, 6.0, 24.0])
def test_24khz_codes_and_audio_equal_encodec(checkpoints: Path, bandwidth: float) -> None:
    tok = tz.load("audio-encodec-24khz", weights=checkpoints)
    model = reference(Encodec24kTokenizer, checkpoints, bandwidth)
    audio = tone(1, 7207, 24000)  # not a whole number of frames: encodec pads the end its way
    tokens = tok.encode(audio, sample_rate=24000, bandwidth=bandwidth)
    with torch.no_grad():
        (codes, scale), *rest = model.encode(audio)
        expected_audio = model.decode([(codes, scale)])[..., : audio.shape[-1]]
    assert not rest and scale is None
    assert tokens.ids.shape == (2, tok.codebooks_for(bandwidth), 23) and tokens.original_size == (7207,)
    assert torch.equal(tokens.ids, codes) and len(codes.unique()) > 20
    assert tokens.extras == {"bandwidth": bandwidth}
    torch.testing.assert_close(tok.decode(tokens), expected_audio)


def test_bandwidth_per_entry_and_per_call(checkpoints: Path) -> None:
    tok = tz.load("audio-encodec-24khz", weights=checkpoints)
    audio = tone(1, 2400, 24000)[0]
    assert tok.default_bandwidth == 6.0 and tok.encode(audio, sample_rate=24000).ids.shape[1] == 8
    assert tok.encode(audio, sample_rate=24000, bandwidth=3).ids.shape[1] == 4
    with pytest.raises(tz.InvalidMediaError, match="1.5, 3, 6, 12, 24 kbps"):
        tok.encode(audio, sample_rate=24000, bandwidth=5.0)
    wide = Encodec24kTokenizer(Encodec24Config(bandwidth=12.0))
    assert wide.encode(audio, sample_rate=24000).ids.shape[1] == 16
    with pytest.raises(ValueError, match="bandwidth must be one of"):
        Encodec24kTokenizer(Encodec24Config(bandwidth=7.0))


def test_resamples_and_downmixes_like_other_audio_tokenizers(checkpoints: Path) -> None:
    tok = tz.load("audio-encodec-24khz", weights=checkpoints)
    tokens = tok.encode(tone(2, 16000, 16000)[0], sample_rate=16000)  # stereo 16 kHz, 1 s
    assert tokens.ids.shape == (1, 8, 75) and tokens.sample_rate == 24000
    assert tok.decode(tokens).shape == (1, 1, 24000)


def test_long_audio_in_windows_gives_the_codes_and_audio_of_one_pass(checkpoints: Path) -> None:
    tok = Encodec24kTokenizer(Encodec24Config(window_seconds=0.2))  # 15 frames, 4800 samples
    tok.load_weights(tok.locate_weights(checkpoints))
    tok.eval()
    model = reference(Encodec24kTokenizer, checkpoints, 6.0)
    audio = tone(1, 6 * 4800 + 1234, 24000, seed=1)  # 7 windows, the last one short
    tokens = tok.encode(audio, sample_rate=24000)
    with torch.no_grad():
        codes = model.encode(audio)[0][0]
        expected_audio = model.decode([(codes, None)])[..., : audio.shape[-1]]
    assert torch.equal(tokens.ids, codes)
    # Windows sum in another order than one pass: equal up to float rounding.
    torch.testing.assert_close(tok.decode(tokens), expected_audio, rtol=0, atol=1e-5)


def test_windowed_memory_does_not_grow_with_the_audio(checkpoints: Path) -> None:
    """The largest tensor any convolution sees is set by the window, whatever the length."""
    tok = Encodec24kTokenizer(Encodec24Config(window_seconds=0.2))
    tok.load_weights(tok.locate_weights(checkpoints))
    tok.eval()
    largest = [0]

    def record(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        largest[0] = max(largest[0], inputs[0].numel())

    for module in tok.model.modules():
        if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d | torch.nn.LSTM):
            module.register_forward_pre_hook(record)
    sizes = []
    for seconds in (1, 3):
        largest[0] = 0
        tok.decode(tok.encode(tone(1, seconds * 24000, 24000)[:1], sample_rate=24000))
        sizes.append(largest[0])
    assert sizes[0] == sizes[1] and sizes[0] <= 64 * (4800 + 64)  # channels x (window + context)


def test_weights_search_order(checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name, file = "audio-encodec-24khz", Encodec24kTokenizer.checkpoint
    audio = tone(1, 4000, 24000)[:1]
    expected = tz.load(name, weights=checkpoints / file).encode(audio, sample_rate=24000).ids
    # the environment variable's directory
    monkeypatch.setenv(encodec_weights.ENV_DIR, str(checkpoints))
    assert torch.equal(tz.load(name).encode(audio, sample_rate=24000).ids, expected)
    monkeypatch.delenv(encodec_weights.ENV_DIR)
    # torch hub's cache, where encodec's own download leaves the file
    cache = encodec_weights.hub_checkpoints()
    cache.mkdir(parents=True)
    (cache / file).symlink_to(checkpoints / file)
    assert torch.equal(tz.load(name).encode(audio, sample_rate=24000).ids, expected)
    # a config's repository comes before both: an empty file there is found, and refused
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / file).write_bytes(b"")
    monkeypatch.setenv(encodec_weights.ENV_DIR, str(checkpoints))
    tok = Encodec24kTokenizer(Encodec24Config(repository=str(tmp_path / "repo")))
    assert tok.locate_weights(None) == tmp_path / "repo" / file
    with pytest.raises(tz.CheckpointError, match="not a readable EnCodec checkpoint"):
        tok.load_weights(tok.locate_weights(None))


def test_save_pretrained_round_trip(checkpoints: Path, tmp_path: Path) -> None:
    tok = tz.load("audio-encodec-24khz", weights=checkpoints)
    audio = tone(1, 3000, 24000)[:1]
    tok.save_pretrained(tmp_path / "ckpt")
    for again in (tz.load(str(tmp_path / "ckpt")), tz.load("audio-encodec-24khz", weights=tmp_path / "ckpt")):
        assert torch.equal(
            again.encode(audio, sample_rate=24000).ids, tok.encode(audio, sample_rate=24000).ids
        )


def test_missing_weights_say_what_and_where(tmp_path: Path) -> None:
    with pytest.raises(tz.WeightsNotFoundError) as info:
        tz.load("audio-encodec-24khz")
    message = str(info.value)
    for part in ("encodec_24khz-d7cc33bc.th", str(encodec_weights.hub_checkpoints()), "TZOO_ENCODEC_DIR"):
        assert part in message
    assert "weights=" in message and "TZOO_ALLOW_DOWNLOAD=1" in message
    with pytest.raises(tz.WeightsNotFoundError, match="encodec_48khz-7e698e3e.th"):
        tz.load("audio-encodec-48khz", weights=tmp_path)  # a directory without it
    assert tz.load("audio-encodec-24khz", pretrained=False).info.vocab_size == (1024,) * 32


def test_download_only_when_allowed(monkeypatch: pytest.MonkeyPatch, checkpoints: Path) -> None:
    calls = []

    def fake_download(url: str, dst: str, hash_prefix: str | None = None) -> None:
        calls.append((url, hash_prefix))
        Path(dst).write_bytes((checkpoints / Encodec24kTokenizer.checkpoint).read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(tz.WeightsNotFoundError):
        tz.load("audio-encodec-24khz")
    assert calls == []
    monkeypatch.setenv(encodec_weights.ENV_DOWNLOAD, "1")
    tz.load("audio-encodec-24khz")
    assert calls == [(ROOT_URL + "encodec_24khz-d7cc33bc.th", "d7cc33bc")]
    assert (encodec_weights.hub_checkpoints() / "encodec_24khz-d7cc33bc.th").is_file()


def test_48khz_codes_scales_and_audio_equal_encodec(checkpoints: Path) -> None:
    tok = tz.load("audio-encodec-48khz", weights=checkpoints)
    model = reference(Encodec48kTokenizer, checkpoints, 6.0)
    audio = tone(2, 60000, 48000)  # 1.25 s: two 1 s segments, the second one short
    tokens = tok.encode(audio, sample_rate=48000)
    with torch.no_grad():
        frames = model.encode(audio)
        expected_audio = model.decode(frames)[..., : audio.shape[-1]]
    assert torch.equal(tokens.ids, torch.cat([codes for codes, _ in frames], dim=-1))
    assert tokens.ids.shape == (2, 4, 150 + 39) == (2, *tok.token_shape_for((60000,), tokens.extras))
    scales = torch.cat([scale for _, scale in frames], dim=-1)
    assert [sorted(item) for item in tokens.extras[PER_ITEM]] == [["scales"]] * 2
    assert torch.equal(torch.tensor([item["scales"] for item in tokens.extras[PER_ITEM]]), scales)
    torch.testing.assert_close(tok.decode(tokens), expected_audio)
    # One item of the batch, and one through the service's wire form, decode the same.
    torch.testing.assert_close(tok.decode(tokens[1]), expected_audio[1:])
    wired = tok.tokens_from(tokens.encoded_items()[1])
    torch.testing.assert_close(tok.decode(wired), expected_audio[1:])


def test_48khz_takes_mono_and_refuses_ids_without_scales(checkpoints: Path) -> None:
    tok = tz.load("audio-encodec-48khz", weights=checkpoints)
    mono = tone(1, 9600, 48000)[:1]
    tokens = tok.encode(mono, sample_rate=48000)
    with torch.no_grad():
        codes = reference(Encodec48kTokenizer, checkpoints, 6.0).encode(mono.expand(-1, 2, -1))[0][0]
    assert torch.equal(tokens.ids, codes) and tok.decode(tokens).shape == (1, 2, 9600)
    with pytest.raises(tz.InvalidTokensError, match="loudness scale"):
        tok.decode(tokens.ids)
    with pytest.raises(tz.InvalidTokensError, match="loudness scale"):
        tok.decode(tz.Tokens(tok.name, (9600,), ids=tokens.ids, extras={"bandwidth": 6.0}))
