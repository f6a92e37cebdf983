"""Shared input handling of video tokenizers: any clip size and length in, the original
size back out.

A clip is ``(B, 3, T, H, W)`` in [-1, 1] (``media.clips`` turns arrays, frames and files
into that). Space is padded as images are (right and bottom, edge pixels repeated, to a
multiple of ``spatial_factor``); time is padded by repeating the last frame up to the
length the tokenizer's temporal grouping needs (``padded_frames``). ``Tokens`` keep the
original ``(T, H, W)``, and ``decode`` crops both back.

``encode(clip, fps=25)`` records the clip's frame rate in ``Tokens.extras``, so a decoded
file plays at the source's rate (``tzoo encode`` and the service pass the file's own);
it changes no token.
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.media.clips import to_video_batch
from tokenizers_zoo.tokenizer import Tokenizer


class VideoTokenizer(Tokenizer):
    options = ("fps",)

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        fps = options.get("fps")
        if fps is None:
            return {k: v for k, v in options.items() if k != "fps"}
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 1000:
            raise InvalidMediaError(f"fps must be a number of frames per second in (0, 1000], got {fps!r}")
        return {**options, "fps": float(fps)}

    def padded_frames(self, frames: int) -> int:
        """How many frames a clip of ``frames`` is padded to before encoding: a multiple of
        the temporal factor here; causal tokenizers that encode the first frame alone
        override it (``1 + n * factor``)."""
        factor = self.info.temporal_factor
        return math.ceil(frames / factor) * factor

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        if sample_rate is not None:
            raise InvalidMediaError(f"{self.name} tokenizes video; sample_rate does not apply")
        x = to_video_batch(media)
        frames, height, width = x.shape[2:]
        return self.pad(x, self.padded_frames(frames)), (frames, height, width), None

    def pad(self, x: Tensor, frames: int) -> Tensor:
        """``x`` with its last frame repeated up to ``frames`` and its right and bottom edges
        up to a multiple of ``spatial_factor``."""
        factor = self.info.spatial_factor
        height, width = x.shape[-2:]
        pad_h = math.ceil(height / factor) * factor - height
        pad_w = math.ceil(width / factor) * factor - width
        pad_t = frames - x.shape[2]
        if pad_h or pad_w or pad_t:
            x = F.pad(x, (0, pad_w, 0, pad_h, 0, pad_t), mode="replicate")
        return x

    def token_shape_for(self, original_size: tuple[int, ...], extras: dict[str, Any]) -> tuple[int, ...]:
        frames, height, width = original_size
        return self.info.token_shape((self.padded_frames(frames), height, width))

    @staticmethod
    def crop(clips: Tensor, original_size: tuple[int, ...]) -> Tensor:
        frames, height, width = original_size
        return clips[:, :, :frames, :height, :width]
