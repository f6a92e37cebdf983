"""Palette pixel tokenizer (ImageGPT): one id per pixel, the nearest of 512 colours.

No network, just a colour table fitted by k-means on photos, so every pixel is a
token a transformer can predict directly. Lossy only in colour (PSNR is reported
by ``tzoo eval-tokenizer``), exact in position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.info import MemoryCost, TokenizerInfo
from tokenizers_zoo.kernels import lookup_codes, nearest_code
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.image.base import ImageTokenizer


@dataclass(frozen=True)
class PaletteConfig:
    num_colors: int = 512


class PaletteTokenizer(ImageTokenizer):
    """Ids ``(h, w)`` = ``(H, W)``; the palette is a ``(num_colors, 3)`` buffer in [-1, 1]."""

    Config = PaletteConfig

    def __init__(self, config: PaletteConfig = PaletteConfig(), name: str | None = None) -> None:
        super().__init__(config, name or f"image-palette-{config.num_colors}")
        self.register_buffer("palette", torch.zeros(config.num_colors, 3))

    @classmethod
    def describe(cls, config: PaletteConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name, modality="image", kind="discrete", vocab_size=(config.num_colors,), spatial_factor=1
        )

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        return nearest_code(x.permute(0, 2, 3, 1), self.palette)[0]

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        return self.crop(lookup_codes(data, self.palette.float()).permute(0, 3, 1, 2), original_size)


register(
    "image-palette-512",
    PaletteTokenizer,
    {"num_colors": 512},
    description="one token per pixel: nearest of 512 k-means colours fitted on photos (ImageGPT)",
    weights="weights/image-palette-512",
    # tzoo bench memory: 36 B/pixel to encode, 12 to decode; recorded with 10% to spare.
    memory=MemoryCost("pixel", 0, 40, 0, 14),
)
