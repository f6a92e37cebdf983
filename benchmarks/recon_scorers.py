"""Per modality: how a sample goes into a tokenizer, how the reconstruction is brought
back to the original's form, and what is measured on the pair.

Images and video are scored on uint8 reconstructions (what a user saves), against the
uint8 originals. Video goes into a tokenizer as ``(1, 3, T, H, W)`` in [-1, 1] and is
expected back in that layout (as MAGVIT and Cosmos lay it out; the zoo has no video
tokenizer yet). Audio is scored at the recording's own rate, mono.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

from tokenizers_zoo import metrics
from tokenizers_zoo.benchmarks import rfid, rfvd
from tokenizers_zoo.benchmarks.recon_data import Sample, load_audio, load_image, load_video
from tokenizers_zoo.benchmarks.rfid import FrechetDistance
from tokenizers_zoo.benchmarks.rfvd import VideoFrechetDistance
from tokenizers_zoo.errors import WeightsNotFoundError
from tokenizers_zoo.media.image import to_uint8
from tokenizers_zoo.tokenizer import Tokenizer
from tokenizers_zoo.tokens import Tokens
from tokenizers_zoo.training.losses import LPIPS

FileArg = str | Path | None
LPIPS_WEIGHTS_ENV = "TZOO_LPIPS_WEIGHTS"


@dataclass(frozen=True)
class Column:
    """A column of the comparison table: heading, summary key, format."""

    heading: str
    key: str
    fmt: str


def find_lpips(explicit: FileArg, device: torch.device) -> tuple[LPIPS | None, str]:
    """LPIPS-VGG from a local safetensors file (``--lpips-weights`` or ``$TZOO_LPIPS_WEIGHTS``),
    or ``None`` and why not: torchmetrics' LPIPS would download its backbone."""
    explicit = explicit or os.environ.get(LPIPS_WEIGHTS_ENV)
    if not explicit:
        return None, (
            "no LPIPS-VGG weights: pass --lpips-weights FILE (torchvision vgg16 features + "
            f"lin0..lin4 in one safetensors file) or set {LPIPS_WEIGHTS_ENV}"
        )
    if not Path(explicit).is_file():
        raise WeightsNotFoundError(f"LPIPS weights file {explicit} not found")
    return LPIPS(explicit).to(device), ""


class PixelScorer:
    """Shared by images and video: PSNR, SSIM, LPIPS when available, rFID (images)."""

    unit = "pixel"
    columns = [
        Column("PSNR dB", "psnr", "{:.2f}"),
        Column("SSIM", "ssim", "{:.4f}"),
        Column("LPIPS", "lpips", "{:.4f}"),
    ]

    def __init__(self, device: torch.device, size: int, lpips_weights: FileArg) -> None:
        self.device = device
        self.size = size
        self.unavailable: dict[str, str] = {}
        self.lpips, reason = find_lpips(lpips_weights, device)
        if reason:
            self.unavailable["lpips"] = reason
        self.fid: FrechetDistance | None = None
        self.fid_metric: Any = None

    def start_run(self, tokenizer: Tokenizer) -> None:
        self.fid_metric = self.fid.metric() if self.fid is not None else None

    def finish_run(self) -> dict[str, Any]:
        if self.fid_metric is None:
            return {}
        value, reason = FrechetDistance.value(self.fid_metric)
        return {"rfid": value} if reason == "" else {"rfid": None, "rfid_unavailable": reason}

    def _frame_scores(self, frames: Tensor, recon_u8: Tensor) -> dict[str, float]:
        """Means over a batch of uint8 ``(N, 3, H, W)`` frames."""
        scores = {
            "psnr": float(metrics.psnr(recon_u8, frames).mean()),
            "ssim": float(metrics.ssim(recon_u8, frames).mean()),
        }
        if self.lpips is not None:
            recon, original = (u8.to(self.device).float() / 127.5 - 1.0 for u8 in (recon_u8, frames))
            scores["lpips"] = float(self.lpips(recon, original))
        return scores


class ImageScorer(PixelScorer):
    """``PixelScorer``'s metrics plus rFID and the colour error (``metrics.colour_error``:
    mean CIEDE2000 of 16 x 16 block means, a colour cast PSNR does not single out)."""

    modality = "image"
    item = "image"
    columns = [
        *PixelScorer.columns,
        Column("rFID", "rfid", "{:.2f}"),
        Column("colour error", "colour_error", "{:.2f}"),
    ]

    def __init__(self, device: torch.device, size: int, lpips_weights: FileArg, fid_weights: FileArg) -> None:
        super().__init__(device, size, lpips_weights)
        weights, reason = rfid.FID_WEIGHTS.find(fid_weights)
        if weights is None:
            self.unavailable["rfid"] = reason
        else:
            self.fid = FrechetDistance.inception(weights, device)

    def load(self, sample: Sample) -> Tensor:
        return load_image(sample, self.size)

    def encode_input(self, media: Tensor, tokenizer: Tokenizer) -> tuple[Any, dict[str, Any]]:
        return media[None].float() / 127.5 - 1.0, {}

    def amount(self, media: Tensor) -> float:
        return float(media.shape[-2] * media.shape[-1])

    def original_preview(self, media: Tensor) -> np.ndarray:
        return media.permute(1, 2, 0).numpy()

    def score(self, media: Tensor, tokens: Tokens, decoded: Tensor) -> tuple[dict[str, Any], np.ndarray]:
        recon = to_uint8(decoded).cpu()
        row = {
            "height": media.shape[-2],
            "width": media.shape[-1],
            **self._frame_scores(media[None], recon),
            "colour_error": float(metrics.colour_error(recon, media[None])[0]),
        }
        if self.fid_metric is not None:
            self.fid.add(self.fid_metric, media[None], recon)
        return row, recon[0].permute(1, 2, 0).numpy()


class VideoScorer(PixelScorer):
    """``PixelScorer``'s metrics per frame, the temporal-difference error, and rFVD when the
    I3D weights are given (``benchmarks.rfvd``)."""

    modality = "video"
    item = "clip"
    columns = [
        *PixelScorer.columns,
        Column("temporal diff. L1", "temporal_difference_error", "{:.2f}"),
        Column("rFVD", "rfvd", "{:.1f}"),
    ]

    def __init__(
        self, device: torch.device, size: int, lpips_weights: FileArg, max_frames: int, fvd_weights: FileArg
    ) -> None:
        super().__init__(device, size, lpips_weights)
        self.max_frames = max_frames
        self.fvd: VideoFrechetDistance | None = None
        weights, reason = rfvd.FVD_WEIGHTS.find(fvd_weights)
        if weights is None:
            self.unavailable["rfvd"] = reason
        else:
            self.fvd = VideoFrechetDistance(weights, device)

    def start_run(self, tokenizer: Tokenizer) -> None:
        if self.fvd is not None:
            self.fvd.start_run()

    def finish_run(self) -> dict[str, Any]:
        if self.fvd is None:
            return {}
        value, reason = self.fvd.value()
        return {"rfvd": value} if reason == "" else {"rfvd": None, "rfvd_unavailable": reason}

    def load(self, sample: Sample) -> Tensor:
        return load_video(sample, self.size, self.max_frames)

    def encode_input(self, media: Tensor, tokenizer: Tokenizer) -> tuple[Any, dict[str, Any]]:
        return media.permute(1, 0, 2, 3)[None].float() / 127.5 - 1.0, {}

    def amount(self, media: Tensor) -> float:
        return float(media.shape[0] * media.shape[-2] * media.shape[-1])

    def original_preview(self, media: Tensor) -> np.ndarray:
        return media[media.shape[0] // 2].permute(1, 2, 0).numpy()

    def score(self, media: Tensor, tokens: Tokens, decoded: Tensor) -> tuple[dict[str, Any], np.ndarray]:
        recon = to_uint8(decoded[0].permute(1, 0, 2, 3)).cpu()  # (T, 3, H, W)
        row = {
            "frames": media.shape[0],
            "height": media.shape[-2],
            "width": media.shape[-1],
            **self._frame_scores(media, recon),
            "temporal_difference_error": metrics.temporal_difference_error(recon, media),
        }
        if self.fvd is not None:
            self.fvd.add(media, recon)
        return row, recon[recon.shape[0] // 2].permute(1, 2, 0).numpy()


class AudioScorer:
    """PESQ, STOI, SI-SNR and log-mel distance at the recording's rate, mono."""

    modality = "audio"
    item = "recording"
    unit = "second"
    columns = [
        Column("PESQ", "pesq", "{:.2f}"),
        Column("STOI", "stoi", "{:.3f}"),
        Column("SI-SNR dB", "si_snr", "{:.2f}"),
        Column("mel dist.", "mel_distance", "{:.3f}"),
    ]

    def __init__(self) -> None:
        self.unavailable: dict[str, str] = {}
        self.channels = 1

    def start_run(self, tokenizer: Tokenizer) -> None:
        self.channels = tokenizer.info.channels

    def finish_run(self) -> dict[str, Any]:
        return {}

    def load(self, sample: Sample) -> tuple[Tensor, int]:
        return load_audio(sample)

    def encode_input(self, media: tuple[Tensor, int], tokenizer: Tokenizer) -> tuple[Any, dict[str, Any]]:
        clip, rate = media
        return clip[None].expand(self.channels, -1), {"sample_rate": rate}

    def amount(self, media: tuple[Tensor, int]) -> float:
        clip, rate = media
        return len(clip) / rate

    def original_preview(self, media: tuple[Tensor, int]) -> tuple[np.ndarray, int]:
        clip, rate = media
        return clip.numpy(), rate

    def score(
        self, media: tuple[Tensor, int], tokens: Tokens, decoded: Tensor
    ) -> tuple[dict[str, Any], tuple[np.ndarray, int]]:
        from pesq import PesqError

        clip, rate = media
        recon = decoded[0].float().mean(0).cpu()
        if tokens.sample_rate and tokens.sample_rate != rate:
            recon = AF.resample(recon, tokens.sample_rate, rate)
        recon = torch.nn.functional.pad(recon[: len(clip)], (0, max(0, len(clip) - len(recon))))
        ref, deg = clip.numpy(), recon.numpy()
        row: dict[str, Any] = {
            "seconds": len(clip) / rate,
            "sample_rate": rate,
            "pesq_band": metrics.pesq_band(rate),
        }
        try:
            row["pesq"] = metrics.pesq_score(ref, deg, rate)
        except PesqError as exc:
            row["pesq"], row["pesq_error"] = None, f"{type(exc).__name__}: {exc}"
        row["stoi"] = metrics.stoi_score(ref, deg, rate)
        row["si_snr"] = float(metrics.si_snr(recon, clip))
        row["mel_distance"] = metrics.mel_distance(recon, clip, rate)
        return row, (deg, rate)


Scorer = ImageScorer | VideoScorer | AudioScorer

#: The scorer class of each modality (its ``columns`` and ``item`` name the report's).
SCORERS: dict[str, type[Scorer]] = {
    "image": ImageScorer,
    "video": VideoScorer,
    "audio": AudioScorer,
}


def make_scorer(
    modality: str,
    device: torch.device,
    *,
    size: int,
    max_frames: int,
    lpips_weights: FileArg,
    fid_weights: FileArg,
    fvd_weights: FileArg = None,
) -> Scorer:
    if modality == "image":
        return ImageScorer(device, size, lpips_weights, fid_weights)
    if modality == "video":
        return VideoScorer(device, size, lpips_weights, max_frames, fvd_weights)
    return AudioScorer()
