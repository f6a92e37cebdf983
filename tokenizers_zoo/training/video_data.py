"""Random clips from a folder of videos, reproducible from (seed, step) alone.

Every video is decoded once and kept in memory as uint8 ``(T, H, W, 3)``; a batch picks
clips in proportion to how many windows they hold, then a window of ``frames``
consecutive frames, a ``crop x crop`` square and a horizontal flip, all from a generator
seeded by (seed, step), so resuming is exact without loader state (as ``data.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tokenizers_zoo.formats import suffixes
from tokenizers_zoo.media.video import read_video
from tokenizers_zoo.training.data import media_files


def video_files(folder: str | Path) -> list[Path]:
    return media_files(folder, suffixes("video"), "video")


def load_clips(folder: str | Path, min_frames: int, min_side: int) -> list[np.ndarray]:
    """Every video under ``folder`` with at least ``min_frames`` frames and ``min_side``
    pixels on each side, as uint8 ``(T, H, W, 3)``."""
    clips = [read_video(path)[0] for path in video_files(folder)]
    kept = [c for c in clips if c.shape[0] >= min_frames and min(c.shape[1:3]) >= min_side]
    if not kept:
        raise ValueError(f"no video under {folder} has {min_frames} frames of {min_side} x {min_side} pixels")
    return kept


class RandomClips:
    def __init__(self, folder: str | Path, frames: int, crop: int, seed: int = 0) -> None:
        self.frames, self.crop, self.seed = frames, crop, seed
        self.clips = load_clips(folder, frames, crop)
        windows = torch.tensor([c.shape[0] - frames + 1 for c in self.clips], dtype=torch.float64)
        self.weights = windows / windows.sum()

    def batch(self, step: int, batch_size: int) -> Tensor:
        """``(batch_size, 3, frames, crop, crop)`` float in [-1, 1] for this step."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        picks = torch.multinomial(self.weights, batch_size, replacement=True, generator=gen)
        out = []
        for index in picks.tolist():
            clip = self.clips[index]
            t = int(torch.randint(0, clip.shape[0] - self.frames + 1, (1,), generator=gen))
            y = int(torch.randint(0, clip.shape[1] - self.crop + 1, (1,), generator=gen))
            x = int(torch.randint(0, clip.shape[2] - self.crop + 1, (1,), generator=gen))
            window = clip[t : t + self.frames, y : y + self.crop, x : x + self.crop]
            if bool(torch.randint(0, 2, (1,), generator=gen)):
                window = window[:, :, ::-1]
            out.append(torch.from_numpy(np.ascontiguousarray(window)))
        return torch.stack(out).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def eval_clips(folder: str | Path, frames: int, size: int) -> Tensor:
    """The first ``frames`` frames of every held-out video, centre ``size x size`` crop,
    uint8 ``(N, 3, frames, size, size)``."""
    clips = []
    for clip in load_clips(folder, frames, size):
        y, x = (clip.shape[1] - size) // 2, (clip.shape[2] - size) // 2
        clips.append(torch.from_numpy(np.ascontiguousarray(clip[:frames, y : y + size, x : x + size])))
    return torch.stack(clips).permute(0, 4, 1, 2, 3).contiguous()
