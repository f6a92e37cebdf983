"""Media types per modality, content negotiation, and HTTP bodies <-> arrays for tokenizers.

Encode takes encoded files (PNG, WAV, ...) or a raw ``.npy`` array; decode gives the
same. Which decoder runs is chosen by the declared type, never sniffed, so a body can
only reach the decoders its type names.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tokenizers_zoo.service.wire import NPY, MalformedBodyError, guess_media_type, read_npy, write_npy

from tokenizers_zoo.errors import InvalidMediaError, MediaTooLargeError, TokenizersZooError
from tokenizers_zoo.media.audio import read_audio, write_wav
from tokenizers_zoo.media.image import read_image, write_image

T = TypeVar("T")

#: What encode takes, per modality: media type -> the reader's format name.
ENCODE_TYPES: dict[str, dict[str, str]] = {
    "image": {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"},
    "audio": {
        "audio/wav": "wav",
        "audio/x-wav": "wav",
        "audio/wave": "wav",
        "audio/flac": "flac",
        "audio/x-flac": "flac",
        "audio/ogg": "ogg",
        "audio/mpeg": "mp3",
        "audio/g722": "g722",
    },
}
#: What decode gives, per modality, the first being the default.
DECODE_TYPES: dict[str, dict[str, str]] = {
    "image": {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"},
    "audio": {"audio/wav": "wav"},
}


class UnsupportedMediaTypeError(TokenizersZooError):
    """A body whose Content-Type the tokenizer cannot take (415)."""


class NotAcceptableError(TokenizersZooError):
    """An ``Accept`` header that names nothing the route can give (406)."""


@dataclass(frozen=True)
class MediaLimits:
    max_pixels: int
    max_audio_seconds: float


#: For local files a person chose (``tzoo encode``): no limits.
NO_LIMITS = MediaLimits(max_pixels=sys.maxsize, max_audio_seconds=math.inf)


@dataclass(frozen=True)
class Media:
    """One item as a tokenizer takes it: uint8 ``(H, W[, C])`` pixels or float ``(C, T)``
    samples with their rate."""

    array: np.ndarray
    sample_rate: int | None = None


def accepted_types(modality: str) -> list[str]:
    return [*ENCODE_TYPES.get(modality, {}), NPY] if modality in ENCODE_TYPES else []


def returned_types(modality: str) -> list[str]:
    return [*DECODE_TYPES.get(modality, {}), NPY] if modality in DECODE_TYPES else []


def media_type(content_type: str | None) -> str:
    """``image/png; charset=x`` -> ``image/png``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_media(
    modality: str, content_type: str | None, body: bytes, limits: MediaLimits, sample_rate: int | None
) -> Media:
    """Parse one encode body. ``sample_rate`` is required for raw audio samples in ``.npy``."""
    kind = media_type(content_type)
    if kind != NPY and kind not in ENCODE_TYPES.get(modality, {}):
        accepted = ", ".join(accepted_types(modality)) or "nothing yet (no reader for this modality)"
        raise UnsupportedMediaTypeError(
            f"{modality} tokenizers take {accepted}; got Content-Type {content_type or 'none'!r}"
        )
    if not body:
        raise InvalidMediaError("the body is empty")
    if modality == "image":
        if kind == NPY:
            pixels = read_npy(body)
            if pixels.ndim >= 2 and pixels.shape[0] * pixels.shape[1] > limits.max_pixels:
                raise MediaTooLargeError(f"image of {pixels.shape[:2]} is over {limits.max_pixels} pixels")
            return Media(pixels)
        return Media(_parsed(read_image, body, limits.max_pixels))
    if kind == NPY:
        if sample_rate is None:
            raise InvalidMediaError("raw samples in .npy need the sample_rate query parameter")
        samples = read_npy(body)
        samples = samples[None] if samples.ndim == 1 else samples
        if samples.ndim != 2:
            raise InvalidMediaError(f"audio samples must be (T,) or (C, T), got shape {samples.shape}")
        if samples.shape[-1] > limits.max_audio_seconds * sample_rate:
            raise MediaTooLargeError(f"audio is longer than the limit of {limits.max_audio_seconds:g} s")
        return Media(samples, sample_rate)
    samples, rate = _parsed(read_audio, body, ENCODE_TYPES[modality][kind], limits.max_audio_seconds)
    return Media(samples, rate)


def _parsed(reader: Callable[..., T], *args: Any) -> T:
    """A file reader's result; a file it cannot read is a malformed body (400), not media a
    tokenizer refused (422). Too-large media stays 413."""
    try:
        return reader(*args)
    except MediaTooLargeError:
        raise
    except InvalidMediaError as exc:
        raise MalformedBodyError(str(exc)) from exc


def render_media(modality: str, array: np.ndarray, media: str, sample_rate: int | None) -> bytes:
    """One decoded item (uint8 ``(H, W, 3)`` or float ``(C, T)``) -> a body of type ``media``."""
    if media == NPY:
        return write_npy(array)
    if modality == "image":
        return write_image(array, DECODE_TYPES["image"][media])
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


def negotiate(accept: str | None, offered: list[str]) -> str:
    """The offered type the ``Accept`` header likes best (ties: the order of ``offered``);
    no header or ``*/*`` gives the first."""
    if not accept or not accept.strip():
        return offered[0]
    best, best_q = None, 0.0
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for candidate in offered:
            if _matches(kind.lower(), candidate) and (
                q > best_q or q == best_q and _earlier(candidate, best, offered)
            ):
                best, best_q = candidate, q
                break
    if best is None:
        raise NotAcceptableError(f"Accept {accept!r} names nothing this route gives: {', '.join(offered)}")
    return best


def _matches(pattern: str, candidate: str) -> bool:
    if pattern in ("*/*", candidate):
        return True
    return pattern.endswith("/*") and candidate.startswith(pattern[:-1])


def _earlier(candidate: str, current: str | None, offered: list[str]) -> bool:
    return current is None or offered.index(candidate) < offered.index(current)
