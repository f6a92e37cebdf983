"""Clips held in memory (tensors, uint8 arrays, lists of frames) -> the canonical video
batch ``(B, 3, T, H, W)`` float32 in [-1, 1] that video tokenizers take.

Which of a list's meanings holds is decided by what it holds, so no call is ambiguous:
a list whose items are all single frames (PIL images, PyAV ``VideoFrame``s, uint8
``(H, W, 3)`` arrays) is one clip; any other list is a batch of clips. Files and PyAV
frames go through ``media.video`` (containers, constant rate, rotation); a file path is
one clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.media.image import to_image_batch
from tokenizers_zoo.media.video import read_video, to_video_array


def _is_frame(item: Any) -> bool:
    if isinstance(item, Image.Image):
        return True
    if isinstance(item, np.ndarray):
        return item.ndim == 3 and item.shape[-1] in (1, 3, 4) and item.dtype == np.uint8
    return isinstance(item, av.VideoFrame)


def _frames_to_clip(frames: list[Any]) -> Tensor:
    """Frames -> ``(1, 3, T, H, W)``; PyAV frames are turned upright first."""
    if any(isinstance(f, av.VideoFrame) for f in frames):
        return _array_to_clip(to_video_array(frames))
    return to_image_batch(frames).permute(1, 0, 2, 3)[None]


def _array_to_clip(array: np.ndarray) -> Tensor:
    """uint8 ``(T, H, W[, C])`` -> ``(1, 3, T, H, W)``, each frame checked as an image is."""
    if array.ndim not in (3, 4):
        raise InvalidMediaError(f"video arrays must be uint8 (T, H, W[, 1|3]), got shape {array.shape}")
    if array.ndim == 3:  # (T, H, W) grey
        array = array[..., None]
    return to_image_batch(list(array)).permute(1, 0, 2, 3)[None]


def _tensor_to_batch(x: Tensor) -> Tensor:
    """``(3, T, H, W)`` or ``(B, 3, T, H, W)``, uint8 or float in [-1, 1]; the frames are
    checked by the image rules (range, channels, finiteness) folded into one batch."""
    x = x[None] if x.ndim == 4 else x
    if x.ndim != 5:
        raise InvalidMediaError(
            f"video tensors must be (3, T, H, W) or (B, 3, T, H, W), got {tuple(x.shape)}"
        )
    b, c, t, h, w = x.shape
    if b * t == 0:
        raise InvalidMediaError(f"empty video batch of shape {tuple(x.shape)} (no frames?)")
    frames = to_image_batch(x.transpose(1, 2).reshape(b * t, c, h, w))
    return frames.reshape(b, t, 3, h, w).transpose(1, 2)


def _item_to_batch(item: Any) -> Tensor:
    if isinstance(item, str | Path):
        return _array_to_clip(read_video(item)[0])
    if isinstance(item, Tensor):
        return _tensor_to_batch(item)
    if isinstance(item, np.ndarray):
        return _array_to_clip(item)
    if isinstance(item, list | tuple) and item and all(_is_frame(f) for f in item):
        return _frames_to_clip(list(item))
    raise InvalidMediaError(
        f"cannot read a video from a {type(item).__name__}: give a (B, 3, T, H, W) tensor, a uint8 "
        "(T, H, W, 3) array, a list of frames or a video file path"
    )


def to_video_batch(media: Any) -> Tensor:
    """Canonical ``(B, 3, T, H, W)`` float32 batch in [-1, 1] from any accepted form."""
    if isinstance(media, list | tuple) and media and all(_is_frame(f) for f in media):
        items: list[Any] = [list(media)]
    else:
        items = list(media) if isinstance(media, list | tuple) else [media]
    if not items:
        raise InvalidMediaError("no video given")
    batches = [_item_to_batch(item) for item in items]
    shapes = sorted({tuple(b.shape[2:]) for b in batches})
    if len(shapes) > 1:
        raise InvalidMediaError(
            f"clips in one batch must share (frames, height, width), got {shapes}; encode them separately"
        )
    x = torch.cat(batches).contiguous()
    if x.shape[0] == 0 or min(x.shape[2:]) < 1:
        raise InvalidMediaError(f"empty video batch of shape {tuple(x.shape)} (no frames?)")
    return x
