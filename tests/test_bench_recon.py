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


# -- rFID ------------------------------------------------------------------------------


class PassThrough(torch.nn.Module):
    """Stands in for Inception: the "images" given to the metric are the features."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.num_features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_frechet_distance_matches_an_independent_scipy_formula() -> None:
    from scipy.linalg import sqrtm
    from tokenizers_zoo.benchmarks.rfid import FrechetDistance

    rng = np.random.default_rng(7)
    d = 6
    mix_a, mix_b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    real = rng.standard_normal((400, d)) @ mix_a + 1.0
    fake = rng.standard_normal((400, d)) @ mix_b - 0.5
    fid = FrechetDistance(PassThrough(d))
    metric = fid.metric()
    for start in range(0, 400, 100):  # in batches, as the bench feeds it
        batch = slice(start, start + 100)
        fid.add(metric, torch.from_numpy(real[batch]), torch.from_numpy(fake[batch]))
    ours, reason = fid.value(metric)
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    expected = ((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * sqrtm(cov_r @ cov_f).real)
    assert reason == "" and ours == pytest.approx(expected, rel=1e-6)
    same = fid.metric()
    fid.add(same, torch.from_numpy(real), torch.from_numpy(real))
    assert fid.value(same)[0] == pytest.approx(0.0, abs=1e-6)
    one = fid.metric()
    fid.add(one, torch.from_numpy(real[:1]), torch.from_numpy(fake[:1]))
    assert fid.value(one) == (None, "rFID needs at least 2 images, this run has 1")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    from tokenizers_zoo.benchmarks import rfid

    monkeypatch.delenv(rfid.FID_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_rfid_without_the_weights_file_is_unavailable_and_says_what_to_supply(empty_hub) -> None:  # noqa: ANN001
    from tokenizers_zoo.benchmarks.rfid import FID_WEIGHTS_FILE, find_fid_weights

    weights, reason = find_fid_weights(None)
    assert weights is None
    assert FID_WEIGHTS_FILE in reason and "--fid-weights" in reason


def test_rfid_refuses_a_wrong_or_missing_weights_file(empty_hub, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from tokenizers_zoo.benchmarks import rfid

    import tokenizers_zoo as tz

    wrong = tmp_path / rfid.FID_WEIGHTS_FILE
    wrong.write_bytes(b"not the inception weights")
    with pytest.raises(rfid.FidWeightsError, match="SHA-256 .* refusing"):
        rfid.find_fid_weights(wrong)
    monkeypatch.setenv(rfid.FID_WEIGHTS_ENV, str(wrong))
    with pytest.raises(rfid.FidWeightsError):
        rfid.find_fid_weights(None)
    monkeypatch.delenv(rfid.FID_WEIGHTS_ENV)
    empty_hub.mkdir(parents=True)
    (empty_hub / rfid.CACHED_NAMES[1]).write_bytes(b"also wrong")
    with pytest.raises(rfid.FidWeightsError):
        rfid.find_fid_weights(None)
    with pytest.raises(tz.WeightsNotFoundError, match="not found"):
        rfid.find_fid_weights(tmp_path / "missing.pth")
    with pytest.raises(rfid.FidWeightsError):  # also when the network is built directly
        rfid.FrechetDistance.inception(wrong)
    monkeypatch.setattr(rfid, "FID_WEIGHTS_SHA256", rfid.sha256_of(wrong))
    assert rfid.find_fid_weights(wrong) == (wrong, "")
