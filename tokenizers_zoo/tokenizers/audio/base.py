"""Shared input handling of audio tokenizers: resampling, down-mixing, framing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.media.audio import read_audio, to_audio_batch
from tokenizers_zoo.tokenizer import Tokenizer


class AudioTokenizer(Tokenizer):
    """Brings samples to the tokenizer's rate and channel count and zero-pads the end to
    a whole number of frames; ``Tokens.original_size`` is the sample count at that
    rate, so ``decode`` trims the padding. A tokenizer whose ``info.sample_rate`` is
    ``None`` takes any rate and keeps it.

    A batch shares one length, as a batch of images shares one size (``original_size`` is
    one size per batch): pad shorter items yourself, or encode them one by one."""

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], int | None]:
        info = self.info
        if isinstance(media, str | Path) or hasattr(media, "read"):
            media, file_rate = read_audio(media)
            if sample_rate not in (None, file_rate):
                raise InvalidMediaError(
                    f"the file is at {file_rate} Hz; sample_rate= ({sample_rate}) describes raw samples only"
                )
            sample_rate = file_rate
        if sample_rate is not None and sample_rate <= 0:
            raise InvalidMediaError(f"sample_rate must be positive, got {sample_rate}")
        if info.sample_rate is not None and sample_rate is None:
            raise InvalidMediaError(
                f"{self.name} works at {info.sample_rate} Hz: pass sample_rate= with raw samples"
            )
        x = to_audio_batch(media, sample_rate, info.sample_rate, info.channels)
        return self.pad_to_frames(x), (x.shape[-1],), info.sample_rate or sample_rate

    def pad_to_frames(self, x: Tensor) -> Tensor:
        """Zeros at the end up to a whole number of frames; a model that pads its input its
        own way (EnCodec reflects the end) keeps ``x`` as it is."""
        hop = self.info.temporal_factor
        pad = math.ceil(x.shape[-1] / hop) * hop - x.shape[-1]
        return F.pad(x, (0, pad)) if pad else x

    @staticmethod
    def trim(audio: Tensor, original_size: tuple[int, ...]) -> Tensor:
        return audio[..., : original_size[0]]
