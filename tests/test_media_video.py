"""Video files in and out (``media/video.py``, and ``media/files.py`` for video): every
container, frames read one at a time (``iter_video``), the frame rate and rotation a viewer
sees, and bad or oversized input refused with a clear error, before decoding where the
header says enough.

Every clip is written here with PyAV (or Pillow, for a GIF from another writer): 9 frames
of 32 x 24 colour bars with a white bar moving 2 pixels a frame.
"""

from __future__ import annotations

import io
import itertools
import os
import struct
from fractions import Fraction
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from tokenizers_zoo.errors import (
    InvalidMediaError,
    MalformedBodyError,
    MediaTooLargeError,
    UnsupportedMediaTypeError,
)
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.media import video
from tokenizers_zoo.media.files import (
    DEFAULT_FPS,
    NO_LIMITS,
    media_arrays,
    output_type,
    read_media,
    render_media,
)
from tokenizers_zoo.media.video import iter_video, read_video, save_video, to_video_array, write_video
from tokenizers_zoo.tokenizer import Tokenizer

FRAMES, HEIGHT, WIDTH = 9, 24, 32


def bars(frames: int = FRAMES, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Colour bars on even rows and columns (exact through 4:2:0 chroma) and a moving bar."""
    clip = np.zeros((frames, height, width, 3), np.uint8)
    clip[:, :, : width // 2] = (230, 20, 20)
    clip[:, : height // 2] = (10, 200, 30)
    for t in range(frames):
        clip[t, :, 2 * t % width : 2 * t % width + 2] = 255
    return clip


def encode(
    container_format: str,
    codec: str,
    frames: np.ndarray,
    *,
    pix_fmt: str = "yuv420p",
    rotation: float | None = None,
    pts_ms: list[int] | None = None,
    output: Any = None,
) -> bytes:
    """``frames`` at 10 fps written with PyAV, or at ``pts_ms`` presentation times."""
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    buffer = io.BytesIO() if output is None else output
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[index], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return b"" if output is not None else buffer.getvalue()


def audio_only(container_format: str) -> bytes:
    """A quarter second of AAC silence: what a voice memo saved as .m4a or .mkv holds."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def pillow_gif(frames: np.ndarray, duration_ms: int = 100) -> bytes:
    buffer = io.BytesIO()
    images = [Image.fromarray(f) for f in frames]
    images[0].save(
        buffer, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0
    )
    return buffer.getvalue()


# -- every container ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container_format", "codec", "pix_fmt"),
    [
        ("mp4", "libx264", "yuv420p"),
        ("mov", "libx264", "yuv420p"),
        ("webm", "libvpx", "yuv420p"),  # VP8
        ("webm", "libvpx-vp9", "yuv420p"),
        ("matroska", "libx264", "yuv420p"),
        ("avi", "mjpeg", "yuvj420p"),  # Motion JPEG, as cameras write AVI
    ],
)
def test_every_container_reads_back_every_frame(container_format: str, codec: str, pix_fmt: str) -> None:
    clip = bars()
    frames, fps = read_video(encode(container_format, codec, clip, pix_fmt=pix_fmt), container_format)
    assert frames.shape == clip.shape and frames.dtype == np.uint8 and fps == 10
    assert psnr(frames, clip) > 25  # lossy codecs on a tiny clip


def test_an_animated_gif_from_pillow_reads_back_exactly(tmp_path) -> None:  # noqa: ANN001
    clip = bars()
    (tmp_path / "clip.gif").write_bytes(pillow_gif(clip))
    frames, fps = read_video(tmp_path / "clip.gif")  # the format from the suffix
    assert frames.shape == clip.shape and fps == 10
    assert np.array_equal(frames, clip)  # four colours: the palette holds them exactly


def test_paths_and_file_objects_read_as_bytes_do(tmp_path) -> None:  # noqa: ANN001
    data = encode("matroska", "libx264", bars())
    (tmp_path / "clip.mkv").write_bytes(data)
    from_bytes, _ = read_video(data, "matroska")
    assert np.array_equal(read_video(tmp_path / "clip.mkv")[0], from_bytes)
    assert np.array_equal(read_video(str(tmp_path / "clip.mkv"))[0], from_bytes)
    with open(tmp_path / "clip.mkv", "rb") as f:
        assert np.array_equal(read_video(f)[0], from_bytes)  # the format from its name
    with pytest.raises(InvalidMediaError, match="name the video format"):
        read_video(data)
    (tmp_path / "clip.bin").write_bytes(data)
    with pytest.raises(UnsupportedMediaTypeError, match=r"suffix: pass video_format="):
        read_video(tmp_path / "clip.bin")
    with pytest.raises(InvalidMediaError, match="no such file"):
        read_video(tmp_path / "missing.mp4")


# -- writing -------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [10.0, 30.0, 30000 / 1001])
def test_mp4_and_gif_are_written_at_the_source_fps(fps: float, tmp_path) -> None:  # noqa: ANN001
    clip = bars()
    mp4 = write_video(clip, fps)
    assert mp4[4:8] == b"ftyp"
    frames, rate = read_video(mp4, "mp4")
    assert frames.shape == clip.shape and rate == pytest.approx(fps, abs=1e-9) and psnr(frames, clip) > 25
    with av.open(io.BytesIO(mp4), format="mp4") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == ("h264" if video.MP4_CODEC == "libx264" else "mpeg4")
        assert stream.codec_context.pix_fmt == "yuv420p"
    gif = write_video(clip, fps, "gif")
    assert gif.startswith(b"GIF89a")
    frames, rate = read_video(gif, "gif")
    assert frames.shape == clip.shape and np.array_equal(frames, clip)
    # GIF delays are whole hundredths: 30 fps is 3, 4, 3 ... and reads back as 30.
    assert rate == pytest.approx(fps if fps in (10.0, 30.0) else 30.0)
    save_video(clip, fps, tmp_path / "out.gif")
    assert (tmp_path / "out.gif").read_bytes() == gif


def test_odd_sides_are_padded_by_repeating_the_edge_for_yuv420p() -> None:
    clip = bars()[:, :23, :31]
    frames, _ = read_video(write_video(clip, 10), "mp4")
    assert frames.shape == (FRAMES, 24, 32, 3)
    assert psnr(frames[:, :23, :31], clip) > 25
    assert psnr(frames[:, 23, :31], clip[:, 22]) > 25 and psnr(frames[:, :23, 31], clip[:, :, 30]) > 25
    assert read_video(write_video(clip, 10, "gif"), "gif")[0].shape == clip.shape  # GIF takes any size


def test_mp4_falls_back_to_mpeg4_without_libx264(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "MP4_CODEC", "mpeg4")
    mp4 = write_video(bars(), 10)
    with av.open(io.BytesIO(mp4), format="mp4") as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    assert psnr(read_video(mp4, "mp4")[0], bars()) > 25


def test_written_formats_and_fps_are_checked() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="mp4 or gif, not 'webm'"):
        write_video(bars(), 10, "webm")
    with pytest.raises(InvalidMediaError, match="fps must be positive"):
        write_video(bars(), 0)


# -- what a viewer sees: rotation and variable frame rate ---------------------------------


@pytest.mark.parametrize(("rotation", "corner"), [(90, (-1, 0)), (-90, (0, -1)), (180, (-1, -1))])
def test_rotation_metadata_turns_frames_upright(rotation: int, corner: tuple[int, int]) -> None:
    """FFmpeg's display rotation turns the picture counter-clockwise by its angle before it
    is shown (``-display_rotation``), so the top-left corner goes to the bottom-left at 90
    degrees, the top-right at -90 and the bottom-right at 180."""
    clip = np.full((3, HEIGHT, WIDTH, 3), 128, np.uint8)
    clip[:, :8, :8] = (255, 0, 0)  # a red top-left corner
    frames, _ = read_video(encode("mp4", "libx264", clip, rotation=rotation), "mp4")
    turned = (WIDTH, HEIGHT) if rotation % 180 else (HEIGHT, WIDTH)
    assert frames.shape == (3, *turned, 3)
    row, column = corner
    assert frames[0, row, column, 0] > 200 and frames[0, row, column, 1] < 60  # red
    assert frames[0, turned[0] // 2, turned[1] // 2, 0] < 160  # grey elsewhere


def test_variable_frame_rate_is_resampled_to_the_average_by_presentation_time() -> None:
    pts_ms = [0, 100, 150, 200, 400, 500, 600, 650, 900]  # source frame k is grey 20 * (k + 1)
    levels = np.repeat(20 * (np.arange(FRAMES) + 1), HEIGHT * WIDTH * 3).astype(np.uint8)
    clip = levels.reshape(FRAMES, HEIGHT, WIDTH, 3)
    frames, fps = read_video(encode("matroska", "libx264", clip, pts_ms=pts_ms), "matroska")
    assert fps == 10
    # Each tick j / 10 s shows the last frame presented by half a period after it; the last
    # frame (at 0.9 s) lasts one period, so ticks run to 0.9 s: 10 frames.
    expected = [max(k for k, t in enumerate(pts_ms) if t <= 100 * j + 50) for j in range(10)]
    assert expected == [0, 2, 3, 3, 4, 5, 7, 7, 7, 8]
    shown = np.round(frames.mean(axis=(1, 2, 3)) / 20).astype(int) - 1
    assert shown.tolist() == expected


def test_gif_transparency_is_composited_onto_white() -> None:
    first = Image.new("P", (WIDTH, HEIGHT), 1)
    first.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    first.paste(0, (0, 0, 8, 8))  # index 0 is transparent
    second = first.copy()
    buffer = io.BytesIO()
    first.save(buffer, "GIF", save_all=True, append_images=[second], transparency=0, duration=100, disposal=2)
    frames, _ = read_video(buffer.getvalue(), "gif")
    assert frames[0, 0, 0].tolist() == [255, 255, 255] and frames[0, -1, -1].tolist() == [200, 30, 30]


# -- bad and oversized input ---------------------------------------------------------------


def _one_line_error(error: type[Exception], data: bytes, container_format: str, **limits: Any) -> str:
    with pytest.raises(error) as caught:
        read_video(data, container_format, **limits)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message and "<none>" not in message
    return message


def test_a_truncated_mp4_is_refused_clearly() -> None:
    data = encode("mp4", "libx264", bars())
    message = _one_line_error(InvalidMediaError, data[: len(data) // 2], "mp4")
    assert message.startswith("not a readable mp4 video") and "truncated or corrupt" in message


def test_garbage_bytes_and_the_wrong_format_are_refused_clearly() -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    assert "not a readable mp4 video" in _one_line_error(InvalidMediaError, garbage, "mp4")
    mp4 = encode("mp4", "libx264", bars())
    assert "not a readable gif video" in _one_line_error(InvalidMediaError, mp4, "gif")
    with pytest.raises(InvalidMediaError, match="video format must be one of"):
        read_video(mp4, "concat")


@pytest.mark.parametrize("container_format", ["mp4", "matroska"])
def test_a_file_with_only_audio_is_refused_clearly(container_format: str) -> None:
    message = _one_line_error(InvalidMediaError, audio_only(container_format), container_format)
    assert message == f"the {container_format} file has no video stream (it holds audio)"


def test_a_video_stream_with_zero_frames_is_refused_clearly() -> None:
    """A Matroska file whose video track is declared but holds no frame (beside audio)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        picture = container.add_stream("libx264", rate=10)
        picture.width, picture.height, picture.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(sound.encode(frame))
        container.mux(sound.encode())
        container.mux(picture.encode())
    message = _one_line_error(InvalidMediaError, buffer.getvalue(), "matroska")
    assert message == "the matroska file's video stream holds no frames"
    with pytest.raises(InvalidMediaError, match="no video frames given"):
        to_video_array([])


def _claiming_100000_frames() -> bytes:
    """A 9-frame AVI whose stream header (``strh`` dwLength) says 100,000 frames, with every
    frame's data zeroed: decoding any of it could only fail, so a MediaTooLargeError shows
    the refusal came from the header."""
    data = bytearray(encode("avi", "mjpeg", bars(), pix_fmt="yuvj420p"))
    header = data.index(b"strh")
    data[header + 40 : header + 44] = struct.pack("<I", 100_000)  # after size, type, handler ... start
    movi = data.index(b"movi")
    index = data.index(b"idx1")
    position = movi + 4
    while position + 8 <= index:  # each chunk: id, size, data (padded to even)
        size = struct.unpack("<I", data[position + 4 : position + 8])[0]
        data[position + 8 : position + 8 + size] = bytes(size)
        position += 8 + size + size % 2
    return bytes(data)


def test_a_header_claiming_100000_frames_is_refused_before_decoding() -> None:
    data = _claiming_100000_frames()
    with av.open(io.BytesIO(data), format="avi") as container:
        assert container.streams.video[0].frames == 100_000
    message = _one_line_error(MediaTooLargeError, data, "avi", max_frames=1800)
    assert message == "the video header says 100000 frames, over the limit of 1800"
    with pytest.raises(InvalidMediaError) as caught:  # the frames really are undecodable
        read_video(data, "avi")
    assert not isinstance(caught.value, MediaTooLargeError)


class _Unseekable(io.RawIOBase):
    """A sink that cannot seek back, as a pipe is."""

    def __init__(self, sink: io.BytesIO) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return self.sink.write(b)


def _without_duration() -> bytes:
    """A WebM written where it cannot seek back (as a browser's MediaRecorder writes one):
    its header states neither its duration nor its frame count."""
    sink = io.BytesIO()
    encode("webm", "libvpx", bars(), output=_Unseekable(sink))
    return sink.getvalue()


def test_a_header_that_says_nothing_is_stopped_while_decoding() -> None:
    data = _without_duration()
    with av.open(io.BytesIO(data), format="webm") as container:
        assert container.duration is None and container.streams.video[0].frames == 0
    assert read_video(data, "webm")[0].shape == bars().shape
    message = _one_line_error(MediaTooLargeError, data, "webm", max_frames=5)
    assert message == "the video has at least 6 frames, over the limit of 5"
    message = _one_line_error(MediaTooLargeError, data, "webm", max_seconds=0.5)
    assert message == "the video has at least 0.6 s, over the limit of 0.5 s"


def test_the_pixel_frame_and_duration_limits_read_the_header() -> None:
    data = encode("mp4", "libx264", bars())
    message = _one_line_error(MediaTooLargeError, data, "mp4", max_pixels=32 * 23)
    assert message == "video frames of 32x24 pixels are over the limit of 736 pixels"
    message = _one_line_error(MediaTooLargeError, data, "mp4", max_video_pixels=8 * 32 * 24)
    assert message == "the video header says 9 frames of 32x24, over the limit of 6144 pixels in all frames"
    assert "header says 0.9 s, over the limit of 0.5 s" in _one_line_error(
        MediaTooLargeError, data, "mp4", max_seconds=0.5
    )
    assert read_video(data, "mp4", max_frames=9, max_pixels=32 * 24, max_seconds=0.9)[0].shape[0] == 9
    # first_frames takes the start of a clip over the limits, and is not itself an error
    assert read_video(data, "mp4", first_frames=3, max_frames=5)[0].shape == (3, HEIGHT, WIDTH, 3)


# -- frames one at a time ------------------------------------------------------------------


def _open_descriptors(path: Any) -> list[str]:
    """This process's file descriptors open on ``path``."""
    target = os.path.realpath(path)
    return [fd for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == target]


def test_iter_video_yields_read_videos_frames_one_at_a_time_and_closes_the_file(tmp_path) -> None:  # noqa: ANN001
    pts_ms = [0, 100, 150, 200, 400, 500, 600, 650, 900]  # variable rate: repeated and dropped frames
    path = tmp_path / "clip.mkv"
    path.write_bytes(encode("matroska", "libx264", bars(), pts_ms=pts_ms))
    expected, fps = read_video(path)
    frames = iter_video(path)
    assert frames.fps == fps == 10 and not frames.closed and _open_descriptors(path)
    first = next(frames)
    assert first.dtype == np.uint8 and first.shape == (HEIGHT, WIDTH, 3)
    rest = list(frames)
    assert np.array_equal(np.stack([first, *rest]), expected) and len(expected) == 10
    assert frames.closed and not _open_descriptors(path)  # closed by running out
    assert list(frames) == []
    with iter_video(path) as early:
        next(early)
    assert early.closed and not _open_descriptors(path) and list(early) == []
    taken = iter_video(path, first_frames=3, max_frames=5)
    assert len(list(taken)) == 3 and taken.closed


def test_iter_video_checks_the_header_when_called_and_each_frame_as_it_comes() -> None:
    with pytest.raises(MediaTooLargeError, match="header says 9 frames, over the limit of 8"):
        iter_video(encode("mp4", "libx264", bars()), "mp4", max_frames=8)  # nothing iterated yet
    frames = iter_video(_without_duration(), "webm", max_frames=5)  # a header that says nothing
    assert [f.shape for f in itertools.islice(frames, 5)] == [(HEIGHT, WIDTH, 3)] * 5
    with pytest.raises(MediaTooLargeError, match="at least 6 frames, over the limit of 5"):
        next(frames)
    assert frames.closed


def test_iter_video_refuses_bad_files_with_invalid_media_errors() -> None:
    mp4 = encode("mp4", "libx264", bars())
    with pytest.raises(InvalidMediaError, match="not a readable mp4 video.*truncated or corrupt"):
        iter_video(mp4[: len(mp4) // 2], "mp4")
    with pytest.raises(InvalidMediaError, match="no video stream"):
        iter_video(audio_only("mp4"), "mp4")
    frames = iter_video(_claiming_100000_frames(), "avi")  # a sound header, undecodable frames
    with pytest.raises(InvalidMediaError, match="not a readable avi video") as caught:
        list(frames)
    assert not isinstance(caught.value, MediaTooLargeError) and frames.closed


# -- frames already decoded ----------------------------------------------------------------


def test_decoded_frames_pil_images_and_arrays_go_through_the_same_checks() -> None:
    clip = bars()
    with av.open(io.BytesIO(encode("mp4", "libx264", clip, rotation=90)), format="mp4") as container:
        decoded = to_video_array(container.decode(video=0))
    assert decoded.shape == (FRAMES, WIDTH, HEIGHT, 3)  # upright, as read_video turns them
    images = [Image.fromarray(f) for f in clip]
    images[0] = images[0].convert("RGBA")
    assert np.array_equal(to_video_array(images), clip)
    assert np.array_equal(to_video_array(clip), clip)
    gray = to_video_array([clip[0, :, :, 0], clip[1, :, :, :1]])
    assert np.array_equal(gray[0], np.repeat(clip[0, :, :, :1], 3, axis=2))
    with pytest.raises(InvalidMediaError, match="change size from 32x24 to 16x24 at frame 1"):
        to_video_array([clip[0], clip[1, :, :16]])
    with pytest.raises(InvalidMediaError, match="must be uint8, got float32"):
        to_video_array(clip.astype(np.float32))
    with pytest.raises(InvalidMediaError, match=r"\(T, H, W, 3\), got shape \(24, 32, 3\)"):
        to_video_array(clip[0])
    with pytest.raises(InvalidMediaError, match="from a str"):
        to_video_array(["frame.png"])
    with pytest.raises(MediaTooLargeError, match="over the limit of 2 s"):
        to_video_array(clip, fps=4, max_seconds=2)


def test_a_generator_of_frames_is_consumed_only_up_to_the_limit() -> None:
    taken = []

    def endless() -> Any:
        while True:
            taken.append(1)
            yield np.zeros((HEIGHT, WIDTH, 3), np.uint8)

    with pytest.raises(MediaTooLargeError, match="at least 6 frames, over the limit of 5"):
        to_video_array(endless(), max_frames=5)
    assert len(taken) == 6


# -- media files: what tzoo encode/decode and the service call -------------------------------


def test_read_media_gives_video_frames_with_their_fps() -> None:
    clip = bars()
    media = read_media("video", "Video/MP4", encode("mp4", "libx264", clip), NO_LIMITS, None)
    assert media.array.shape == clip.shape and media.fps == 10 and media.sample_rate is None
    gif = read_media("video", "image/gif", pillow_gif(clip), NO_LIMITS, None)
    assert np.array_equal(gif.array, clip) and gif.fps == 10
    raw = io.BytesIO()
    np.save(raw, clip)
    frames = read_media("video", "application/x-npy", raw.getvalue(), NO_LIMITS, None)
    assert np.array_equal(frames.array, clip) and frames.fps is None


def test_read_media_refuses_video_over_the_limits_and_of_another_type() -> None:
    from dataclasses import replace

    mp4 = encode("mp4", "libx264", bars())
    with pytest.raises(MediaTooLargeError, match="header says 9 frames, over the limit of 8"):
        read_media("video", "video/mp4", mp4, replace(NO_LIMITS, max_frames=8), None)
    with pytest.raises(MediaTooLargeError, match="over the limit of 700 pixels"):
        read_media("video", "video/mp4", mp4, replace(NO_LIMITS, max_pixels=700), None)
    with pytest.raises(MediaTooLargeError, match="0.9 s, over the limit of 0.5 s"):
        read_media("video", "video/mp4", mp4, replace(NO_LIMITS, max_video_seconds=0.5), None)
    raw = io.BytesIO()
    np.save(raw, bars())
    with pytest.raises(MediaTooLargeError, match="at least 9 frames, over the limit of 8"):
        read_media("video", "application/x-npy", raw.getvalue(), replace(NO_LIMITS, max_frames=8), None)
    with pytest.raises(MalformedBodyError, match="not a readable webm video"):  # the type picks the demuxer
        read_media("video", "video/webm", mp4, NO_LIMITS, None)
    with pytest.raises(MalformedBodyError, match="no video stream"):
        read_media("video", "video/mp4", audio_only("mp4"), NO_LIMITS, None)


def test_decoded_video_is_written_as_mp4_by_default_or_gif() -> None:
    import torch

    batch = torch.from_numpy(bars()).permute(3, 0, 1, 2)[None].float() / 127.5 - 1  # (1, 3, T, H, W)
    (item,) = media_arrays("video", batch)
    assert np.array_equal(item, bars())
    assert output_type("video", "out.mp4") == "video/mp4" and output_type("video", "out.gif") == "image/gif"
    with pytest.raises(UnsupportedMediaTypeError, match="video/mp4, image/gif"):
        output_type("video", "out.webm")
    mp4 = render_media("video", item, "video/mp4", None, fps=25.0)
    assert read_video(mp4, "mp4")[1] == 25
    assert np.array_equal(
        read_video(render_media("video", item, "image/gif", None, fps=10.0), "gif")[0], item
    )
    # tokens made from a tensor say no rate: written at DEFAULT_FPS
    assert read_video(render_media("video", item, "video/mp4", None), "mp4")[1] == DEFAULT_FPS


# -- the service's limits ------------------------------------------------------------------


class _VideoStub(Tokenizer):
    """Stands in for a video tokenizer so the encode route reads video; a request over the
    limits never reaches it."""

    def __init__(self, name: str) -> None:
        super().__init__(None, name)

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(self.name, "video", "discrete", vocab_size=(2,))

    def prepare(self, media: Any, sample_rate: int | None) -> Any:
        raise AssertionError("a video over the limits reached the tokenizer")

    encode_tensor = decode_tensor = prepare  # type: ignore[assignment]


def test_the_service_answers_413_for_video_over_its_limits_before_decoding_in_full() -> None:
    from service_helpers import assert_problem, image_name, running

    from tokenizers_zoo.service.app import create_app
    from tokenizers_zoo.service.settings import ServiceSettings, SettingsError

    env = {"TZOO_MAX_FRAMES": "5", "TZOO_MAX_VIDEO_SECONDS": "60", "TZOO_MAX_VIDEO_PIXELS": "100000"}
    name = image_name()  # a registered name, served by the stub
    settings = ServiceSettings.from_env(env, tokenizers=(name,))
    assert (settings.max_frames, settings.max_video_seconds, settings.max_video_pixels) == (5, 60.0, 100_000)
    assert ServiceSettings.from_env(settings.to_env()) == settings
    with pytest.raises(SettingsError, match="max_frames must be >= 1"):
        ServiceSettings(max_frames=0)
    path = f"/v1/tokenizers/{name}/encode"
    with running(create_app(settings, loader=lambda n, *_: _VideoStub(n)), ready=True) as server:
        answer = httpx.post(
            server.url + path, content=_claiming_100000_frames(), headers={"content-type": "video/x-msvideo"}
        )
        assert (
            "header says 100000 frames, over the limit of 5"
            in assert_problem(answer, 413, "too-large")["detail"]
        )
        answer = httpx.post(
            server.url + path, content=_without_duration(), headers={"content-type": "video/webm"}
        )
        assert "at least 6 frames, over the limit of 5" in assert_problem(answer, 413, "too-large")["detail"]


def test_the_reconstruction_benchmark_reads_video_through_read_video(tmp_path) -> None:  # noqa: ANN001
    from tokenizers_zoo.benchmarks.recon_data import Sample, load_video

    (tmp_path / "portrait.mp4").write_bytes(encode("mp4", "libx264", bars(), rotation=90))
    clip = load_video(Sample("portrait.mp4", tmp_path / "portrait.mp4"), 0, max_frames=4)
    assert tuple(clip.shape) == (4, 3, WIDTH, HEIGHT)  # the first 4 frames, upright
    (tmp_path / "broken.mp4").write_bytes(b"\0" * 64)
    with pytest.raises(InvalidMediaError, match=r"broken\.mp4: not a readable mp4 video"):
        load_video(Sample("broken.mp4", tmp_path / "broken.mp4"), 16, max_frames=4)
