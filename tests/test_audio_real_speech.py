"""Every shipped audio tokenizer round-trips a real, held-out recording of speech.

The floors are regression checks on the shipped weights and settings, below what each
measures on this clip (mu-law 0.994, mel 0.939; STOI of the one-voice codec, trained on this
voice, 0.901 at 6 kbps and 0.880 at 1.5 kbps, of the six-voice default 0.872 and 0.854), not
quality targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import tokenizers_zoo as tz
from tokenizers_zoo.media.audio import read_audio
from tokenizers_zoo.metrics import si_snr, stoi_score

SPEECH = Path(__file__).parent / "fixtures" / "speech_is-in-use_16khz.g722"


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    samples, rate = read_audio(SPEECH, "g722")
    assert rate == 16000 and samples.shape[0] == 1 and 1.0 < samples.shape[1] / rate < 1.5
    return torch.from_numpy(samples[0])


@pytest.mark.parametrize(
    ("name", "options", "min_stoi"),
    [
        ("audio-mulaw-8bit", {}, 0.99),
        ("audio-mel-80", {}, 0.85),
        ("audio-rvq-16khz", {"bandwidth": 6.0}, 0.75),
        ("audio-rvq-16khz", {"bandwidth": 1.5}, 0.7),
        ("audio-rvq-16khz-six", {"bandwidth": 6.0}, 0.8),
        ("audio-rvq-16khz-six", {"bandwidth": 1.5}, 0.78),
    ],
)
def test_round_trip_of_real_speech(speech: torch.Tensor, name: str, options: dict, min_stoi: float) -> None:
    tok = tz.load(name)
    assert name in tz.list_tokenizers(modality="audio")
    tokens = tok.encode(speech, sample_rate=16000, **options)
    back = tok.decode(tokens)
    assert back.shape == (1, 1, speech.shape[0])
    assert torch.isfinite(back).all() and back.abs().max() <= 1
    stoi = stoi_score(speech.numpy(), back[0, 0].numpy(), 16000)
    assert stoi >= min_stoi, f"{name} {options}: STOI {stoi:.3f}"


def test_mulaw_is_exact_up_to_quantization(speech: torch.Tensor) -> None:
    tok = tz.load("audio-mulaw-8bit")
    back = tok.decode(tok.encode(speech, sample_rate=16000))[0, 0]
    assert float(si_snr(back, speech)) > 30
    assert np.array_equal(tok.encode(back, sample_rate=16000).ids, tok.encode(speech, sample_rate=16000).ids)
