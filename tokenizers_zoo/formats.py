"""The one table of media file types: what each modality reads and writes, named by media
type, file suffix and magic number.

The service's ``Content-Type`` and ``Accept`` handling, the client SDK's guess for a file
or bytes it is given, ``tzoo encode/decode``, the training data finders and the
reconstruction benchmark's folder scan all read this table, so a format added here is
added everywhere at once. It needs nothing beyond the standard library (the client SDK
imports it without torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers_zoo.errors import UnsupportedMediaTypeError

NPY = "application/x-npy"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class MediaFormat:
    """One file type of one modality. ``decoder`` is the name its reader takes: Pillow's
    format for images, the FFmpeg demuxer for audio and video (named, never probed).
    ``written``: decoding can produce it (``tzoo decode -o x.png``, ``Accept: image/png``)."""

    modality: str
    media_type: str
    decoder: str
    suffixes: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()
    written: bool = False


#: Every file type the zoo reads, per modality; the first written one of a modality is the
#: default output. GIF is both an image (its first frame) and a video.
FORMATS: tuple[MediaFormat, ...] = (
    MediaFormat("image", "image/png", "PNG", (".png",), magic=(b"\x89PNG\r\n\x1a\n",), written=True),
    MediaFormat("image", "image/jpeg", "JPEG", (".jpg", ".jpeg"), magic=(b"\xff\xd8\xff",), written=True),
    MediaFormat("image", "image/webp", "WEBP", (".webp",), written=True),
    MediaFormat("image", "image/gif", "GIF", (".gif",), magic=(b"GIF87a", b"GIF89a")),
    MediaFormat("image", "image/bmp", "BMP", (".bmp",), magic=(b"BM",)),
    MediaFormat("image", "image/tiff", "TIFF", (".tif", ".tiff"), magic=(b"II*\x00", b"MM\x00*")),
    MediaFormat("audio", "audio/wav", "wav", (".wav",), aliases=("audio/x-wav", "audio/wave"), written=True),
    MediaFormat("audio", "audio/flac", "flac", (".flac",), aliases=("audio/x-flac",), magic=(b"fLaC",)),
    MediaFormat("audio", "audio/ogg", "ogg", (".ogg", ".oga", ".opus"), magic=(b"OggS",)),
    MediaFormat("audio", "audio/mpeg", "mp3", (".mp3",), magic=(b"ID3",)),
    # RFC 4856 registers audio/G722; media types compare in lower case.
    MediaFormat("audio", "audio/g722", "g722", (".g722",)),
    MediaFormat("video", "video/mp4", "mp4", (".mp4", ".m4v"), written=True),
    MediaFormat("video", "video/quicktime", "mov", (".mov",)),
    MediaFormat("video", "video/webm", "webm", (".webm",)),
    MediaFormat("video", "video/x-matroska", "matroska", (".mkv",)),
    MediaFormat("video", "video/x-msvideo", "avi", (".avi",)),
    MediaFormat("video", "image/gif", "gif", (".gif",), written=True),
)
MODALITY_FORMATS: dict[str, tuple[MediaFormat, ...]] = {
    modality: tuple(f for f in FORMATS if f.modality == modality) for modality in ("image", "audio", "video")
}
_ALIASES = {alias: f.media_type for f in FORMATS for alias in f.aliases}
#: File names that are not media: token files and their metadata.
_OTHER_SUFFIXES = {".npy": NPY, ".json": JSON}


def media_type(content_type: str | None) -> str:
    """``Image/PNG; charset=x`` -> ``image/png``; older names (``audio/x-wav``) -> the
    registered one."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(kind, kind)


def guess_media_type(path: str | Path) -> str | None:
    """The media type a file name stands for (``.npy`` and ``.json`` included), or None."""
    suffix = Path(path).suffix.lower()
    if suffix in _OTHER_SUFFIXES:
        return _OTHER_SUFFIXES[suffix]
    return next((f.media_type for f in FORMATS if suffix in f.suffixes), None)


def sniff_media_type(body: bytes) -> str | None:
    """The media type bytes begin like (magic numbers), for bytes given without a type."""
    if body.startswith(b"\x93NUMPY"):
        return NPY
    if body[:4] == b"RIFF" and body[8:12] in (b"WEBP", b"WAVE"):
        return "image/webp" if body[8:12] == b"WEBP" else "audio/wav"
    return next((f.media_type for f in FORMATS if any(body.startswith(m) for m in f.magic)), None)


def accepted_types(modality: str) -> list[str]:
    """What an encoder of ``modality`` takes: its file types, then raw ``.npy`` arrays."""
    formats = MODALITY_FORMATS.get(modality, ())
    return [*(f.media_type for f in formats), NPY] if formats else []


def returned_types(modality: str) -> list[str]:
    """What a decoder of ``modality`` gives, the default first, then ``.npy`` arrays."""
    written = [f.media_type for f in MODALITY_FORMATS.get(modality, ()) if f.written]
    return [*written, NPY] if written else []


def decoder_name(modality: str, kind: str) -> str:
    """The reader's format name for a file of media type ``kind`` (already normalised)."""
    for f in MODALITY_FORMATS.get(modality, ()):
        if f.media_type == kind:
            return f.decoder
    accepted = ", ".join(accepted_types(modality)) or "nothing yet (no reader for this modality)"
    raise UnsupportedMediaTypeError(f"{modality} tokenizers take {accepted}; got {kind or 'no type'!r}")


def suffixes(modality: str) -> set[str]:
    """File suffixes of ``modality``'s media, for finding files in a folder."""
    return {s for f in MODALITY_FORMATS.get(modality, ()) for s in f.suffixes}


def decoder_for_file(modality: str, path: str | Path) -> str:
    """The reader's format name for a ``modality`` file, by its suffix."""
    return decoder_name(modality, guess_media_type(path) or "")
