"""``tzoo bench recon``: metrics against their reference packages on known inputs, the rFID
guard, token statistics, data loading, and whole runs on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tokenizers_zoo.benchmarks import recon_metrics as metrics


def _noisy_pair(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, shape).astype(np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-20, 21, shape), 0, 255).astype(np.uint8)
    return clean, noisy


def _chw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2)


def test_psnr_of_known_error_identity_and_against_scikit_image() -> None:
    from skimage.metrics import peak_signal_noise_ratio

    image = np.full((1, 16, 16, 3), 100, np.uint8)
    shifted = image + np.uint8(5)  # every pixel off by 5: MSE 25
    assert metrics.psnr(_chw(shifted), _chw(image)).item() == pytest.approx(10 * math.log10(255**2 / 25))
    assert metrics.psnr(_chw(image), _chw(image)).item() == math.inf
    clean, noisy = _noisy_pair(0, (2, 24, 20, 3))
    ours = metrics.psnr(_chw(noisy), _chw(clean))
    reference = [peak_signal_noise_ratio(clean[i], noisy[i], data_range=255) for i in range(2)]
    assert ours.tolist() == pytest.approx(reference, abs=1e-5)  # torchmetrics keeps data_range in fp32


def test_ssim_against_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    clean, noisy = _noisy_pair(1, (2, 40, 32, 3))
    ours = metrics.ssim(_chw(noisy), _chw(clean))
    reference = [
        structural_similarity(
            clean[i],
            noisy[i],
            data_range=255,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(2)
    ]
    # same window, constants and border crop; the two differ by ~1e-4 in rounding
    assert ours.tolist() == pytest.approx(reference, abs=1e-3)
    assert metrics.ssim(_chw(clean), _chw(clean)).tolist() == pytest.approx([1.0, 1.0])


def test_si_snr_of_a_known_mixture() -> None:
    rng = np.random.default_rng(2)
    reference = torch.from_numpy(rng.standard_normal(8000))
    noise = torch.from_numpy(rng.standard_normal(8000))
    noise = noise - (noise @ reference) / (reference @ reference) * reference  # orthogonal to the reference
    noise = noise / noise.norm() * reference.norm() / 10  # 20 dB below
    estimate = 3.0 * (reference - reference.mean()) + 3.0 * noise  # scale must not matter
    assert metrics.si_snr(estimate, reference).item() == pytest.approx(20.0, abs=0.05)


def _speech_like(rate: int, seconds: float, seed: int) -> np.ndarray:
    """Harmonic tones switching pitch every 200 ms, enough for PESQ's voice activity detector."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    pitch = rng.uniform(100, 300, int(seconds * 5) + 1)[(t * 5).astype(int)]
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * wave + 0.003 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.mark.parametrize(("rate", "mode"), [(16000, "wb"), (8000, "nb")])
def test_pesq_and_stoi_are_the_reference_packages(rate: int, mode: str) -> None:
    from pesq import pesq
    from pystoi import stoi

    clean = _speech_like(rate, 2.0, 3)
    degraded = (clean + 0.02 * np.random.default_rng(4).standard_normal(clean.shape)).astype(np.float32)
    assert metrics.pesq_score(clean, degraded, rate) == pesq(rate, clean, degraded, mode)
    assert metrics.pesq_band(rate).startswith(mode)
    assert metrics.stoi_score(clean, degraded, rate) == stoi(clean, degraded, rate, extended=False)
    assert metrics.stoi_score(clean, clean, rate) == pytest.approx(1.0, abs=1e-6)
    assert metrics.pesq_score(clean, clean, rate) > metrics.pesq_score(clean, degraded, rate)


def test_pesq_resamples_other_rates_to_wide_band() -> None:
    import torchaudio.functional as AF
    from pesq import pesq

    clean = _speech_like(24000, 2.0, 5)
    degraded = (clean + 0.02 * np.random.default_rng(6).standard_normal(clean.shape)).astype(np.float32)
    at_16k = [AF.resample(torch.from_numpy(s), 24000, 16000).numpy() for s in (clean, degraded)]
    assert metrics.pesq_score(clean, degraded, 24000) == pesq(16000, *at_16k, "wb")


def test_temporal_difference_error_sees_flicker_not_a_constant_offset() -> None:
    clip = torch.rand(4, 3, 8, 8) * 255
    assert metrics.temporal_difference_error(clip + 10, clip) == pytest.approx(0.0, abs=1e-4)
    flicker = clip + torch.tensor([0.0, 6.0, 0.0, 6.0])[:, None, None, None]
    assert metrics.temporal_difference_error(flicker, clip) == pytest.approx(6.0)
    assert metrics.temporal_difference_error(clip[:1], clip[:1]) == 0.0
