"""Media files (bytes of a declared type) <-> the arrays tokenizers take, with size limits.

``tzoo encode``/``decode`` and the service both read and write media through here: the
decoder that runs is chosen by the declared type (``formats``), never sniffed, so bytes
reach only the decoders their type names, and the limits are checked before anything is
decoded in full.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import UnidentifiedImageError

from tokenizers_zoo.errors import (
    InvalidMediaError,
    MalformedBodyError,
    MediaTooLargeError,
    UnsupportedMediaTypeError,
)
from tokenizers_zoo.formats import (
    NPY,
    decoder_name,
    guess_media_type,
    media_type,
    returned_types,
)
from tokenizers_zoo.media.audio import read_audio, write_wav
from tokenizers_zoo.media.image import read_image, to_uint8, write_image
from tokenizers_zoo.media.video import read_video, to_video_array, write_video
from tokenizers_zoo.wire import read_npy, write_npy

T = TypeVar("T")


@dataclass(frozen=True)
class MediaLimits:
    """``max_pixels`` holds for images and for each video frame; ``max_video_pixels`` for
    all the frames of a video together (what they take in memory, over 3)."""

    max_pixels: int
    max_audio_seconds: float
    max_frames: int
    max_video_seconds: float
    max_video_pixels: int


#: The frame rate of a video decoded from tokens that do not say theirs.
DEFAULT_FPS = 25.0

#: For local files a person chose (``tzoo encode``): no limits.
NO_LIMITS = MediaLimits(
    max_pixels=sys.maxsize,
    max_audio_seconds=math.inf,
    max_frames=sys.maxsize,
    max_video_seconds=math.inf,
    max_video_pixels=sys.maxsize,
)


@dataclass(frozen=True)
class Media:
    """One item as a tokenizer takes it: uint8 ``(H, W[, C])`` pixels, uint8 ``(T, H, W, 3)``
    frames with their rate (None for raw ``.npy`` frames), or float ``(C, T)`` samples with
    their rate."""

    array: np.ndarray
    sample_rate: int | None = None
    fps: float | None = None


def read_media(
    modality: str, content_type: str | None, body: bytes, limits: MediaLimits, sample_rate: int | None
) -> Media:
    """Parse one media file of type ``content_type``, or raw ``.npy`` pixels, frames or
    samples (``sample_rate`` is required for samples). The type chooses the one decoder that runs:
    bytes of another format are a ``MalformedBodyError``, however readable they are."""
    kind = media_type(content_type)
    decoder = None if kind == NPY else decoder_name(modality, kind)
    if not body:
        raise InvalidMediaError("the body is empty")
    if modality == "video":
        return _read_video(body, decoder, limits)
    if modality == "image":
        if decoder is None:
            pixels = read_npy(body)
            if pixels.ndim >= 2 and pixels.shape[0] * pixels.shape[1] > limits.max_pixels:
                raise MediaTooLargeError(f"image of {pixels.shape[:2]} is over {limits.max_pixels} pixels")
            return Media(pixels)
        return Media(_parsed(_read_image, body, kind, decoder, limits.max_pixels))
    if modality != "audio":
        raise UnsupportedMediaTypeError(f"no reader for {modality} media yet")
    if decoder is None:
        if sample_rate is None:
            raise InvalidMediaError("raw samples in .npy need the sample_rate query parameter")
        samples = read_npy(body)
        samples = samples[None] if samples.ndim == 1 else samples
        if samples.ndim != 2:
            raise InvalidMediaError(f"audio samples must be (T,) or (C, T), got shape {samples.shape}")
        if samples.shape[-1] > limits.max_audio_seconds * sample_rate:
            raise MediaTooLargeError(f"audio is longer than the limit of {limits.max_audio_seconds:g} s")
        return Media(samples, sample_rate)
    samples, rate = _parsed(read_audio, body, decoder, limits.max_audio_seconds)
    return Media(samples, rate)


def _read_video(body: bytes, decoder: str | None, limits: MediaLimits) -> Media:
    checks = {
        "max_frames": limits.max_frames,
        "max_pixels": limits.max_pixels,
        "max_video_pixels": limits.max_video_pixels,
        "max_seconds": limits.max_video_seconds,
    }
    if decoder is None:  # raw frames carry no rate, so only their count and size are checked
        return Media(to_video_array(read_npy(body), **checks))
    frames, fps = _parsed(read_video, body, decoder, **checks)
    return Media(frames, fps=fps)


def _read_image(body: bytes, kind: str, decoder: str, max_pixels: int) -> np.ndarray:
    try:
        return read_image(body, max_pixels, formats=(decoder,))
    except InvalidMediaError as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):  # not this format at all
            raise InvalidMediaError(
                f"not a {decoder} image, as its type {kind} says (the type chooses the decoder)"
            ) from exc
        raise


def _parsed(reader: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A file reader's result; a file it cannot read is a malformed body (400), not media a
    tokenizer refused (422). Too-large media stays 413."""
    try:
        return reader(*args, **kwargs)
    except MediaTooLargeError:
        raise
    except InvalidMediaError as exc:
        raise MalformedBodyError(str(exc)) from exc


def media_arrays(modality: str, media: torch.Tensor) -> list[np.ndarray]:
    """A decoded batch -> per item uint8 ``(H, W, 3)`` pixels, uint8 ``(T, H, W, 3)`` frames
    (from ``(B, 3, T, H, W)``) or float32 ``(C, T)`` samples."""
    media = media.detach().cpu()
    if modality == "image":
        return list(to_uint8(media).permute(0, 2, 3, 1).numpy())
    if modality == "video":
        return list(to_uint8(media).permute(0, 2, 3, 4, 1).numpy())
    return list(media.float().numpy())


def render_media(
    modality: str, array: np.ndarray, kind: str, sample_rate: int | None, fps: float | None = None
) -> bytes:
    """One decoded item (uint8 ``(H, W, 3)``, uint8 ``(T, H, W, 3)`` or float ``(C, T)``) ->
    a file of type ``kind``. Video plays at ``fps``: the source's, which ``encode`` kept in the
    tokens' extras; tokens made without one (from a tensor) are written at ``DEFAULT_FPS``."""
    if kind == NPY:
        return write_npy(array)
    if modality == "image":
        return write_image(array, decoder_name("image", kind))
    if modality == "video":
        return write_video(array, fps or DEFAULT_FPS, decoder_name("video", kind))
    if sample_rate is None:
        raise InvalidMediaError("these tokens carry no sample_rate, which a WAV file needs")
    return write_wav(array, sample_rate)


def output_type(modality: str, path: str | Path) -> str:
    """The media type a decoded file is written as, by its name (``x.wav``, ``x.npy``)."""
    kind = guess_media_type(path)
    if kind not in returned_types(modality):
        raise UnsupportedMediaTypeError(
            f"{path}: {modality} tokenizers decode to {', '.join(returned_types(modality))} "
            f"(by the file's extension), not {kind or 'an unknown type'}"
        )
    return kind
