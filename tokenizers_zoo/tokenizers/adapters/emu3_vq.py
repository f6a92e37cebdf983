"""Emu3's vision tokenizer (BAAI, 2024) through transformers' ``Emu3VQVAE``: the discrete
image tokens Emu3 generates and reads, 32768 codes, one per 8 x 8 pixels.

The VQ is published in transformers' layout only inside the whole Emu3 checkpoint
(``BAAI/Emu3-Gen-hf``, sharded): ``checkpoint_part`` reads it out of only the shards that
hold it. A directory that ``Emu3VQVAE.save_pretrained`` wrote loads too.

Preprocessing is Emu3's image processor's: RGB rescaled to [0, 1] and normalised with CLIP's
mean and std; the pixel count must lie within ``min_pixels`` and ``max_pixels`` (512 x 512
and 1024 x 1024, the range Emu3 was trained in; others are refused with a message, rather
than resized behind the caller's back), and sides are padded to a multiple of 8 and cropped
back on decode. Decoding gives the VQ's reconstruction, un-normalised back to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.published import SHARD_INDEX
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.checkpoint_part import VQ_PREFIX, ImageVQPart
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Emu3VQConfig(AdapterConfig):
    codebook_size: int = 32768
    spatial_factor: int = 8
    min_pixels: int = 512 * 512
    max_pixels: int = 1024 * 1024


class Emu3VQTokenizer(ImageVQPart):
    Config = Emu3VQConfig
    library_class = "Emu3VQVAE"
    library_config_class = "Emu3VQVAEConfig"

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {
            "codebook_size": config.codebook_size,
            "spatial_factor": 2 ** (len(config.channel_multiplier) - 1),
        }

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        x, size, _ = super().prepare(media, sample_rate)
        pixels = size[0] * size[1]
        low, high = self.config.min_pixels, self.config.max_pixels
        if not low <= pixels <= high:
            raise InvalidMediaError(
                f"{self.name} takes images of {low} to {high} pixels (Emu3 was trained on 512 x 512 to "
                f"1024 x 1024), got {size[0]} x {size[1]}: resize it first"
            )
        mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        return ((x + 1) / 2 - mean) / std, size, None

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        sizes = torch.tensor([list(x.shape[-2:])] * x.shape[0])
        return torch.stack(self.library_model.encode(x, image_sizes=sizes).image_tokens)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        images = self.library_model.decode(data)
        mean = torch.tensor(CLIP_MEAN, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=images.device).view(1, 3, 1, 1)
        return self.crop((images * std + mean).clamp(0, 1) * 2 - 1, original_size)


register(
    "image-emu3-vq",
    Emu3VQTokenizer,
    {
        "repository": "BAAI/Emu3-Gen-hf",
        "revision": "main",
        "files": ["config.json", SHARD_INDEX],
        "shards_of": VQ_PREFIX,
        "licence": "Apache-2.0",
    },
    description="Emu3 vision tokenizer (BAAI, transformers), 32768 codes, f8; 512^2 to 1024^2 pixel images",
)
