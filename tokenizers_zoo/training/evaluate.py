"""Reconstruction quality on held-out data: PSNR and usage for images; PESQ, STOI,
SI-SNR and mel distance for audio; and speed."""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torchaudio.functional as AF
from torch import Tensor

from tokenizers_zoo.tokenizer import Tokenizer


@torch.no_grad()
def evaluate_reconstruction(
    tokenizer: Tokenizer, tiles: Tensor, device: torch.device | str = "cpu", batch_size: int = 8
) -> dict[str, float]:
    """Mean PSNR (dB, on uint8 round trips), codebook usage (fraction of all ids seen
    over every tile, discrete only) and encode+decode throughput in images/s."""
    was_training = tokenizer.training
    tokenizer.eval()
    mse_per_tile: list[float] = []
    seen: torch.Tensor | None = None
    started = time.perf_counter()
    for start in range(0, tiles.shape[0], batch_size):
        batch = tiles[start : start + batch_size]
        x = (batch.float() / 127.5 - 1.0).to(device)
        tokens = tokenizer.encode(x)
        recon = tokenizer.decode(tokens)
        recon_u8 = ((recon.float().clamp(-1, 1) + 1) * 127.5).round().cpu()
        mse_per_tile += (recon_u8 - batch.float()).pow(2).flatten(1).mean(1).tolist()
        if tokens.ids is not None:
            size = max(tokenizer.info.vocab_size)
            counts = torch.bincount(tokens.ids.flatten().cpu(), minlength=size)
            seen = counts > 0 if seen is None else seen | (counts > 0)
    elapsed = time.perf_counter() - started
    tokenizer.train(was_training)
    psnr = [99.0 if m == 0 else 10 * math.log10(255.0**2 / m) for m in mse_per_tile]
    result = {"psnr": sum(psnr) / len(psnr), "tiles": float(len(psnr)), "images_per_s": len(psnr) / elapsed}
    if seen is not None:
        result["usage"] = float(seen.float().mean())
    return result


def si_snr(estimate: Tensor, reference: Tensor) -> float:
    """Scale-invariant SNR in dB, averaged over the batch (Le Roux et al. 2019)."""
    estimate = estimate.flatten(1) - estimate.flatten(1).mean(1, keepdim=True)
    reference = reference.flatten(1) - reference.flatten(1).mean(1, keepdim=True)
    scale = (estimate * reference).sum(1, keepdim=True) / reference.pow(2).sum(1, keepdim=True).clamp_min(
        1e-8
    )
    target = scale * reference
    noise = estimate - target
    ratio = target.pow(2).sum(1).clamp_min(1e-8) / noise.pow(2).sum(1).clamp_min(1e-8)
    return float((10 * torch.log10(ratio)).mean())


@torch.no_grad()
def evaluate_audio(
    tokenizer: Tokenizer, clips: list[Tensor], sample_rate: int | None = None, **options: Any
) -> dict[str, float]:
    """Mean PESQ (wide band at 16 kHz, narrow band at 8 kHz; the ``pesq`` package), STOI
    (``pystoi``), SI-SNR and log-mel distance over whole held-out clips, plus the
    encode+decode real-time factor (seconds of compute per second of audio).

    Clips are ``(T,)`` float tensors at ``sample_rate`` (default: the tokenizer's rate);
    a tokenizer working at another rate gets them resampled, and its output is resampled
    back before scoring. ``options`` go to ``encode`` (e.g. ``bandwidth``)."""
    from pesq import pesq
    from pystoi import stoi

    from tokenizers_zoo.training.audio_losses import mel_distance

    rate = sample_rate or tokenizer.info.sample_rate
    if rate not in (8000, 16000):
        raise ValueError(f"PESQ scores 8 or 16 kHz audio, not {rate} Hz")
    was_training = tokenizer.training
    tokenizer.eval()
    scores: dict[str, list[float]] = {"pesq": [], "stoi": [], "si_snr": [], "mel_distance": []}
    compute = audio_seconds = 0.0
    for clip in clips:
        started = time.perf_counter()
        tokens = tokenizer.encode(clip, sample_rate=rate, **options)
        recon = tokenizer.decode(tokens)[0, 0].float().cpu()
        compute += time.perf_counter() - started
        if tokens.sample_rate != rate:
            recon = AF.resample(recon, tokens.sample_rate, rate)[: len(clip)]
        audio_seconds += len(clip) / rate
        ref, deg = clip.numpy(), recon.numpy()
        scores["pesq"].append(float(pesq(rate, ref, deg, "wb" if rate == 16000 else "nb")))
        scores["stoi"].append(float(stoi(ref, deg, rate, extended=False)))
        scores["si_snr"].append(si_snr(recon[None], clip[None]))
        scores["mel_distance"].append(mel_distance(recon, clip, rate))
    tokenizer.train(was_training)
    result = {name: sum(values) / len(values) for name, values in scores.items()}
    result["clips"] = float(len(clips))
    result["real_time_factor"] = compute / audio_seconds
    return result
