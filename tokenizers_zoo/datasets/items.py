"""The work of one batch, the same for every engine: files -> decoded media -> tokens.

``decode_item`` reads one file (limits checked before it is decoded in full) and brings
it to the shape batches share; ``encode_batch`` tokenizes a batch, grouping items of one
shape. Whatever goes wrong with one file becomes a ``Failure`` (its kind and reason),
never an exception that stops the run.

Image policy: with ``size`` > 0 (the default 256) each image is resized so its shorter
side is ``size`` (bicubic, antialiased) and centre-cropped to ``size x size``, so a
batch is one tensor; with ``size`` 0 images keep their size and only images of one size
are encoded together. Video: every frame as an image (``size``), all frames kept (up to
``Limits.max_frames``) at the file's constant rate, which the item's tokens record
(``extras["fps"]``); clips of one length, size and rate are encoded together. Audio keeps
its length: clips of one length (and rate) are encoded together, others one by one.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tokenizers_zoo.errors import MediaTooLargeError, TokenizersZooError, UnsupportedMediaTypeError
from tokenizers_zoo.formats import FORMATS, decoder_for_file, suffixes
from tokenizers_zoo.media.audio import read_audio
from tokenizers_zoo.media.image import read_image
from tokenizers_zoo.media.video import read_video

#: Kinds of failure, as ``errors.jsonl`` names them.
UNREADABLE, CORRUPT, TOO_LARGE, WRONG_MODALITY, UNLABELLED, ENCODE_FAILED = (
    "unreadable",
    "corrupt",
    "too-large",
    "wrong-modality",
    "unlabelled",
    "encode-failed",
)


class DatasetInputError(TokenizersZooError, ValueError):
    """An input folder, list, label or caption file that cannot be used as given."""


@dataclass(frozen=True)
class Limits:
    """What one input file may be; over a limit the file fails as ``too-large``."""

    max_bytes: int = 512 * 2**20
    max_pixels: int = 100_000_000  # of an image, or of each video frame
    max_seconds: float = 3600.0  # of audio or video
    max_frames: int = 1000  # of a video: its frames are held in memory together


@dataclass(frozen=True)
class Item:
    """One input: its ``source`` (as the dataset records it: relative to the input folder,
    or as the list wrote it) and the file to read."""

    source: str
    path: str
    label: int = -1
    caption: str = ""
    #: why the item cannot be used before it is read (no label for it), or ""
    problem: str = ""


@dataclass
class Decoded:
    """A file's media, ready for the tokenizer: uint8 ``(H, W, 3)`` pixels, uint8
    ``(T, H, W, 3)`` frames at ``fps`` or float32 ``(C, T)`` samples at ``sample_rate``."""

    item: Item
    array: np.ndarray
    sample_rate: int | None = None
    duration: float = math.nan
    fps: float | None = None


@dataclass
class Failure:
    item: Item
    kind: str
    reason: str

    def to_json(self) -> str:
        return json.dumps({"path": self.item.source, "kind": self.kind, "reason": self.reason})


@dataclass
class Encoded:
    """One item's tokens, without the batch axis, as stored (ids uint32, latents float)."""

    item: Item
    data: np.ndarray
    original_size: tuple[int, ...]
    sample_rate: int | None
    duration: float
    extras: dict[str, Any] = field(default_factory=dict)


# -- inputs --------------------------------------------------------------------------------
def list_inputs(source: str | Path, modality: str) -> tuple[str, list[tuple[str, str]]]:
    """``(root, [(source, path), ...])`` sorted by source: every file under a folder with a
    media suffix (another modality's files are kept, to be reported as wrong-modality), or
    the lines of a list file (relative paths are relative to the list's folder)."""
    root = Path(source)
    if root.is_dir():
        media = {s for f in FORMATS for s in f.suffixes} | suffixes(modality)
        found = [
            (p.relative_to(root).as_posix(), str(p))
            for p in root.rglob("*")
            if p.suffix.lower() in media and not p.is_dir()
        ]
        return str(root.resolve()), sorted(found)
    if not root.is_file():
        raise DatasetInputError(f"--input {source}: no such folder or list file")
    try:
        lines = root.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetInputError(f"cannot read the list {source}: {exc}") from exc
    entries = {}
    for line in lines:
        name = line.strip()
        if name and not name.startswith("#"):
            entries[name] = name if os.path.isabs(name) else str(root.parent / name)
    return str(root.resolve()), sorted(entries.items())


def read_mapping(path: str | Path, what: str) -> dict[str, str]:
    """A ``{source: value}`` file: a JSON object, or lines ``source<TAB>value``."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetInputError(f"cannot read the {what} file {path}: {exc}") from exc
    if str(path).endswith(".json"):
        try:
            mapping = json.loads(text)
        except ValueError as exc:
            raise DatasetInputError(f"the {what} file {path} is not JSON: {exc}") from exc
        if not isinstance(mapping, dict):
            raise DatasetInputError(f"the {what} file {path} must hold one JSON object {{path: {what}}}")
        return {str(k): str(v) for k, v in mapping.items()}
    mapping = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, tab, value = line.partition("\t")
        if not tab:
            raise DatasetInputError(f"{path}:{number}: expected 'path<TAB>{what}'")
        mapping[name.strip()] = value.strip()
    return mapping


def folder_label(source: str) -> str | None:
    """``cats/001.png`` -> ``cats``: the label of ``--labels from-folders``."""
    parent = Path(source).parent.as_posix()
    return None if parent in ("", ".") else parent


# -- decoding ------------------------------------------------------------------------------
def decode_item(item: Item, modality: str, size: int, limits: Limits) -> Decoded | Failure:
    """Read and decode one file; a file that cannot be used is a ``Failure``."""
    if item.problem:
        return Failure(item, UNLABELLED, item.problem)
    suffix = Path(item.path).suffix.lower()
    if suffix not in suffixes(modality):
        other = next((f.modality for f in FORMATS if suffix in f.suffixes), None)
        what = f"{'an' if other[0] in 'aeiou' else 'a'} {other} file" if other else "not a media file"
        return Failure(item, WRONG_MODALITY, f"{suffix or 'no suffix'}: {what}, not {modality}")
    try:
        info = os.stat(item.path)
        if not stat.S_ISREG(info.st_mode):
            return Failure(item, UNREADABLE, "not a regular file")
        if info.st_size > limits.max_bytes:
            return Failure(item, TOO_LARGE, f"{info.st_size} bytes, over the limit of {limits.max_bytes}")
        with open(item.path, "rb") as f:
            body = f.read(limits.max_bytes + 1)
    except OSError as exc:
        return Failure(item, UNREADABLE, exc.strerror or str(exc))
    try:
        decoder = decoder_for_file(modality, item.path)
        if modality == "image":
            return Decoded(item, fit_image(read_image(body, limits.max_pixels, formats=(decoder,)), size))
        if modality == "video":
            frames, fps = read_video(
                body,
                decoder,
                max_frames=limits.max_frames,
                max_pixels=limits.max_pixels,
                max_seconds=limits.max_seconds,
            )
            fitted = np.stack([fit_image(frame, size) for frame in frames])
            return Decoded(item, fitted, duration=len(frames) / fps, fps=fps)
        samples, rate = read_audio(body, decoder, limits.max_seconds)
        return Decoded(item, samples, rate, samples.shape[-1] / rate)
    except MediaTooLargeError as exc:
        return Failure(item, TOO_LARGE, str(exc))
    except UnsupportedMediaTypeError as exc:
        return Failure(item, WRONG_MODALITY, str(exc))
    except TokenizersZooError as exc:
        return Failure(item, CORRUPT, str(exc))


def fit_image(pixels: np.ndarray, size: int) -> np.ndarray:
    """Shorter side to ``size`` then a centre ``size x size`` crop (``size`` 0: as is)."""
    if size <= 0:
        return pixels
    height, width = pixels.shape[:2]
    scale = size / min(height, width)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = Image.fromarray(pixels)
    if new != (width, height):
        image = image.resize(new, Image.Resampling.BICUBIC, reducing_gap=None)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


def decode_batch(items: Sequence[Item], modality: str, size: int, limits: Limits) -> list[Decoded | Failure]:
    return [decode_item(item, modality, size, limits) for item in items]


# -- encoding ------------------------------------------------------------------------------
def encode_batch(
    tok: Any, decoded: Sequence[Decoded | Failure], options: dict[str, Any], latent_dtype: str
) -> list[Encoded | Failure]:
    """Tokenize the decoded items of a batch, in their order: items of one shape (and rate)
    go through ``tok.encode`` together. A group the tokenizer refuses is retried item by
    item, so only the items at fault fail."""
    results: list[Encoded | Failure] = list(decoded)  # type: ignore[arg-type]  # Decoded ones replaced below
    groups: dict[tuple, list[int]] = {}
    for i, d in enumerate(decoded):
        if isinstance(d, Decoded):
            groups.setdefault((d.array.shape, d.sample_rate, d.fps), []).append(i)
    for members in groups.values():
        group = [decoded[i] for i in members]
        try:
            encoded: list[Encoded | Failure] = list(_encode_group(tok, group, options, latent_dtype))  # type: ignore[arg-type]
        except TokenizersZooError as exc:
            if len(members) == 1:
                encoded = [Failure(group[0].item, ENCODE_FAILED, str(exc))]
            else:
                encoded = [encode_batch(tok, [d], options, latent_dtype)[0] for d in group]
        for i, e in zip(members, encoded, strict=True):
            results[i] = e
    return results


def _encode_group(
    tok: Any, group: list[Decoded], options: dict[str, Any], latent_dtype: str
) -> list[Encoded]:
    if tok.info.modality == "image":
        tokens = tok.encode([d.array for d in group], **options)
    elif tok.info.modality == "video":
        tokens = tok.encode([d.array for d in group], **{"fps": group[0].fps, **options})
    else:
        batch = np.stack([d.array for d in group])
        tokens = tok.encode(batch, sample_rate=group[0].sample_rate, **options)
    data = tokens.data.detach().cpu()
    if tokens.kind == "discrete":
        array = data.numpy().astype(np.uint32)
    else:
        array = data.float().numpy().astype(latent_dtype)
    per_item = tokens.extras.get("per_item")
    shared = {k: v for k, v in tokens.extras.items() if k == "fps"}  # the rest are the run's options
    return [
        Encoded(
            d.item,
            array[i],
            tokens.original_size,
            tokens.sample_rate,
            d.duration,
            {**shared, "per_item": per_item[i]} if per_item is not None else shared,
        )
        for i, d in enumerate(group)
    ]
