"""Log-mel frames: the continuous audio tokens of Whisper-style encoders and TTS models.

Encoding is exact and cheap; decoding is not the inverse. A mel spectrogram keeps
neither phase nor the fine frequency detail inside each mel band, so ``decode``
spreads each band back over its FFT bins (least squares) and estimates a phase with
Griffin-Lim. Speech stays intelligible but sounds metallic and phasey: use it to
listen to what a model produced, not as a vocoder (TTS systems train one, e.g. HiFi-GAN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torchaudio.functional as AF
from torch import Tensor

from tokenizers_zoo.info import MemoryCost, TokenizerInfo
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.audio.base import AudioTokenizer

#: Magnitudes are floored before the log (-11.5), as HiFi-GAN's mel features are.
_FLOOR = 1e-5


@dataclass(frozen=True)
class MelConfig:
    """Defaults: 16 kHz; hop 160 (10 ms: 100 frames/s, Whisper's rate); a 1024-sample Hann
    window (64 ms: bins of 15.6 Hz, fine enough for the narrow low mel bands, and 84%
    overlap, which Griffin-Lim needs); Slaney mel bands from 0 to 8 kHz as librosa,
    Whisper and HiFi-GAN use; natural log of magnitudes."""

    n_mels: int = 80
    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 160
    griffin_lim_iters: int = 32


class MelTokenizer(AudioTokenizer):
    """Mono at ``sample_rate``; latents ``(frames, n_mels)`` with ``frames = ceil(samples / hop)``.

    Frame ``i`` is centred on sample ``i * hop`` (the end is reflected, as torch.stft does).
    The frame centred on the end of the padded audio is left out so that frames follow the
    zoo's ``ceil(samples / hop)``; ``decode`` repeats the last frame in its place. Griffin-Lim
    starts from zero phase, so decoding is deterministic.

    Reflecting needs more than ``n_fft // 2`` samples (32 ms at the defaults). Shorter audio
    is padded with zeros instead, and decoding fewer frames than that runs Griffin-Lim with
    silent frames appended and cuts them off: any length from one sample encodes and decodes."""

    Config = MelConfig

    def __init__(self, config: MelConfig = MelConfig(), name: str | None = None) -> None:
        if not 0 < config.hop_length <= config.n_fft:
            raise ValueError(f"hop_length must be in 1..n_fft, got {config.hop_length}")
        super().__init__(config, name or f"audio-mel-{config.n_mels}")
        banks = AF.melscale_fbanks(
            config.n_fft // 2 + 1,
            f_min=0.0,
            f_max=config.sample_rate / 2,
            n_mels=config.n_mels,
            sample_rate=config.sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        # Computed from the config, so not part of a checkpoint: the tokenizer has no weights.
        self.register_buffer("banks", banks, persistent=False)  # (freqs, n_mels)
        self.register_buffer("unbanks", torch.linalg.pinv(banks), persistent=False)  # least squares
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    @classmethod
    def describe(cls, config: MelConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="audio",
            kind="continuous",
            latent_dim=config.n_mels,
            temporal_factor=config.hop_length,
            sample_rate=config.sample_rate,
            channels=1,
        )

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        c = self.config
        pad_mode = "reflect" if x.shape[-1] > c.n_fft // 2 else "constant"
        magnitudes = AF.spectrogram(
            x[:, 0].float(),
            pad=0,
            window=self.window.float(),
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            win_length=c.n_fft,
            power=1.0,
            normalized=False,
            pad_mode=pad_mode,
        )[..., :-1]  # (B, freqs, frames)
        mel = magnitudes.transpose(1, 2) @ self.banks.float()
        return mel.clamp_min(_FLOOR).log()

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        c = self.config
        frames = data.shape[1]
        mel = data.float().exp()
        mel = torch.cat([mel, mel[:, -1:]], dim=1)  # the end frame encode left out
        # Griffin-Lim's STFT reflects n_fft // 2 samples: silent frames up to that length.
        silent = max(0, c.n_fft // 2 // c.hop_length + 1 - frames)
        mel = torch.cat([mel, mel.new_zeros(mel.shape[0], silent, mel.shape[2])], dim=1)
        magnitudes = (mel @ self.unbanks.float()).clamp_min(0).transpose(1, 2)
        audio = AF.griffinlim(
            magnitudes,
            window=self.window.float(),
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            win_length=c.n_fft,
            power=1.0,
            n_iter=c.griffin_lim_iters,
            momentum=0.99,
            length=(frames + silent) * c.hop_length,
            rand_init=False,
        )[:, : frames * c.hop_length]
        return self.trim(audio[:, None].to(self.dtype), original_size)


for _mels in (80, 128):
    register(
        f"audio-mel-{_mels}",
        MelTokenizer,
        {"n_mels": _mels},
        description=f"{_mels}-band log-mel, 16 kHz, 100 frames/s; Griffin-Lim decode (metallic); no weights",
        # tzoo bench memory: 1.0 MB per second to encode, 2.8 to decode; 10% to spare.
        memory=MemoryCost("second", 0, 1.15e6, 0, 3.15e6),
        default=_mels == 80,
    )
