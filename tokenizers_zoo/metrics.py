"""Reconstruction metrics, one definition each, shared by ``tzoo bench recon``, the
training evaluations and the demo so a number means the same wherever it is printed.

Papers disagree by tenths of a dB because each re-implements PSNR, SSIM or SI-SNR with
its own value range, window or epsilon. Here the standard packages compute them:
torchmetrics (PSNR, SSIM, SI-SNR), ``pesq`` (ITU-T P.862 / P.862.2) and ``pystoi``;
only the log-mel distance and the video temporal-difference error, which no package
defines, are written out. The packages are imported on first use: torchmetrics alone
takes seconds to import, which ``tzoo demo`` and the trainer need not pay up front.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
import torchaudio.functional as AF
from torch import Tensor

#: PESQ is defined at 8 kHz (narrow band, P.862) and 16 kHz (wide band, P.862.2) only.
PESQ_RATES = {8000: "nb", 16000: "wb"}


def psnr(recon: Tensor, reference: Tensor, data_range: float = 255.0) -> Tensor:
    """PSNR in dB of each item of a batch (``inf`` where they are identical)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    dims = tuple(range(1, reference.ndim))
    return peak_signal_noise_ratio(
        recon.double(), reference.double(), data_range=data_range, reduction="none", dim=dims
    )


def ssim(recon: Tensor, reference: Tensor, data_range: float = 255.0) -> Tensor:
    """SSIM of each ``(3, H, W)`` image of a batch with Wang et al.'s settings (11 x 11
    Gaussian window, sigma 1.5, K1 0.01, K2 0.03), averaged over channels and positions.

    Computed in float32 on values scaled to [0, 1], where the local variances keep their
    precision (fp64 convolutions cost ~10x on CPU for no visible digit)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    scale = 1.0 / data_range
    return structural_similarity_index_measure(
        recon.float() * scale, reference.float() * scale, data_range=1.0, reduction="none"
    )


def temporal_difference_error(recon: Tensor, reference: Tensor) -> float:
    """Mean absolute error between frame-to-frame differences of ``(T, C, H, W)`` clips,
    in pixel units: flicker and lost motion that per-frame PSNR cannot see (0 for T < 2)."""
    if reference.shape[0] < 2:
        return 0.0
    return float((recon.double().diff(dim=0) - reference.double().diff(dim=0)).abs().mean())


def si_snr(estimate: Tensor, reference: Tensor) -> Tensor:
    """Scale-invariant SNR in dB (Le Roux et al. 2019) of each signal, over the last axis."""
    from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio

    return scale_invariant_signal_noise_ratio(estimate.double(), reference.double())


def pesq_band(sample_rate: int) -> str:
    """How ``pesq_score`` scores audio at ``sample_rate``."""
    if sample_rate in PESQ_RATES:
        return f"{PESQ_RATES[sample_rate]} at {sample_rate} Hz"
    return f"wb after resampling {sample_rate} Hz to 16000 Hz"


def pesq_score(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """PESQ MOS-LQO of mono ``(T,)`` float signals: narrow band at 8 kHz, wide band at
    16 kHz; other rates are resampled to 16 kHz and scored wide band. Raises the
    ``pesq`` package's ``PesqError`` subclasses (e.g. no speech found)."""
    from pesq import pesq

    if sample_rate not in PESQ_RATES:
        reference, degraded = (
            AF.resample(torch.from_numpy(np.ascontiguousarray(s, np.float32)), sample_rate, 16000).numpy()
            for s in (reference, degraded)
        )
        sample_rate = 16000
    return float(pesq(sample_rate, reference, degraded, PESQ_RATES[sample_rate]))


def stoi_score(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Short-time objective intelligibility (Taal et al. 2011, not the extended variant)."""
    from pystoi import stoi

    return float(stoi(reference, degraded, sample_rate, extended=False))


@functools.cache
def _mel_transform(sample_rate: int) -> torchaudio.transforms.MelSpectrogram:
    """Built once per rate: its filterbank costs more than a short clip's spectrogram."""
    return torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=1024, hop_length=256, n_mels=80)


def log_mel(signal: Tensor, sample_rate: int) -> Tensor:
    """log10 of the 80-band mel power spectrogram (1024-point FFT, hop 256), floored at 1e-5."""
    mel = _mel_transform(sample_rate).to(signal.device)
    return mel(signal.float()).clamp_min(1e-5).log10()


def mel_distance(recon: Tensor, target: Tensor, sample_rate: int) -> float:
    """L1 between log-mel spectrograms: the single number codec reports quote."""
    return float(F.l1_loss(log_mel(recon, sample_rate), log_mel(target, sample_rate)))
