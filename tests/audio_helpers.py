"""A tiny native codec and a speech-like signal, shared by the audio tests."""

from __future__ import annotations

import torch

from tokenizers_zoo.tokenizers.audio.codec import CodecConfig, NeuralAudioCodec

# 4 samples per frame at 16 kHz: 4000 frames/s, 4-bit codebooks -> 16 kbps per codebook.
TINY_CODEC = dict(
    channels=4,
    ratios=(2, 2),
    dilations=(1,),
    latent_dim=8,
    num_quantizers=4,
    codebook_size=16,
    bandwidths=(16.0, 32.0, 64.0),
    quantizer_args={},
)


def tiny_codec(**overrides: object) -> NeuralAudioCodec:
    torch.manual_seed(0)
    return NeuralAudioCodec(CodecConfig(**{**TINY_CODEC, **overrides})).eval()


def speechlike(samples: int, seed: int = 0) -> torch.Tensor:
    """Harmonics of a 140 Hz voice with a syllable-rate envelope, plus a little noise."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 16000
    voice = sum(torch.sin(2 * torch.pi * f * t) / k for k, f in enumerate((140, 280, 420, 1100), 1))
    return 0.3 * voice * (0.5 + 0.5 * torch.sin(2 * torch.pi * 3 * t)) + 0.01 * torch.randn(
        samples, generator=gen
    )
