"""Chameleon's image tokenizer (Meta, 2024) through transformers' ``ChameleonVQVAE``: 8192
codes, one per 16 x 16 pixels, 1024 tokens for the 512 x 512 image Chameleon reads. Encode
only: transformers has the VQ's encoder and quantizer but no decoder, so ``decode`` raises
``EncodeOnlyError``.

The VQ is published in transformers' layout only inside the whole Chameleon checkpoint
(``facebook/chameleon-7b``, gated: accept its licence on the hub, then ``huggingface-cli
login`` before ``tzoo fetch``); ``checkpoint_part`` reads it out of only the shards that hold
it. Preprocessing is Chameleon's image processor's: the short side resized to 512 and the
centre cropped (torch's antialiased bicubic where the processor uses PIL's Lanczos), then
``x * 255 * 0.0078 - 1``, about [-1, 1]. Tokens are ``(32, 32)`` per item whatever the input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from tokenizers_zoo.errors import EncodeOnlyError, InvalidMediaError
from tokenizers_zoo.media.image import to_image_batch
from tokenizers_zoo.published import SHARD_INDEX
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.checkpoint_part import VQ_PREFIX, SquareVQPart
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig
from tokenizers_zoo.tokenizers.adapters.vision_towers import processor_pixels

#: The processor rescales by 0.0078 and subtracts 1: on [0, 1] that is (x - m) / m with this m.
RESCALED_MEAN = 1 / (255 * 0.0078)


@dataclass(frozen=True)
class ChameleonVQConfig(AdapterConfig):
    codebook_size: int = 8192
    spatial_factor: int = 16
    image_size: int = 512


class ChameleonVQTokenizer(SquareVQPart):
    Config = ChameleonVQConfig
    library_class = "ChameleonVQVAE"
    library_config_class = "ChameleonVQVAEConfig"

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {
            "codebook_size": config.num_embeddings,
            "spatial_factor": 2 ** (len(config.channel_multiplier) - 1),
        }

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        if sample_rate is not None:
            raise InvalidMediaError(f"{self.name} tokenizes images; sample_rate does not apply")
        x = to_image_batch(media)
        mean = (RESCALED_MEAN,) * 3
        pixels = processor_pixels(x, self.config.image_size, True, "bicubic", mean, mean)
        return pixels, tuple(x.shape[-2:]), None

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        raise EncodeOnlyError(
            f"{self.name} only encodes: transformers publishes no decoder for Chameleon's VQ"
        )


register(
    "image-chameleon-vq",
    ChameleonVQTokenizer,
    {
        "repository": "facebook/chameleon-7b",
        "revision": "main",
        "files": ["config.json", SHARD_INDEX],
        "shards_of": VQ_PREFIX,
        "licence": "Chameleon Research License (non-commercial; gated)",
    },
    description="Chameleon image tokenizer (Meta, transformers), 8192 codes, 32 x 32 at 512 px; encodes only",
)
