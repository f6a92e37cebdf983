"""Reconstruction quality on held-out data: PSNR, colour error and usage for images;
PESQ, STOI, SI-SNR and mel distance for audio; and speed."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchaudio.functional as AF
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.media.image import to_uint8
from tokenizers_zoo.metrics import (
    colour_error,
    mel_distance,
    pesq_score,
    psnr,
    si_snr,
    stoi_score,
    temporal_difference_error,
)
from tokenizers_zoo.tokenizer import Tokenizer


@torch.no_grad()
def evaluate_reconstruction(
    tokenizer: Tokenizer, tiles: Tensor, device: torch.device | str = "cpu", batch_size: int = 8
) -> dict[str, float]:
    """Mean PSNR (dB, on uint8 round trips; 99 stands for lossless), mean colour error
    (``metrics.colour_error``: CIEDE2000 of 16 x 16 block means, on the same round trips),
    codebook usage (fraction of all ids seen over every tile, discrete only) and
    encode+decode throughput in images/s."""
    was_training = tokenizer.training
    tokenizer.eval()
    psnr_per_tile: list[float] = []
    colour_per_tile: list[float] = []
    seen: torch.Tensor | None = None
    started = time.perf_counter()
    for start in range(0, tiles.shape[0], batch_size):
        batch = tiles[start : start + batch_size]
        x = (batch.float() / 127.5 - 1.0).to(device)
        tokens = tokenizer.encode(x)
        recon = tokenizer.decode(tokens)
        recon_u8 = to_uint8(recon).cpu()
        psnr_per_tile += psnr(recon_u8, batch).clamp(max=99.0).tolist()
        colour_per_tile += colour_error(recon_u8, batch).tolist()
        if tokens.ids is not None:
            size = max(tokenizer.info.vocab_size)
            counts = torch.bincount(tokens.ids.flatten().cpu(), minlength=size)
            seen = counts > 0 if seen is None else seen | (counts > 0)
    elapsed = time.perf_counter() - started
    tokenizer.train(was_training)
    count = len(psnr_per_tile)
    result = {
        "psnr": sum(psnr_per_tile) / count,
        "colour_error": sum(colour_per_tile) / count,
        "tiles": float(count),
        "images_per_s": count / elapsed,
    }
    if seen is not None:
        result["usage"] = float(seen.float().mean())
    return result


@torch.no_grad()
def evaluate_video(
    tokenizer: Tokenizer, clips: Tensor, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """Over uint8 ``(N, 3, T, H, W)`` held-out clips: mean per-frame PSNR (uint8 round
    trips), the temporal-difference error (``metrics``), codebook usage (discrete only),
    tokens per clip, and encode+decode frames per second."""
    was_training = tokenizer.training
    tokenizer.eval()
    frame_psnr: list[float] = []
    tdiff: list[float] = []
    seen: torch.Tensor | None = None
    started = time.perf_counter()
    for clip in clips:
        tokens = tokenizer.encode((clip[None].float() / 127.5 - 1.0).to(device))
        recon = to_uint8(tokenizer.decode(tokens))[0].cpu().transpose(0, 1)  # (T, 3, H, W)
        reference = clip.transpose(0, 1)
        frame_psnr += psnr(recon, reference).clamp(max=99.0).tolist()
        tdiff.append(temporal_difference_error(recon, reference))
        if tokens.ids is not None:
            counts = torch.bincount(tokens.ids.flatten().cpu(), minlength=max(tokenizer.info.vocab_size))
            seen = counts > 0 if seen is None else seen | (counts > 0)
    elapsed = time.perf_counter() - started
    tokenizer.train(was_training)
    result = {
        "psnr": sum(frame_psnr) / len(frame_psnr),
        "temporal_difference_error": sum(tdiff) / len(tdiff),
        "clips": float(len(clips)),
        # positions, not values: a continuous token is one vector
        "tokens_per_clip": float(
            (tokens.data[0] if tokens.ids is not None else tokens.data[0, ..., 0]).numel()
        ),
        "frames_per_s": len(frame_psnr) / elapsed,
    }
    if seen is not None:
        result["usage"] = float(seen.float().mean())
    return result


@torch.no_grad()
def evaluate_audio(
    tokenizer: Tokenizer, clips: list[Tensor], sample_rate: int | None = None, **options: Any
) -> dict[str, float]:
    """Mean PESQ, STOI, SI-SNR and log-mel distance (as ``tokenizers_zoo/metrics.py``
    defines them) over whole held-out clips, plus the encode+decode real-time factor
    (seconds of compute per second of audio).

    Clips are ``(T,)`` float tensors at ``sample_rate`` (default: the tokenizer's rate);
    a tokenizer working at another rate gets them resampled, and its output is resampled
    back before scoring. ``options`` go to ``encode`` (e.g. ``bandwidth``)."""
    rate = sample_rate or tokenizer.info.sample_rate
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
        scores["pesq"].append(pesq_score(ref, deg, rate))
        scores["stoi"].append(stoi_score(ref, deg, rate))
        scores["si_snr"].append(float(si_snr(recon, clip)))
        scores["mel_distance"].append(mel_distance(recon, clip, rate))
    tokenizer.train(was_training)
    result = {name: sum(values) / len(values) for name, values in scores.items()}
    result["clips"] = float(len(clips))
    result["real_time_factor"] = compute / audio_seconds
    return result


#: Where ``scripts/gather_*_data.py`` put the held-out media, per modality.
DEFAULT_EVAL_DATA = {
    "image": "data/images/eval",
    "audio": "data/audio/eval",
    "video": "data/video/eval/rendered",
}
#: Image tiles and video crops, when not given.
DEFAULT_EVAL_SIZE = {"image": 256, "video": 128}


def evaluate_tokenizer(
    tokenizer: Tokenizer,
    data: str | Path | None = None,
    tile_size: int | None = None,
    max_items: int = 0,
    bandwidth: float | None = None,
    frames: int = 17,
) -> dict[str, Any]:
    """Held-out quality of ``tokenizer`` on the folder ``data`` (default: the gather script's
    eval folder of its modality), as ``tzoo eval-tokenizer`` prints it.

    Images: every ``tile_size`` tile (``evaluate_reconstruction``; default 256). Video: the
    first ``frames`` frames of every clip, centre ``tile_size`` crop (default 128;
    ``evaluate_video``). Audio: whole recordings at
    16 kHz, or 8 kHz for an 8 kHz tokenizer (PESQ is defined at those two rates only), once
    per bitrate of a multi-rate codec (one rate-distortion row each) unless ``bandwidth``
    names one. ``max_items`` (0: all) caps tiles or recordings."""
    from tokenizers_zoo.tokenizers.audio.multirate import MultiRateAudioTokenizer
    from tokenizers_zoo.training.audio_data import eval_clips
    from tokenizers_zoo.training.data import eval_tiles

    modality = tokenizer.info.modality
    if modality not in DEFAULT_EVAL_DATA:
        raise InvalidMediaError(f"no held-out evaluation for {modality} tokenizers yet")
    data = Path(data or DEFAULT_EVAL_DATA[modality])
    tile_size = tile_size or DEFAULT_EVAL_SIZE.get(modality, 0)
    if modality == "video":
        from tokenizers_zoo.training.video_data import eval_clips as video_clips

        clips = _held_out(video_clips, max_items, data, frames, tile_size)
        return {
            "tokenizer": tokenizer.name,
            "data": str(data),
            "frames": frames,
            "size": tile_size,
            **evaluate_video(tokenizer, clips),
        }
    if modality == "image":
        tiles = _held_out(eval_tiles, max_items, data, tile_size)
        return {
            "tokenizer": tokenizer.name,
            "data": str(data),
            "tile_size": tile_size,
            **evaluate_reconstruction(tokenizer, tiles),
        }
    rate = 8000 if tokenizer.info.sample_rate == 8000 else 16000
    clips = _held_out(eval_clips, max_items, data, rate)
    if isinstance(tokenizer, MultiRateAudioTokenizer):
        bandwidths = [bandwidth] if bandwidth is not None else list(tokenizer.bandwidths)
        rows = []
        for kbps in bandwidths:
            print(f"evaluating {tokenizer.name} at {kbps:g} kbps on {len(clips)} clips", file=sys.stderr)
            rows.append({"kbps": kbps, **evaluate_audio(tokenizer, clips, rate, bandwidth=kbps)})
    else:
        rows = [evaluate_audio(tokenizer, clips, rate)]
    return {"tokenizer": tokenizer.name, "data": str(data), "sample_rate": rate, "results": rows}


def _held_out(read: Callable[..., list], max_items: int, *args: Any) -> list:
    """The first ``max_items`` (0: all) items ``read(*args)`` gives; a folder it cannot read
    is the media error the CLI reports in one line."""
    try:
        items = read(*args)
    except (FileNotFoundError, ValueError) as exc:
        raise InvalidMediaError(str(exc)) from exc
    return items[:max_items] if max_items else items
