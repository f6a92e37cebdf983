"""Audio in, canonical ``(B, C, T)`` float32 in [-1, 1] out.

Accepted: arrays or tensors ``(T,)``, ``(C, T)`` or ``(B, C, T)``; integer PCM
(int16, int32, uint8) is scaled to [-1, 1]. A tokenizer with a fixed rate gets the
audio resampled (torchaudio) and, when it is mono, down-mixed by averaging channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError

_INT_SCALE = {torch.int16: 32768.0, torch.int32: 2147483648.0}


def _as_tensor(media: Any) -> Tensor:
    if isinstance(media, np.ndarray):
        if media.dtype.kind not in "iuf":
            raise InvalidMediaError(f"audio arrays must hold numbers, got {media.dtype}")
        return torch.from_numpy(np.ascontiguousarray(media))
    if isinstance(media, Tensor):
        return media
    raise InvalidMediaError(f"cannot read audio from a {type(media).__name__}; pass samples as an array")


def to_audio_batch(
    media: Any,
    sample_rate: int | None,
    target_rate: int | None = None,
    channels: int | None = None,
) -> Tensor:
    """``(B, C, T)`` float32; resampled from ``sample_rate`` to ``target_rate`` and
    down-mixed to ``channels`` when those are given."""
    x = _as_tensor(media)
    if x.dtype == torch.uint8:
        x = (x.float() - 128.0) / 128.0
    elif x.dtype in _INT_SCALE:
        x = x.float() / _INT_SCALE[x.dtype]
    elif x.is_floating_point():
        x = x.float()
    else:
        raise InvalidMediaError(f"audio samples must be float, int16, int32 or uint8, got {x.dtype}")
    if x.ndim == 1:
        x = x[None, None]
    elif x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InvalidMediaError(f"audio must be (T,), (C, T) or (B, C, T), got shape {tuple(x.shape)}")
    if x.shape[-1] == 0 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InvalidMediaError(f"empty audio of shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InvalidMediaError("audio contains NaN or infinity")
    if target_rate is not None and sample_rate is not None and sample_rate != target_rate:
        if sample_rate <= 0:
            raise InvalidMediaError(f"sample_rate must be positive, got {sample_rate}")
        x = AF.resample(x, sample_rate, target_rate)
    if channels == 1 and x.shape[1] > 1:
        x = x.mean(dim=1, keepdim=True)
    elif channels is not None and x.shape[1] != channels:
        raise InvalidMediaError(f"expected {channels} channel(s), got {x.shape[1]}")
    return x.contiguous()
