"""Losses of the audio codec recipe: spectral reconstruction and a multi-scale STFT critic.

Waveform L1 alone gives muffled audio, since phase errors cost as much as loss of
content. Mel distances at several window sizes (DAC, EnCodec) weigh what ears hear;
the multi-resolution STFT loss (Parallel WaveGAN) keeps the linear spectrum honest;
the STFT critic (EnCodec's MS-STFTD) with feature matching restores the fine
harmonic detail those averages smear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn


class MultiScaleMelLoss(nn.Module):
    """Mean over windows of L1 between log-mels plus L1 between mels."""

    def __init__(
        self,
        sample_rate: int,
        windows: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048),
        n_mels: tuple[int, ...] = (8, 16, 32, 64, 80, 80),
    ) -> None:
        super().__init__()
        self.mels = nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(
                sample_rate, n_fft=w, hop_length=w // 4, n_mels=m, power=1.0, center=False
            )
            for w, m in zip(windows, n_mels, strict=True)
        )

    def forward(self, recon: Tensor, target: Tensor) -> Tensor:
        total = recon.new_zeros(())
        for mel in self.mels:
            a, b = mel(recon.float()), mel(target.float())
            total = total + F.l1_loss(a, b) + F.l1_loss(a.clamp_min(1e-5).log10(), b.clamp_min(1e-5).log10())
        return total / len(self.mels)


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence plus log-magnitude L1, averaged over FFT sizes."""

    def __init__(self, ffts: tuple[int, ...] = (256, 512, 1024, 2048)) -> None:
        super().__init__()
        self.ffts = ffts
        for n in ffts:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def forward(self, recon: Tensor, target: Tensor) -> Tensor:
        total = recon.new_zeros(())
        for n in self.ffts:
            window = getattr(self, f"window_{n}")
            a, b = (
                torch.stft(s.float().flatten(0, 1), n, n // 4, window=window, return_complex=True).abs()
                for s in (recon, target)
            )
            convergence = torch.linalg.norm(b - a) / torch.linalg.norm(b).clamp_min(1e-7)
            total = total + convergence + F.l1_loss(a.clamp_min(1e-7).log(), b.clamp_min(1e-7).log())
        return total / len(self.ffts)


class STFTCritic(nn.Module):
    """2-D convs over one complex STFT (real and imaginary parts as channels)."""

    def __init__(self, n_fft: int, channels: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        layers = [nn.Conv2d(2, channels, (3, 9), padding=(1, 4))]
        for dilation in (1, 2, 4):
            layers.append(
                nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(dilation, 4), dilation=(dilation, 1))
            )
        layers.append(nn.Conv2d(channels, channels, (3, 3), padding=1))
        self.layers = nn.ModuleList(nn.utils.parametrizations.weight_norm(layer) for layer in layers)
        self.out = nn.Conv2d(channels, 1, (3, 3), padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        spec = torch.stft(
            x.float().flatten(0, 1), self.n_fft, self.n_fft // 4, window=self.window, return_complex=True
        )
        h = torch.stack([spec.real, spec.imag], 1).transpose(2, 3)  # (B, 2, frames, bins)
        features = []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            features.append(h)
        return self.out(h), features


class MultiScaleSTFTDiscriminator(nn.Module):
    """EnCodec's MS-STFTD: one critic per FFT size; returns ``[(logits, features), ...]``."""

    def __init__(self, ffts: tuple[int, ...] = (1024, 512, 256), channels: int = 16) -> None:
        super().__init__()
        self.critics = nn.ModuleList(STFTCritic(n, channels) for n in ffts)

    def forward(self, x: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        return [critic(x) for critic in self.critics]


def feature_matching_loss(fake: list[list[Tensor]], real: list[list[Tensor]]) -> Tensor:
    """L1 between critic features of reconstruction and original, relative to the
    original's magnitude (EnCodec), averaged over every layer of every critic."""
    terms = [
        F.l1_loss(f, r.detach()) / r.detach().abs().mean().clamp_min(1e-5)
        for fake_layers, real_layers in zip(fake, real, strict=True)
        for f, r in zip(fake_layers, real_layers, strict=True)
    ]
    return torch.stack(terms).mean()
