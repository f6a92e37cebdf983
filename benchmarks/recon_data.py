"""The samples a reconstruction benchmark measures: which files, in which order, and how
each is brought to the size a tokenizer sees.

Numbers differ between papers largely because of this step, so it is fixed and stated in
every report (``policy``):

- Files are found recursively by suffix and sorted by path; ``limit`` takes that many
  evenly spaced samples from the sorted list (always the same ones, spread over every
  sub-folder), not a random draw.
- Images and video frames, ``crop="center"`` (the default, as ImageNet rFID): the
  shorter side is resized to ``size`` with Pillow's bicubic filter (antialiased when
  shrinking), then the centre ``size x size`` is cut. ``crop="tiles"``: every
  non-overlapping ``size x size`` tile at the native resolution (no resampling; what
  ``tzoo eval-tokenizer`` measures). ``size=0``: the file as it is.
- Video: the first ``max_frames`` frames, resampled to the clip's average frame rate and
  turned upright as ``media.video`` reads them.
- Audio: the whole recording, down-mixed to mono, at its own sample rate; each
  tokenizer resamples what it needs and its output is resampled back for scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.formats import decoder_for_file, suffixes
from tokenizers_zoo.media.audio import read_audio
from tokenizers_zoo.media.image import pil_to_rgb
from tokenizers_zoo.media.video import read_video
from tokenizers_zoo.training.data import media_files

SUFFIXES = {modality: suffixes(modality) for modality in ("image", "video", "audio")}
CROPS = ("center", "tiles")  # the CLI lists them again, to stay torch-free


@dataclass(frozen=True)
class Sample:
    """One measured item: a file, or one tile of an image (``box``: left, top, right, bottom)."""

    name: str
    path: Path
    box: tuple[int, int, int, int] | None = None


def policy(modality: str, size: int, crop: str, max_frames: int) -> str:
    """The sentence a report prints about how samples were made."""
    if modality == "audio":
        return "whole recordings, mono, at their own sample rate; reconstructions resampled back to it"
    if size == 0:
        shape = "native size"
    elif crop == "tiles":
        shape = f"every non-overlapping {size}x{size} tile at native resolution"
    else:
        shape = f"shorter side resized to {size} (Pillow bicubic), centre {size}x{size} crop"
    return shape + (f"; first {max_frames} frames" if modality == "video" else "")


def infer_modality(folder: str | Path) -> str:
    """The one modality whose files ``folder`` holds (GIFs count as images)."""
    if not Path(folder).is_dir():
        raise InvalidMediaError(f"data folder {folder} does not exist")
    suffixes = {**SUFFIXES, "video": SUFFIXES["video"] - {".gif"}}
    found = [modality for modality, ends in suffixes.items() if _has_files(folder, ends)]
    if not found:
        raise InvalidMediaError(
            f"{folder} holds no image, audio or video files: point --data at a folder of media "
            "(searched recursively)"
        )
    if len(found) > 1:
        what = " and ".join(found)
        raise InvalidMediaError(f"{folder} holds {what} files: name the tokenizer(s) with --tokenizer")
    return found[0]


def _has_files(folder: str | Path, suffixes: set[str]) -> bool:
    try:
        media_files(folder, suffixes, "")
    except FileNotFoundError:
        return False
    return True


def find_samples(
    folder: str | Path,
    modality: str,
    limit: int = 0,
    size: int = 256,
    crop: str = "center",
    skipped: list[dict[str, str]] | None = None,
) -> list[Sample]:
    """The samples of ``modality`` under ``folder`` in their fixed order (see the module).
    Cutting tiles reads each image's header: with ``skipped`` given, a file whose header
    cannot be read is listed there (``path``, ``reason``) and left out instead of raising."""
    if crop not in CROPS:
        raise InvalidMediaError(f"crop must be one of {CROPS}, got {crop!r}")
    try:
        files = media_files(folder, SUFFIXES[modality], modality)
    except FileNotFoundError as exc:
        raise InvalidMediaError(str(exc)) from exc
    root = Path(folder)
    if modality == "image" and crop == "tiles" and size > 0:
        samples = []
        for path in files:
            try:
                corners = _tile_corners(path, size)
            except InvalidMediaError as exc:
                if skipped is None:
                    raise
                skipped.append(unreadable(path, exc))
                continue
            name = path.relative_to(root)
            samples += [Sample(f"{name}@{x},{y}", path, (x, y, x + size, y + size)) for x, y in corners]
        if not samples and len(files) > len(skipped or ()):
            raise InvalidMediaError(f"no image under {folder} is at least {size} pixels on each side")
    else:
        samples = [Sample(str(path.relative_to(root)), path) for path in files]
    if 0 < limit < len(samples):
        samples = [samples[i * len(samples) // limit] for i in range(limit)]
    return samples


def unreadable(path: Path, exc: BaseException) -> dict[str, str]:
    """The entry a report lists for a file that could not be read: its path and why
    (with the decoder's own words, which the error wraps)."""
    reason = str(exc)
    if exc.__cause__ is not None and str(exc.__cause__) not in reason:
        reason += f" ({type(exc.__cause__).__name__}: {exc.__cause__})"
    return {"path": str(path), "reason": reason}


def _tile_corners(path: Path, size: int) -> list[tuple[int, int]]:
    with _open_image(path) as image:  # reads the header only
        width, height = image.size
    return [(x, y) for y in range(0, height - size + 1, size) for x in range(0, width - size + 1, size)]


def _open_image(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidMediaError(f"{path} is not an image Pillow can read") from exc


def fit(image: Image.Image, size: int) -> Image.Image:
    """Shorter side to ``size`` (bicubic), then the centre ``size x size``; ``size=0``: as is."""
    if size == 0:
        return image
    scale = size / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    if (width, height) != image.size:
        image = image.resize((width, height), Image.BICUBIC)
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))


def _to_chw(image: Image.Image) -> Tensor:
    return torch.from_numpy(np.array(pil_to_rgb(image))).permute(2, 0, 1).contiguous()


def load_image(sample: Sample, size: int) -> Tensor:
    """uint8 ``(3, H, W)``."""
    with _open_image(sample.path) as image:
        try:
            if sample.box is not None:
                return _to_chw(image.crop(sample.box))
            return _to_chw(fit(pil_to_rgb(image), size))
        except OSError as exc:
            raise InvalidMediaError(f"{sample.path} could not be decoded: {exc}") from exc


def load_video(sample: Sample, size: int, max_frames: int) -> Tensor:
    """uint8 ``(T, 3, H, W)`` of the first ``max_frames`` frames, at the clip's constant
    rate and upright (``media.video.read_video``)."""
    try:
        frames, _ = read_video(sample.path, first_frames=max_frames)
    except InvalidMediaError as exc:
        raise InvalidMediaError(f"{sample.path}: {exc}") from exc
    return torch.stack([_to_chw(fit(Image.fromarray(frame), size)) for frame in frames])


def load_audio(sample: Sample) -> tuple[Tensor, int]:
    """float32 mono ``(T,)`` at the file's own rate, and that rate."""
    samples, rate = read_audio(sample.path, decoder_for_file("audio", sample.path))
    return torch.from_numpy(samples).mean(0), rate
