"""``tzoo encode`` and ``tzoo decode``: media files <-> token files on this machine, through
the same media readers, limits and token codec as the service.

Limits on a local file (a person chose it, so fewer than the service's): its size
(``--max-bytes``) and the pixels of an image or of each video frame (``--max-pixels``),
checked before decoding, and audio's length (``--max-audio-seconds``), where decoding
stops. Video has no frame or duration limit: a tokenizer with ``encode_stream`` (the
causal video tokenizer) takes the frames straight from the file, window by window, so its
memory follows the window, not the clip; other video tokenizers read the whole clip first.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenizers_zoo.cli.common import check_input, output_path, read_input
from tokenizers_zoo.service.settings import ServiceSettings

if TYPE_CHECKING:
    from tokenizers_zoo.tokenizer import Tokenizer
    from tokenizers_zoo.tokens import Tokens

#: The service's own defaults: a file the service would refuse is refused here too, before
#: it is read.
MAX_BYTES = ServiceSettings.max_body_bytes
MAX_PIXELS = ServiceSettings.max_pixels


def encode_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What local and client ``encode`` share."""
    p.add_argument("name")
    p.add_argument(
        "file",
        help="image (png, jpeg, webp, gif, bmp, tiff), audio (wav, flac, ogg, mp3, g722), "
        "video (mp4, mov, webm, mkv, avi, gif) or .npy",
    )
    p.add_argument("-o", "--output", required=True, help="OUT.npy (+ OUT.json metadata) or OUT.json")
    p.add_argument("--sample-rate", type=int, help="rate of raw samples in a .npy file")
    p.add_argument("--bandwidth", type=float, help="audio codecs: bitrate in kbps (default: the codec's)")
    return p


def decode_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What local and client ``decode`` share."""
    p.add_argument("name")
    p.add_argument("tokens", help="IN.npy (with IN.json beside it, if encode wrote one) or IN.json")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="OUT.png / .jpg / .webp / .wav / .npy (a batch of N: OUT_0.png ... OUT_{N-1}.png)",
    )
    return p


def add_commands(sub: Any) -> None:
    p = encode_arguments(
        sub.add_parser(
            "encode",
            help="encode a media file locally (no server)",
            description="Encode a media file locally. Limits: --max-bytes on the file, --max-pixels "
            "on an image or each video frame, --max-audio-seconds; no frame or duration limit on "
            "video, which a causal video tokenizer reads from the file window by window.",
        )
    )
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.add_argument(
        "--max-audio-seconds",
        type=float,
        default=3600.0,
        help="refuse longer audio (default 3600; 0: no limit)",
    )
    p.add_argument(
        "--max-bytes", type=int, default=MAX_BYTES, help=f"refuse larger files (default {MAX_BYTES})"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        help=f"refuse larger images and video frames (default {MAX_PIXELS})",
    )
    p.set_defaults(func=encode_command)
    p = decode_arguments(sub.add_parser("decode", help="decode a tokens file locally (no server)"))
    p.add_argument("--weights", help="checkpoint directory or .safetensors file")
    p.set_defaults(func=decode_command)


def encode_options(args: argparse.Namespace) -> dict[str, Any]:
    """The tokenizer options the command line gave (only those given)."""
    return {} if args.bandwidth is None else {"bandwidth": args.bandwidth}


def read_media_file(
    path: str, tokenizer: str, modality: str, max_bytes: int, limits: Any, sample_rate: int | None = None
) -> Any:
    """A local media file as the tokenizer named takes it (``media.files.Media``), read by
    the decoder its name's type chooses; errors name the file."""
    from tokenizers_zoo.errors import TokenizersZooError, UnsupportedMediaTypeError
    from tokenizers_zoo.formats import accepted_types, guess_media_type, suffixes
    from tokenizers_zoo.media.files import read_media

    body = read_input(path, max_bytes)
    kind = guess_media_type(path)
    if kind not in accepted_types(modality):
        what = f"is {kind}" if kind else "has a name of no media type tzoo knows"
        raise UnsupportedMediaTypeError(
            f"{path} {what}; {tokenizer} encodes {modality} files "
            f"({', '.join(sorted(suffixes(modality)))}) or .npy arrays"
        )
    try:
        return read_media(modality, kind, body, limits, sample_rate)
    except TokenizersZooError as exc:  # name the file: the readers only see bytes
        raise type(exc)(f"{path}: {exc}") from None


def encode_command(args: argparse.Namespace) -> int:
    import math
    from dataclasses import replace

    import tokenizers_zoo as tz
    from tokenizers_zoo.formats import NPY, accepted_types, guess_media_type
    from tokenizers_zoo.media.files import NO_LIMITS
    from tokenizers_zoo.wire import save_tokens

    out = output_path(args.output)
    tok = tz.load(args.name, weights=args.weights)
    modality, kind = tok.info.modality, guess_media_type(args.file)
    options = encode_options(args)
    streams = modality == "video" and kind in accepted_types(modality) and kind != NPY
    if streams and hasattr(tok, "encode_stream"):
        check_input(args.file, args.max_bytes)
        tokens = _encode_streamed(tok, args.file, kind, args.max_pixels, options)
    else:
        # A small compressed file can hold hours of audio: decoding stops at the limit.
        limits = replace(
            NO_LIMITS, max_pixels=args.max_pixels, max_audio_seconds=args.max_audio_seconds or math.inf
        )
        media = read_media_file(args.file, tok.name, modality, args.max_bytes, limits, args.sample_rate)
        if media.fps is not None:  # a video file's own rate, kept for decoding
            options.setdefault("fps", media.fps)
        tokens = tok.encode(media.array, sample_rate=media.sample_rate, **options)
    written = save_tokens(out, tokens.to_encoded())
    print(f"{args.file} -> {tokens.kind} tokens {tokens.shape} -> {', '.join(map(str, written))}")
    return 0


def _encode_streamed(
    tok: Tokenizer, path: str, kind: str, max_pixels: int, options: dict[str, Any]
) -> Tokens:
    """A video file's frames straight into ``tok.encode_stream`` as the file yields them, so
    the clip is never in memory whole; the tokens equal ``encode`` of the whole clip."""
    from tokenizers_zoo.errors import TokenizersZooError
    from tokenizers_zoo.formats import decoder_name
    from tokenizers_zoo.media.video import iter_video

    try:
        with iter_video(path, decoder_name("video", kind), max_pixels=max_pixels) as frames:
            return tok.encode_stream(frames, **{"fps": frames.fps, **options})
    except TokenizersZooError as exc:  # name the file, as read_media's errors are
        raise type(exc)(f"{path}: {exc}") from None


def item_paths(path: Path, count: int) -> list[Path]:
    """``out.png`` for one item, ``out_0.png`` ... for a batch."""
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(count)]


def decode_command(args: argparse.Namespace) -> int:
    import tokenizers_zoo as tz
    from tokenizers_zoo.media.files import media_arrays, output_type, render_media
    from tokenizers_zoo.wire import load_tokens

    out = output_path(args.output)
    tok = tz.load(args.name, weights=args.weights)
    modality = tok.info.modality
    kind = output_type(modality, out)
    tokens = tok.tokens_from(load_tokens(args.tokens, tok.name))
    items = media_arrays(modality, tok.decode(tokens))
    paths = item_paths(out, len(items))
    for path, media in zip(paths, items, strict=True):
        path.write_bytes(render_media(modality, media, kind, tokens.sample_rate, tokens.extras.get("fps")))
    print(f"{args.tokens} -> {kind} {', '.join(map(str, paths))}")
    return 0
