"""Audio in, canonical ``(B, C, T)`` float32 in [-1, 1] out.

Accepted: arrays or tensors ``(T,)``, ``(C, T)`` or ``(B, C, T)``; integer PCM
(int16, int32, uint8) is scaled to [-1, 1]. A tokenizer with a fixed rate gets the
audio resampled (torchaudio) and, when it is mono, down-mixed by averaging channels;
a stereo tokenizer gets mono audio on both channels.

``read_audio``/``write_wav`` turn encoded files (bytes) into float samples and back,
for the service and the CLI.
"""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError, MediaTooLargeError, UnsupportedMediaTypeError
from tokenizers_zoo.formats import MODALITY_FORMATS, decoder_name, guess_media_type, sniff_media_type

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
    down-mixed to (or mono repeated on) ``channels`` when those are given."""
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
    elif channels is not None and x.shape[1] == 1:
        x = x.expand(-1, channels, -1)
    elif channels is not None and x.shape[1] != channels:
        raise InvalidMediaError(f"expected {channels} channel(s), got {x.shape[1]}")
    return x.contiguous()


#: FFmpeg demuxers ``read_audio`` may use. The demuxer is always named, never probed:
#: probing would let a file pick demuxers (playlists, concat lists) that open other files.
AUDIO_FORMATS = tuple(f.decoder for f in MODALITY_FORMATS["audio"])


def read_audio(
    source: bytes | str | Path | BinaryIO, audio_format: str | None = None, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """WAV, FLAC, Ogg (Vorbis, Opus), MP3 or raw G.722 (telephony's 16 kHz wideband codec)
    -> ``(float32 (C, T) in [-1, 1], sample rate)``.

    ``source`` is a path, the file's bytes or a binary file object. ``audio_format`` names
    the demuxer (``wav``, ``flac``, ``ogg``, ``mp3``, ``g722``); by default it is taken from
    the file's suffix, or from the bytes' magic number (raw G.722 has none: name it).
    Decoding stops as soon as the audio passes ``max_seconds``, so memory stays bounded
    whatever the file claims."""
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise InvalidMediaError(f"cannot read audio file {source}: no such file")
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        source = source.read()
        audio_format = audio_format or (audio_format_of(name) if isinstance(name, str) else None)
    if audio_format is None:
        audio_format = audio_format_of(source)
    if audio_format not in AUDIO_FORMATS:
        raise InvalidMediaError(f"audio format must be one of {AUDIO_FORMATS}, got {audio_format!r}")
    chunks: list[np.ndarray] = []
    opened = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        with av.open(opened, format=audio_format) as f:
            stream = next((s for s in f.streams if s.type == "audio"), None)
            if stream is None:
                raise InvalidMediaError(f"the {audio_format} file has no audio stream")
            resampler = av.AudioResampler(format="fltp")  # planar float, rate and layout kept
            rate, limit, total = stream.rate, None, 0
            if max_seconds is not None and math.isfinite(max_seconds) and rate:
                limit = int(max_seconds * rate)
            for packet_frame in f.decode(stream):
                for frame in resampler.resample(packet_frame):
                    chunks.append(frame.to_ndarray())
                    total += chunks[-1].shape[-1]
                    if limit is not None and total > limit:
                        raise MediaTooLargeError(f"audio is longer than the limit of {max_seconds:g} s")
            chunks.extend(frame.to_ndarray() for frame in resampler.resample(None))
    except InvalidMediaError:
        raise
    except av.FFmpegError as exc:  # its str() carries an errno and the name '<none>' of a memory file
        raise InvalidMediaError(
            f"not a readable {audio_format} file: {exc.strerror or 'FFmpeg cannot decode it'}"
        ) from None
    except Exception as exc:  # FFmpeg reports corrupt input through many types; all mean "not audio"
        raise InvalidMediaError(f"not a readable {audio_format} file: {exc}") from exc
    if not chunks or not rate:
        raise InvalidMediaError(f"the {audio_format} file holds no samples")
    return np.concatenate(chunks, axis=-1).astype(np.float32, copy=False), int(rate)


def audio_format_of(source: bytes | str | Path) -> str:
    """The demuxer for an audio file: by its suffix (a path) or its magic number (bytes)."""
    if isinstance(source, str | Path):
        kind = guess_media_type(source)
    else:
        kind = sniff_media_type(source)
    try:
        return decoder_name("audio", kind or "")
    except UnsupportedMediaTypeError:
        what = f"{source}" if isinstance(source, str | Path) else "these bytes"
        raise UnsupportedMediaTypeError(
            f"cannot tell the audio format of {what}: pass audio_format= (one of {', '.join(AUDIO_FORMATS)})"
        ) from None


def write_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """``(C, T)`` float samples in [-1, 1] -> 16-bit PCM WAV bytes."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(pcm.shape[0])
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.T.tobytes())
    return buffer.getvalue()
