"""Audio input handling shared by the audio tokenizers: G.722 files, stereo tokenizers given
mono, and the CLI's duration limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from service_helpers import encoded_audio

import tokenizers_zoo as tz
from tokenizers_zoo.cli import main
from tokenizers_zoo.formats import guess_media_type
from tokenizers_zoo.media.audio import read_audio, to_audio_batch
from tokenizers_zoo.media.files import NO_LIMITS, read_media


def test_g722_files_decode_at_16khz() -> None:
    data = encoded_audio("g722", "g722", seconds=0.25)  # PyAV's G.722 encoder, a 509 Hz tone
    samples, rate = read_audio(data, "g722")
    assert rate == 16000 and samples.shape == (1, 4000) and samples.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(samples[0]))
    assert abs(np.argmax(spectrum) * rate / samples.shape[1] - 16000 / (2 * np.pi * 5)) < 8
    assert 0.2 < np.sqrt(np.mean(samples[0, 1000:] ** 2)) < 0.35  # the tone's RMS, 0.4 / sqrt(2)
    media = read_media("audio", "audio/G722", data, NO_LIMITS, None)  # types are case-insensitive
    assert media.sample_rate == 16000 and media.array.shape == (1, 4000)
    assert guess_media_type("call.G722") == "audio/g722"


def test_stereo_tokenizers_play_mono_on_both_channels() -> None:
    mono = torch.linspace(-1, 1, 50)
    stereo = to_audio_batch(mono, 16000, channels=2)
    assert stereo.shape == (1, 2, 50) and torch.equal(stereo[0, 0], stereo[0, 1])
    with pytest.raises(tz.InvalidMediaError, match="expected 2 channel"):
        to_audio_batch(torch.zeros(3, 50), 16000, channels=2)


def test_cli_encodes_g722_within_a_duration_limit(tmp_path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "call.g722").write_bytes(encoded_audio("g722", "g722", seconds=0.25))
    args = ["encode", "audio-mel-80", str(tmp_path / "call.g722"), "-o", str(tmp_path / "t.npy")]
    assert main(args) == 0
    assert "(1, 25, 80)" in capsys.readouterr().out
    assert main([*args, "--max-audio-seconds", "0.1"]) == 2
    assert "longer than the limit of 0.1 s" in capsys.readouterr().err
