"""Images in, canonical ``(B, 3, H, W)`` float tensors in [-1, 1] out.

Accepted: a PIL image, a file path or binary file object, a uint8 ``(H, W)`` / ``(H, W, C)`` array, a uint8
tensor ``(C, H, W)`` / ``(B, C, H, W)``, a float tensor ``(3, H, W)`` /
``(B, 3, H, W)`` in [-1, 1], or a list of those with one size. Grayscale is
repeated to RGB; RGBA (and palette images with transparency) is composited onto
white, which is what a viewer shows. A batch of different sizes is rejected: pad
or resize first, or encode the images one by one.

``read_image``/``write_image`` turn encoded files (bytes) into uint8 pixels and back,
for the service and the CLI.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError, MediaTooLargeError
from tokenizers_zoo.formats import MODALITY_FORMATS

_RANGE_SLACK = 1e-3


def pil_to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy of any PIL image; transparency is composited onto white."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _uint8_hwc_to_chw(array: np.ndarray) -> Tensor:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InvalidMediaError(f"image arrays must be (H, W) or (H, W, 1|3|4), got {array.shape}")
    if array.shape[2] == 4:
        return _uint8_hwc_to_chw(np.asarray(pil_to_rgb(Image.fromarray(array, "RGBA"))))
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1)


def _uint8_to_float(x: Tensor) -> Tensor:
    return x.float() / 127.5 - 1.0


def _item_to_batch(item: Any) -> Tensor:
    """One item (or a batched tensor) -> ``(B, 3, H, W)`` float in [-1, 1]."""
    if isinstance(item, str | Path) or hasattr(item, "read"):  # a path or a binary file object
        try:
            with Image.open(item) as opened:
                item = pil_to_rgb(opened)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise InvalidMediaError(f"cannot open image {item}: {exc.strerror}") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidMediaError(f"{item} is not an image Pillow can read") from exc
    if isinstance(item, Image.Image):
        item = np.asarray(pil_to_rgb(item))
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8:
            raise InvalidMediaError(
                f"image arrays must be uint8 (H, W[, C]); got {item.dtype}. For floats pass a "
                "torch tensor (B, 3, H, W) in [-1, 1]"
            )
        return _uint8_to_float(_uint8_hwc_to_chw(item)[None])
    if isinstance(item, Tensor):
        x = item[None] if item.ndim == 3 else item
        if x.ndim != 4:
            raise InvalidMediaError(
                f"image tensors must be (C, H, W) or (B, C, H, W), got {tuple(item.shape)}"
            )
        if x.dtype == torch.uint8:
            if x.shape[1] not in (1, 3):
                raise InvalidMediaError(f"uint8 image tensors need 1 or 3 channels, got {x.shape[1]}")
            return _uint8_to_float(x.expand(-1, 3, -1, -1))
        if not x.is_floating_point():
            raise InvalidMediaError(f"image tensors must be uint8 or float, got {x.dtype}")
        if x.shape[1] not in (1, 3):
            raise InvalidMediaError(f"float image tensors need 1 or 3 channels (RGB), got {x.shape[1]}")
        x = x.float()
        if x.numel():
            if not torch.isfinite(x).all():
                raise InvalidMediaError("image tensor contains NaN or infinity")
            low, high = float(x.min()), float(x.max())
            if low < -1 - _RANGE_SLACK or high > 1 + _RANGE_SLACK:
                raise InvalidMediaError(
                    f"float images must be in [-1, 1], got values in [{low:.3g}, {high:.3g}] "
                    "(uint8 0..255 images: pass a uint8 tensor or array)"
                )
        return x.clamp(-1, 1).expand(-1, 3, -1, -1)
    raise InvalidMediaError(f"cannot read an image from a {type(item).__name__}")


def to_image_batch(media: Any) -> Tensor:
    """Canonical ``(B, 3, H, W)`` float32 batch in [-1, 1] from any accepted form."""
    items = list(media) if isinstance(media, list | tuple) else [media]
    if not items:
        raise InvalidMediaError("no images given")
    batches = [_item_to_batch(item) for item in items]
    sizes = sorted({tuple(b.shape[-2:]) for b in batches})
    if len(sizes) > 1:
        raise InvalidMediaError(
            f"images in one batch must share a size, got {sizes}; encode them separately or resize"
        )
    x = torch.cat(batches).contiguous()
    if x.shape[0] == 0 or min(x.shape[-2:]) < 1:
        raise InvalidMediaError(f"empty image batch of shape {tuple(x.shape)}")
    return x


def to_uint8(images: Tensor) -> Tensor:
    """``(..., 3, H, W)`` in [-1, 1] -> uint8 with the same layout, rounded and clipped."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_pil(image: Tensor) -> Image.Image:
    """One ``(3, H, W)`` image in [-1, 1] (or a batch of one) -> PIL RGB image."""
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3:
        raise InvalidMediaError(f"to_pil takes one (3, H, W) image, got {tuple(image.shape)}")
    return Image.fromarray(to_uint8(image).permute(1, 2, 0).cpu().numpy(), "RGB")


#: Pillow decoders ``read_image`` may use; anything else is refused unopened.
#: Pillow decoders ``read_image`` may use (the media-type table's image formats).
IMAGE_FORMATS = tuple(f.decoder for f in MODALITY_FORMATS["image"])


def read_image(
    data: bytes, max_pixels: int | None = None, formats: tuple[str, ...] | None = None
) -> np.ndarray:
    """PNG, JPEG, WebP or GIF (first frame) bytes -> uint8 ``(H, W, 3)`` RGB; ``formats``
    narrows the decoders to those of them (the declared type's: bytes are not sniffed).

    The canvas size is read from the header and checked against ``max_pixels`` before
    any pixel is decoded, so a small file declaring a huge image (a decompression bomb)
    costs nothing."""
    try:
        allowed = IMAGE_FORMATS if formats is None else tuple(f for f in formats if f in IMAGE_FORMATS)
        with Image.open(io.BytesIO(data), formats=allowed) as image:
            if max_pixels is not None and image.width * image.height > max_pixels:
                raise MediaTooLargeError(
                    f"image of {image.width}x{image.height} pixels is over the limit of {max_pixels} pixels"
                )
            return np.asarray(pil_to_rgb(image))
    except MediaTooLargeError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaTooLargeError(str(exc)) from exc
    except UnidentifiedImageError as exc:  # its message holds the BytesIO's repr
        raise InvalidMediaError(f"not a readable image: its bytes are not {'/'.join(allowed)}") from exc
    except Exception as exc:  # Pillow's decoders raise many types on hostile input; all mean "not an image"
        raise InvalidMediaError(f"not a readable {'/'.join(IMAGE_FORMATS)} image: {exc}") from exc


def write_image(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    """uint8 ``(H, W, 3)`` pixels -> encoded bytes in a Pillow format (PNG, JPEG, WEBP)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format=image_format)
    return buffer.getvalue()
