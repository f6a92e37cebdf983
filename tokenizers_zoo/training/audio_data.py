"""Random segments from a folder of recordings, reproducible from (seed, step) alone.

Every file is decoded once, resampled to the codec's rate and kept in memory as
float32 mono (tens of minutes of speech fit in a few hundred MB). A batch is a pure
function of the seed and the step, as for images, so resuming is exact.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from tokenizers_zoo.formats import decoder_for_file, suffixes
from tokenizers_zoo.media.audio import read_audio, to_audio_batch
from tokenizers_zoo.training.data import media_files


def audio_files(folder: str | Path) -> list[Path]:
    return media_files(folder, suffixes("audio"), "audio")


def load_mono(path: Path, sample_rate: int) -> Tensor:
    """float32 ``(T,)`` at ``sample_rate``."""
    samples, rate = read_audio(path, decoder_for_file("audio", path))
    return to_audio_batch(samples, rate, sample_rate, channels=1)[0, 0]


class RandomSegments:
    def __init__(self, folder: str | Path, segment: int, sample_rate: int, seed: int = 0) -> None:
        self.segment = segment
        self.seed = seed
        self.clips = [
            c for c in (load_mono(p, sample_rate) for p in audio_files(folder)) if len(c) >= segment
        ]
        if not self.clips:
            raise ValueError(f"no recording under {folder} is at least {segment} samples long")
        # Sample recordings in proportion to their length, so each second is equally likely.
        lengths = torch.tensor([len(c) for c in self.clips], dtype=torch.float64)
        self.weights = lengths / lengths.sum()

    def batch(self, step: int, batch_size: int) -> Tensor:
        """``(batch_size, 1, segment)`` float in [-1, 1] for this step; a random gain
        (-6..0 dB) so the codec sees more than the recordings' one loudness."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        picks = torch.multinomial(self.weights, batch_size, replacement=True, generator=gen)
        segments = []
        for index in picks.tolist():
            clip = self.clips[index]
            start = int(torch.randint(0, len(clip) - self.segment + 1, (1,), generator=gen))
            segments.append(clip[start : start + self.segment])
        gain = 10 ** (-6 * torch.rand(batch_size, 1, generator=gen) / 20)
        return (torch.stack(segments) * gain)[:, None]


def eval_clips(folder: str | Path, sample_rate: int, limit: int = 0) -> list[Tensor]:
    """The held-out recordings, whole, as float32 ``(T,)`` at ``sample_rate``: every one, or
    ``limit`` spread evenly over the sorted paths, so a folder of several voices
    (``VOICE/`` subfolders) is scored across them, not on the first voice alone."""
    paths = audio_files(folder)
    if 0 < limit < len(paths):
        paths = [paths[i] for i in torch.linspace(0, len(paths) - 1, limit).round().long().tolist()]
    return [load_mono(p, sample_rate) for p in paths]
