"""Video files in, uint8 ``(T, H, W, 3)`` RGB frames and their frame rate out; mp4 (H.264)
and animated GIF out.

``iter_video`` decodes a file one frame at a time, so a long clip is never in memory
whole (``CausalVideoTokenizer.encode_stream`` takes its frames window by window);
``read_video`` gathers its frames into one array.

Reading goes through PyAV (FFmpeg) with the demuxer named by the declared type (``mp4``,
``mov``, ``webm``, ``matroska``, ``avi``, ``gif``): bytes are never probed, so a file
cannot pick a demuxer (playlists, concat lists) that opens other files. The limits
(frames, pixels per frame, pixels in all frames, seconds) are checked against the header
before anything is decoded, then again on every decoded frame, because headers lie:
decoding stops the moment a limit is passed, so memory stays bounded whatever the file
claims.

What comes out is what a viewer sees:

- Constant frame rate. The rate is the stream's average one as FFmpeg estimates it, or
  the header's frame count over its duration where those agree with that estimate to
  within 20% (exact where FFmpeg rounds: a 30 fps GIF's delays are 3 or 4 hundredths,
  FFmpeg reads 33.3 fps off the first, and 9 frames in 0.3 s say 30). Output frame ``j``
  shows at ``t0 + j / fps`` (``t0``: the first frame's presentation time) and is the
  source frame on screen then, to the nearest half period: the last one presented at or
  before ``t0 + (j + 1/2) / fps``; the last source frame lasts one period. A constant-rate
  stream comes out frame for frame; a variable-rate one has frames repeated across its
  gaps and dropped where they come faster than ``fps``.
- Upright. The display matrix's rotation (phones record sideways and say so there) is
  applied, rounded to a quarter turn; its flips are not.
- RGB. Frames with transparency (GIFs) are composited onto white, as the image reader does.

Writing, at the given fps: mp4 as H.264 (libx264, CRF 18) in yuv420p, converted and
tagged as BT.601 limited range, or MPEG-4 Part 2 where a PyAV build lacks libx264
(``MP4_CODEC`` says which); yuv420p needs even sides, so an odd width or height is padded
by repeating the last column or row (nothing is cut off). Animated GIF with one
256-colour palette for the whole clip, so colours do not flicker between frames; its
delays are whole hundredths of a second, so a rate that is not 100 / n plays slightly
uneven (and reads back at the rate given).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, TypedDict, Unpack

import av
import numpy as np
from PIL import Image

from tokenizers_zoo.errors import InvalidMediaError, MediaTooLargeError, UnsupportedMediaTypeError
from tokenizers_zoo.formats import MODALITY_FORMATS, decoder_for_file
from tokenizers_zoo.media.image import pil_to_rgb

#: FFmpeg demuxers ``iter_video`` and ``read_video`` may use (the media-type table's video formats).
VIDEO_FORMATS = tuple(f.decoder for f in MODALITY_FORMATS["video"])
#: Muxers ``write_video`` writes: mp4 and gif.
WRITTEN_FORMATS = tuple(f.decoder for f in MODALITY_FORMATS["video"] if f.written)
#: H.264 when this PyAV build has libx264 (the PyPI wheels do); otherwise MPEG-4 Part 2,
#: which every FFmpeg build encodes and every player reads, at a lower quality per byte.
MP4_CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"
#: FFmpeg's codes for BT.601 (SMPTE 170M) matrix, primaries and transfer, and limited range:
#: what the RGB -> YUV conversion uses, so players convert back with the same matrix.
_BT601, _LIMITED_RANGE = 6, 1
_HALF = Fraction(1, 2)


def iter_video(
    source: bytes | str | Path | BinaryIO,
    video_format: str | None = None,
    *,
    max_frames: int | None = None,
    max_pixels: int | None = None,
    max_video_pixels: int | None = None,
    max_seconds: float | None = None,
    first_frames: int | None = None,
) -> VideoFrames:
    """An mp4, mov, webm, mkv, avi or animated GIF file -> its frames, decoded one at a time
    as they are iterated (``VideoFrames``), at a constant rate and upright (see the module),
    so a long clip never needs to be in memory whole.

    ``source`` is a path, the file's bytes or a binary file object; ``video_format`` names
    the demuxer (one of ``VIDEO_FORMATS``), by default the one a path's suffix stands for
    (bytes must name it). Over ``max_frames``, ``max_pixels`` per frame, ``max_video_pixels``
    in all frames (what the frames take in memory, over 3) or ``max_seconds`` is a
    ``MediaTooLargeError``: raised here when the header states as much, before anything is
    decoded, and else by the frame that passes the limit. ``first_frames`` keeps only that
    many frames (the rest is not decoded), which is not an error. A file that is not a
    readable video of that format, holds no video stream or no frame is an
    ``InvalidMediaError``, here or while iterating."""
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise InvalidMediaError(f"cannot read video file {source}: no such file")
    video_format = video_format or _format_of(source)
    if video_format not in VIDEO_FORMATS:
        raise InvalidMediaError(
            f"video format must be one of {', '.join(VIDEO_FORMATS)}, got {video_format!r}"
        )
    opened = io.BytesIO(source) if isinstance(source, bytes) else source
    opened = str(opened) if isinstance(opened, Path) else opened
    with _readable(video_format):
        container = av.open(opened, format=video_format)
    try:
        with _readable(video_format):
            if not container.streams.video:
                kinds = sorted({s.type for s in container.streams}) or ["nothing"]
                raise InvalidMediaError(
                    f"the {video_format} file has no video stream (it holds {' and '.join(kinds)})"
                )
            stream = container.streams.video[0]
            fps = _average_rate(stream, video_format)
            limits = _Limits(max_frames, max_pixels, max_video_pixels, max_seconds)
            _check_header(container, stream, fps, limits, first_frames)
    except BaseException:
        container.close()
        raise
    return VideoFrames(container, stream, fps, limits, video_format, first_frames)


class ReadLimits(TypedDict, total=False):
    """The keyword arguments ``read_video`` passes on to ``iter_video`` (see there)."""

    max_frames: int | None
    max_pixels: int | None
    max_video_pixels: int | None
    max_seconds: float | None
    first_frames: int | None


def read_video(
    source: bytes | str | Path | BinaryIO, video_format: str | None = None, **limits: Unpack[ReadLimits]
) -> tuple[np.ndarray, float]:
    """``iter_video``'s frames gathered: ``(uint8 (T, H, W, 3), fps)``, under the same
    limits and with the same errors."""
    with iter_video(source, video_format, **limits) as frames:
        return np.stack(list(frames)), frames.fps


class VideoFrames:
    """A video file's frames as ``iter_video`` decodes them: uint8 ``(H, W, 3)`` arrays at
    ``fps``, each checked against the limits as it comes. A frame the constant-rate clock
    shows on several ticks is yielded again as the same array (copy before writing into it).

    The file stays open until the frames run out, a limit or a decoding error stops them,
    or ``close()`` (or the end of a ``with`` block) is called; iterating a closed one
    yields nothing, since PyAV must not be asked for frames from a closed container."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        fps: Fraction,
        limits: _Limits,
        video_format: str,
        first_frames: int | None,
    ) -> None:
        #: Frames per second, constant (see the module).
        self.fps = float(fps)
        #: The demuxer that reads the file.
        self.format = video_format
        self._container: av.container.InputContainer | None = container
        self._ticks = _constant_rate(container.decode(stream), fps)
        self._check = _FrameCheck(limits, self.fps)
        self._first_frames = first_frames
        self._shown: av.VideoFrame | None = None
        self._pixels = np.empty(0, np.uint8)

    @property
    def closed(self) -> bool:
        return self._container is None

    def close(self) -> None:
        """Close the file (again: nothing); the frames not yet taken are not decoded."""
        if self._container is not None:
            self._ticks.close()
            self._container.close()
            self._container, self._shown = None, None

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> VideoFrames:
        return self

    def __next__(self) -> np.ndarray:
        if self._container is None:
            raise StopIteration
        try:
            with _readable(self.format):
                pixels = self._next_pixels()
        except BaseException:
            self.close()
            raise
        if pixels is None:
            self.close()
            raise StopIteration
        return pixels

    def _next_pixels(self) -> np.ndarray | None:
        """The next tick's pixels, checked; None at the end (or after ``first_frames``)."""
        if self._first_frames is not None and self._check.count >= self._first_frames:
            return None
        frame = next(self._ticks, None)
        if frame is None:
            if not self._check.count:
                raise InvalidMediaError(f"the {self.format} file's video stream holds no frames")
            return None
        if frame is not self._shown:  # a repeated frame is converted once
            self._shown, self._pixels = frame, _upright_rgb(frame)
        self._check.add(self._pixels)
        return self._pixels


@contextlib.contextmanager
def _readable(video_format: str) -> Iterator[None]:
    """Whatever FFmpeg raises on a file becomes one clear ``InvalidMediaError``."""
    try:
        yield
    except InvalidMediaError:
        raise
    except av.FFmpegError as exc:  # its str() carries an errno and the name '<none>' of a memory file
        raise InvalidMediaError(
            f"not a readable {video_format} video: {exc.strerror or 'FFmpeg cannot decode it'} "
            "(a truncated or corrupt file, or not this format)"
        ) from None
    except Exception as exc:  # FFmpeg reports corrupt input through many types; all mean "not video"
        raise InvalidMediaError(f"not a readable {video_format} video: {exc}") from exc


def to_video_array(
    frames: Iterable[Any] | np.ndarray,
    fps: float | None = None,
    *,
    max_frames: int | None = None,
    max_pixels: int | None = None,
    max_video_pixels: int | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Frames already decoded -> uint8 ``(T, H, W, 3)`` under the same limits and checks as
    ``read_video`` (``max_seconds`` needs ``fps``).

    ``frames``: a uint8 ``(T, H, W, 3)`` array, or any iterable (a generator such as
    PyAV's ``container.decode()`` is consumed only up to the frame that passes a limit) of
    PyAV ``VideoFrame``\\ s (turned upright), PIL images or uint8 ``(H, W[, C])`` arrays
    (grayscale repeated, RGBA composited onto white). They are taken one for one, in order:
    for variable-rate files use ``read_video``, which resamples by presentation time."""
    if fps is not None and not fps > 0:
        raise InvalidMediaError(f"fps must be positive, got {fps}")
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise InvalidMediaError(f"video arrays must be uint8 (T, H, W, 3), got shape {frames.shape}")
    check = _FrameCheck(_Limits(max_frames, max_pixels, max_video_pixels, max_seconds), fps)
    gathered = []
    for frame in frames:
        pixels = _rgb(frame)
        check.add(pixels)
        gathered.append(pixels)
    if not gathered:
        raise InvalidMediaError("no video frames given")
    return np.stack(gathered)


def write_video(frames: Any, fps: float, video_format: str = "mp4") -> bytes:
    """Frames (anything ``to_video_array`` takes) -> the bytes of an mp4 (H.264) or animated
    GIF file at ``fps`` (see the module for the codec, padding and palette)."""
    if video_format not in WRITTEN_FORMATS:
        raise UnsupportedMediaTypeError(
            f"video is written as {' or '.join(WRITTEN_FORMATS)}, not {video_format!r}"
        )
    pixels = to_video_array(frames, fps)
    rate = Fraction(fps).limit_denominator(1001)  # 30000/1001 stays exact
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=video_format) as container:
        if video_format == "gif":
            _encode_gif(container, pixels, rate)
        else:
            _encode_mp4(container, pixels, rate)
    return buffer.getvalue()


def save_video(frames: Any, fps: float, path: str | Path) -> None:
    """``write_video`` into ``path``, in the format its suffix names (``.mp4``, ``.gif``)."""
    Path(path).write_bytes(write_video(frames, fps, _format_of(Path(path))))


def _format_of(source: Any) -> str:
    name = source if isinstance(source, str | Path) else getattr(source, "name", None)
    if not isinstance(name, str | Path):
        raise InvalidMediaError(
            f"name the video format of these bytes: video_format= one of {', '.join(VIDEO_FORMATS)}"
        )
    try:
        return decoder_for_file("video", name)
    except UnsupportedMediaTypeError:
        raise UnsupportedMediaTypeError(
            f"cannot tell the video format of {name} by its suffix: pass video_format= (one of "
            f"{', '.join(VIDEO_FORMATS)})"
        ) from None


def _average_rate(stream: av.video.stream.VideoStream, video_format: str) -> Fraction:
    """FFmpeg's average rate, or the header's frames over its duration where they agree with
    it (see the module): a header that lies about either does not make the rate."""
    estimate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not estimate:
        raise InvalidMediaError(f"the {video_format} file's video stream states no frame rate")
    if stream.frames and stream.duration and stream.time_base:
        stated = Fraction(stream.frames) / (stream.duration * stream.time_base)
        if abs(stated / estimate - 1) <= Fraction(1, 5):
            return stated
    return Fraction(estimate)


def _check_header(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    fps: Fraction,
    limits: _Limits,
    first_frames: int | None,
) -> None:
    """Refuse what the header says is over a limit, before decoding anything. Its frame
    count is the larger of the stated count and the stated duration at FFmpeg's rate."""
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    else:
        seconds = container.duration / av.time_base if container.duration else 0.0
    claimed = max(stream.frames, round(seconds * (stream.average_rate or fps)))
    if first_frames is not None:
        claimed, seconds = min(claimed, first_frames), min(seconds, first_frames / float(fps))
    limits.check(claimed, stream.codec_context.width, stream.codec_context.height, seconds, "header says")


def _constant_rate(frames: Iterable[av.VideoFrame], fps: Fraction) -> Iterator[av.VideoFrame]:
    """The source frame on screen at each tick of a constant ``fps`` clock (the module's
    rule), in order; a frame shown on several ticks is yielded again, the same object."""
    shown: av.VideoFrame | None = None
    start = last = Fraction(0)
    tick = 0
    for frame in frames:
        time = last + 1 / fps if frame.pts is None else frame.pts * frame.time_base
        if shown is None:
            start = time
        else:
            while start + (tick + _HALF) / fps < time:
                yield shown
                tick += 1
        shown, last = frame, time
    if shown is not None:
        while start + (tick + _HALF) / fps < last + 1 / fps:
            yield shown
            tick += 1


@dataclass(frozen=True)
class _Limits:
    """What a video may hold (None: no limit)."""

    max_frames: int | None
    max_pixels: int | None
    max_video_pixels: int | None
    max_seconds: float | None

    def check(self, frames: int, width: int, height: int, seconds: float, says: str = "has") -> None:
        """A ``MediaTooLargeError`` naming the first limit that ``frames`` of ``width`` x
        ``height`` lasting ``seconds`` pass; ``says``: what the numbers come from."""
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise MediaTooLargeError(
                f"video frames of {width}x{height} pixels are over the limit of {self.max_pixels} pixels"
            )
        if self.max_frames is not None and frames > self.max_frames:
            raise MediaTooLargeError(f"the video {says} {frames} frames, over the limit of {self.max_frames}")
        if self.max_video_pixels is not None and frames * width * height > self.max_video_pixels:
            raise MediaTooLargeError(
                f"the video {says} {frames} frames of {width}x{height}, over the limit of "
                f"{self.max_video_pixels} pixels in all frames"
            )
        if self.max_seconds is not None and seconds > self.max_seconds:
            raise MediaTooLargeError(
                f"the video {says} {seconds:g} s, over the limit of {self.max_seconds:g} s"
            )


class _FrameCheck:
    """Frames counted one at a time, refused the moment one passes a limit or changes size,
    so a file that lies in its header costs at most one frame over the limit."""

    def __init__(self, limits: _Limits, fps: float | None) -> None:
        self.limits, self.fps = limits, fps
        self.count = 0
        self._shape: tuple[int, ...] | None = None

    def add(self, pixels: np.ndarray) -> None:
        height, width = pixels.shape[:2]
        if self._shape is not None and pixels.shape != self._shape:
            raise InvalidMediaError(
                f"video frames change size from {self._shape[1]}x{self._shape[0]} to {width}x{height} "
                f"at frame {self.count}; resize them to one size first"
            )
        count = self.count + 1
        self.limits.check(count, width, height, count / self.fps if self.fps else 0.0, "has at least")
        self._shape, self.count = pixels.shape, count


def _rgb(frame: Any) -> np.ndarray:
    """One frame of any accepted kind -> uint8 ``(H, W, 3)``."""
    if isinstance(frame, av.VideoFrame):
        return _upright_rgb(frame)
    if isinstance(frame, Image.Image):
        return np.asarray(pil_to_rgb(frame))
    if not isinstance(frame, np.ndarray):
        raise InvalidMediaError(
            f"cannot read a video frame from a {type(frame).__name__}: pass PyAV frames, PIL images "
            "or uint8 arrays"
        )
    if frame.dtype != np.uint8:
        raise InvalidMediaError(f"video frames must be uint8, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 4):
        return np.asarray(pil_to_rgb(Image.fromarray(frame)))
    raise InvalidMediaError(f"video frames must be (H, W) or (H, W, 1|3|4), got shape {frame.shape}")


def _upright_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as a viewer shows it: RGB, transparency on white, rotated upright."""
    if any(component.is_alpha for component in frame.format.components):
        rgba = frame.to_ndarray(format="rgba").astype(np.uint16)
        alpha = rgba[:, :, 3:]
        pixels = ((rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    else:
        pixels = frame.to_ndarray(format="rgb24")
    # The display matrix turns the frame counter-clockwise by ``rotation`` degrees, as np.rot90 does.
    quarter_turns = round(frame.rotation / 90) % 4
    return np.rot90(pixels, quarter_turns) if quarter_turns else pixels


def _encode_mp4(container: av.container.OutputContainer, pixels: np.ndarray, rate: Fraction) -> None:
    height, width = pixels.shape[1:3]
    pixels = np.pad(pixels, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    options = {"crf": "18"} if MP4_CODEC == "libx264" else {}
    stream = container.add_stream(MP4_CODEC, rate=rate, options=options)
    stream.width, stream.height, stream.pix_fmt = pixels.shape[2], pixels.shape[1], "yuv420p"
    codec = stream.codec_context
    codec.colorspace = codec.color_primaries = codec.color_trc = _BT601
    codec.color_range = _LIMITED_RANGE
    _mux(container, stream, (av.VideoFrame.from_ndarray(frame, format="rgb24") for frame in pixels))


def _encode_gif(container: av.container.OutputContainer, pixels: np.ndarray, rate: Fraction) -> None:
    # One palette from up to 16 frames spread over the clip, so colours do not flicker.
    sample = pixels[np.linspace(0, len(pixels) - 1, min(len(pixels), 16)).round().astype(int)]
    palette = Image.fromarray(sample.reshape(-1, *pixels.shape[2:])).quantize(256)
    rgb = np.zeros((256, 3), np.uint8)
    colours = np.asarray(palette.getpalette(), np.uint8).reshape(-1, 3)[:256]
    rgb[: len(colours)] = colours
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), rgb], axis=1)
    stream = container.add_stream("gif", rate=rate)
    stream.width, stream.height, stream.pix_fmt = pixels.shape[2], pixels.shape[1], "pal8"

    def indexed(frame: np.ndarray) -> av.VideoFrame:
        indices = np.asarray(Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE))
        return av.VideoFrame.from_ndarray((indices, argb), format="pal8")

    _mux(container, stream, (indexed(frame) for frame in pixels))


def _mux(
    container: av.container.OutputContainer,
    stream: av.video.stream.VideoStream,
    frames: Iterable[av.VideoFrame],
) -> None:
    for index, frame in enumerate(frames):
        frame.pts = index  # in the stream's time base of 1 / fps
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
