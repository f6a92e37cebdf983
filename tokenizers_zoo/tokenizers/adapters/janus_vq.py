"""Janus's generation tokenizer (DeepSeek, 2024; LlamaGen's VQ) through transformers'
``JanusVQVAE``: 16384 codes, 24 x 24 tokens for the 384 x 384 image Janus generates.

The VQ is published in transformers' layout only inside the whole Janus checkpoint
(``deepseek-community/Janus-Pro-1B``, one ``model.safetensors`` at the pinned commit);
``checkpoint_part`` reads only its ``vqmodel.`` tensors out of it. The VQ sees one
resolution, so the image is brought to it as Janus's image processor does: the long side
resized to 384 (``int(side * 384 / long)``, at least 14) and the short one padded,
centred, with mid-grey (0 in [-1, 1], the value range LlamaGen's VQ was trained in;
transformers' ``JanusImageProcessor`` defaults to CLIP's mean and std, and the
repository's ``preprocessor_config.json``, which would settle it, was not readable
offline). Decoding inverts that: the padding is cut off and the picture resized back to
the original size, so ``decode`` gives the input's size, at the VQ's 384-pixel detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.media.image import to_image_batch
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.checkpoint_part import SquareVQPart
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig

MIN_SIDE = 14


@dataclass(frozen=True)
class JanusVQConfig(AdapterConfig):
    codebook_size: int = 16384
    spatial_factor: int = 16
    image_size: int = 384


class JanusVQTokenizer(SquareVQPart):
    Config = JanusVQConfig
    library_class = "JanusVQVAE"
    library_config_class = "JanusVQVAEConfig"

    def library_facts(self, config: Any) -> dict[str, Any]:
        factor = 2 ** (len(config.channel_multiplier) - 1)
        return {
            "codebook_size": config.num_embeddings,
            "spatial_factor": factor,
            "image_size": config.num_patches * factor,
        }

    def content_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Where the resized picture sits in the square: ``(top, left, rows, columns)``."""
        size, longest = self.config.image_size, max(height, width)
        rows = max(int(height * size / longest), MIN_SIDE)
        columns = max(int(width * size / longest), MIN_SIDE)
        return (size - rows) // 2, (size - columns) // 2, rows, columns

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        if sample_rate is not None:
            raise InvalidMediaError(f"{self.name} tokenizes images; sample_rate does not apply")
        x = to_image_batch(media)
        height, width = x.shape[-2:]
        top, left, rows, columns = self.content_box(height, width)
        resized = F.interpolate(x, size=(rows, columns), mode="bicubic", antialias=True, align_corners=False)
        size = self.config.image_size
        padding = (left, size - columns - left, top, size - rows - top)
        return F.pad(resized.clamp(-1, 1), padding, value=0.0), (height, width), None

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        square = self.library_model.decode(data.reshape(data.shape[0], -1))
        top, left, rows, columns = self.content_box(*original_size)
        picture = square[..., top : top + rows, left : left + columns]
        if tuple(picture.shape[-2:]) != tuple(original_size):
            picture = F.interpolate(picture, size=original_size, mode="bicubic", align_corners=False)
        return picture.clamp(-1, 1)


register(
    "image-janus-vq",
    JanusVQTokenizer,
    {
        "repository": "deepseek-community/Janus-Pro-1B",
        "revision": "1655280bb75959cc1cb85529a2a8b26e7016072e",
        # this commit holds the whole model in one model.safetensors (no index, no shards),
        # so fetch takes it whole (4.2 GB) and loading reads only its vqmodel. tensors
        "files": ["config.json", "model.safetensors"],
        "licence": "DeepSeek Model License (code MIT)",
    },
    description="Janus-Pro image tokenizer (DeepSeek, transformers), 16384 codes, 24 x 24 at 384 px",
)
