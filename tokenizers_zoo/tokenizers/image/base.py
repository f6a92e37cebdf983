"""Shared input handling of image tokenizers: any size in, original size back out."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.media.image import to_image_batch
from tokenizers_zoo.tokenizer import Tokenizer


class ImageTokenizer(Tokenizer):
    """Pads every image on the right and bottom to a multiple of ``spatial_factor``
    (edge pixels repeated, which reconstructs better at the border than zeros) and
    keeps the original size in ``Tokens`` so ``decode`` crops it back."""

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        if sample_rate is not None:
            raise InvalidMediaError(f"{self.name} tokenizes images; sample_rate does not apply")
        x = to_image_batch(media)
        height, width = x.shape[-2:]
        factor = self.info.spatial_factor
        pad_h = math.ceil(height / factor) * factor - height
        pad_w = math.ceil(width / factor) * factor - width
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x, (height, width), None

    @staticmethod
    def crop(images: Tensor, original_size: tuple[int, ...]) -> Tensor:
        height, width = original_size
        return images[..., :height, :width]
