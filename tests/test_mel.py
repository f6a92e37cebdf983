"""Log-mel tokenizer: shapes, the default continuous audio entry, a Griffin-Lim round trip
that is spectrally close (not sample-close: the phase is estimated) and repeatable."""

from __future__ import annotations

import math

import torch

import tokenizers_zoo as tz
from tokenizers_zoo.tokenizers.audio.mel import MelConfig, MelTokenizer


def harmonic(samples: int = 16000, rate: int = 16000) -> torch.Tensor:
    """220 Hz with four overtones and a 2 Hz tremolo: lines and onsets to reconstruct."""
    t = torch.arange(samples) / rate
    wave = sum(0.2 / k * torch.sin(2 * math.pi * 220 * k * t) for k in range(1, 6))
    return wave * (0.6 + 0.4 * torch.sin(2 * math.pi * 2 * t))


def test_default_continuous_audio_tokenizer_and_shapes() -> None:
    assert tz.default_tokenizer("audio", "continuous") == "audio-mel-80"
    tok = tz.load("audio-mel-80")
    info = tok.info
    assert (info.latent_dim, info.temporal_factor, info.sample_rate) == (80, 160, 16000)
    assert len(tok.state_dict()) == 0  # computed from the config: nothing to load
    tokens = tok.encode(harmonic(16037), sample_rate=16000)
    assert tokens.latents.shape == (1, 101, 80) == (1, *info.token_shape((16037,)))
    assert tokens.original_size == (16037,) and tokens.latents.dtype == torch.float32
    assert tok.decode(tokens).shape == (1, 1, 16037)
    # Other rates are resampled to 16 kHz first.
    assert tok.encode(harmonic(8000, 8000), sample_rate=8000).latents.shape == (1, 100, 80)
    assert tz.load("audio-mel-128").encode(harmonic(), sample_rate=16000).latents.shape == (1, 100, 128)


def test_griffin_lim_round_trip_is_spectrally_close_and_deterministic() -> None:
    tok = tz.load("audio-mel-80")
    tokens = tok.encode(harmonic(), sample_rate=16000)
    audio = tok.decode(tokens)
    assert torch.equal(audio, tok.decode(tokens))  # zero-phase start: the same every time
    again = tok.encode(audio[0], sample_rate=16000).latents
    mel, mel_again = tokens.latents.exp(), again.exp()
    # Spectral convergence: 0.13 measured with 32 iterations (0.96 with none).
    assert (mel_again - mel).norm() / mel.norm() < 0.25
    loud = tokens.latents > tokens.latents.max() - 5  # bands within ~43 dB of the peak
    assert (again - tokens.latents)[loud].abs().mean() < 0.5  # natural log: within ~4 dB
    no_phase = MelTokenizer(MelConfig(griffin_lim_iters=0)).decode(tokens)
    unrefined = tok.encode(no_phase[0], sample_rate=16000).latents.exp()
    assert (unrefined - mel).norm() / mel.norm() > 0.5  # the iterations are what gets it close


def test_audio_of_one_sample_to_30_ms_encodes_and_decodes() -> None:
    """torch.stft's reflect padding needs more than n_fft // 2 samples: shorter audio (and
    three frames or fewer to decode) used to raise a RuntimeError, a 500 in the service."""
    tok = tz.load("audio-mel-80")
    for samples in (1, 100, 160, 480, 512, 513):
        tokens = tok.encode(harmonic(samples), sample_rate=16000)
        assert tokens.latents.shape == (1, math.ceil(samples / 160), 80)
        assert torch.isfinite(tokens.latents).all()
        assert tok.decode(tokens).shape == (1, 1, samples)
    for frames in (1, 2, 3):
        assert tok.decode(torch.zeros(1, frames, 80)).shape == (1, 1, frames * 160)
