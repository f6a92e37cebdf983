"""Diagonal-Gaussian (KL) bottleneck of continuous tokenizers (SD-VAE style).

The encoder predicts a mean and a log-variance per latent channel; training samples
from it and pays a KL penalty toward N(0, 1), which keeps the latent space smooth
enough for a generator to model. Inference uses the mean, so encoding is
deterministic unless sampling is asked for.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DiagonalGaussian(nn.Module):
    """Input ``(..., 2C)`` (mean and log-variance); output latents ``(..., C)`` and the KL."""

    def __init__(self, logvar_range: tuple[float, float] = (-30.0, 20.0)) -> None:
        super().__init__()
        self.logvar_range = logvar_range

    def forward(self, moments: Tensor, sample: bool | None = None) -> tuple[Tensor, Tensor]:
        mean, logvar = moments.float().chunk(2, dim=-1)
        logvar = logvar.clamp(*self.logvar_range)
        if sample is None:
            sample = self.training
        latents = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        return latents, kl
