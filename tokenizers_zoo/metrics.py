"""Reconstruction metrics, one definition each, shared by ``tzoo bench recon``, the
training evaluations and the demo so a number means the same wherever it is printed.

Papers disagree by tenths of a dB because each re-implements PSNR, SSIM or SI-SNR with
its own value range, window or epsilon. Here the standard packages compute them:
torchmetrics (PSNR, SSIM, SI-SNR), ``pesq`` (ITU-T P.862 / P.862.2) and ``pystoi``.
Written out are only the log-mel distance and the video temporal-difference error, which
no package defines, and the colour error (CIEDE2000), whose reference, scikit-image, is
a test dependency and no runtime one: the tests hold the two together. The packages are
imported on first use: torchmetrics alone takes seconds to import, which ``tzoo demo``
and the trainer need not pay up front.
"""

from __future__ import annotations

import functools
import math

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


#: sRGB (linear) to CIE XYZ and the D65 white (2-degree observer), scikit-image's constants,
#: so ``colour_error`` is the ``rgb2lab`` + ``deltaE_ciede2000`` figure it is quoted as.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)


def srgb_to_lab(rgb: Tensor) -> Tensor:
    """CIE L*a*b* (D65) of sRGB colours in [0, 1], channels last ``(..., 3)``, in float64.

    The sRGB transfer curve is undone, the linear light taken to XYZ and scaled by the D65
    white, then Lab's cube-root curve with its linear toe below 0.008856 (slope 7.787), the
    rounded constants scikit-image's ``rgb2lab`` uses, so the two agree to float precision."""
    rgb = rgb.double()
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64, device=rgb.device)
    xyz = linear @ matrix.T / torch.tensor(_D65_WHITE, dtype=torch.float64, device=rgb.device)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(0.008856) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-1)


def ciede2000(lab1: Tensor, lab2: Tensor) -> Tensor:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of Lab colours ``(..., 3)``, in float64.

    Written as Sharma, Wu & Dalal (2005) state it, including their conventions where a
    chroma is 0 (hue difference 0, mean hue the plain sum) and at the 180-degree hue
    wrap, which is where implementations disagree; their test pairs are in the tests.
    Roughly 1 is a just-noticeable difference between two flat patches."""
    L1, a1, b1 = lab1.double().unbind(-1)
    L2, a2, b2 = lab2.double().unbind(-1)
    c7 = ((torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c7 / (c7 + 25.0**7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    C1, C2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    h1 = torch.atan2(b1, a1) % (2 * math.pi)
    h2 = torch.atan2(b2, a2) % (2 * math.pi)
    chroma_product = C1 * C2
    grey = chroma_product == 0

    dh = h2 - h1
    dh = torch.where(dh > math.pi, dh - 2 * math.pi, torch.where(dh < -math.pi, dh + 2 * math.pi, dh))
    dh = torch.where(grey, torch.zeros_like(dh), dh)
    dH = 2 * torch.sqrt(chroma_product) * torch.sin(dh / 2)

    h_sum = h1 + h2
    across = (h2 - h1).abs() > math.pi  # the mean hue lies across 0 degrees
    turned = torch.where(h_sum < 2 * math.pi, h_sum + 2 * math.pi, h_sum - 2 * math.pi)
    h_sum = torch.where(across & ~grey, turned, h_sum)
    h_mean = torch.where(grey, h_sum, h_sum / 2)
    L_mean, C_mean = (L1 + L2) / 2, (C1 + C2) / 2
    t = (
        1
        - 0.17 * torch.cos(h_mean - math.radians(30))
        + 0.24 * torch.cos(2 * h_mean)
        + 0.32 * torch.cos(3 * h_mean + math.radians(6))
        - 0.20 * torch.cos(4 * h_mean - math.radians(63))
    )
    s_l = 1 + 0.015 * (L_mean - 50) ** 2 / torch.sqrt(20 + (L_mean - 50) ** 2)
    s_c = 1 + 0.045 * C_mean
    s_h = 1 + 0.015 * C_mean * t
    c7 = C_mean**7
    r_c = 2 * torch.sqrt(c7 / (c7 + 25.0**7))
    d_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(h_mean) - 275) / 25) ** 2))
    rotation = -torch.sin(2 * d_theta) * r_c  # the blue region's hue-chroma interaction
    l_term, c_term, h_term = (L2 - L1) / s_l, (C2 - C1) / s_c, dH / s_h
    return torch.sqrt((l_term**2 + c_term**2 + h_term**2 + rotation * c_term * h_term).clamp_min(0))


#: Side in pixels of the blocks whose mean colours ``colour_error`` compares.
COLOUR_BLOCK = 16


def colour_error(
    recon: Tensor, reference: Tensor, data_range: float = 255.0, block: int = COLOUR_BLOCK
) -> Tensor:
    """Mean CIEDE2000 (in Delta E00; lower is better, 0 for identical images) between the
    ``block`` x ``block``-pixel mean colours of each ``(3, H, W)`` sRGB image of a batch
    and of its reconstruction, with values in [0, ``data_range``] (uint8 values by default,
    as ``psnr`` takes them; a [-1, 1] tensor must be shifted first: unlike PSNR, Lab
    depends on where black is, not only on the span).

    Block means rather than pixels, so what is measured is a colour cast (a tint, washed-out
    or shifted hues), which PSNR cannot tell from texture noise of the same energy, and not
    the texture and edge noise that a per-pixel Delta E would mostly count. Blocks start at the top left;
    a partial block at the right or bottom edge is dropped (it would count as much as a
    full one on a few pixels), except that an image smaller than ``block`` along a side has
    a block as long as that side, so every image gets a figure."""
    if recon.shape != reference.shape or reference.ndim != 4 or reference.shape[1] != 3:
        raise ValueError(
            f"colour_error takes two (B, 3, H, W) batches, got {recon.shape} and {reference.shape}"
        )
    size = (min(block, reference.shape[-2]), min(block, reference.shape[-1]))
    means = [F.avg_pool2d(x.double() / data_range, size) for x in (recon, reference)]
    recon_lab, reference_lab = (srgb_to_lab(m.permute(0, 2, 3, 1)) for m in means)
    return ciede2000(reference_lab, recon_lab).flatten(1).mean(1)


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
