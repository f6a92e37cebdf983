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
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.published import SHARD_INDEX
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.checkpoint_part import VQ_PREFIX, CheckpointPartAdapter, ImageVQPart
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig
from tokenizers_zoo.tokenizers.video.base import VideoTokenizer

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Emu3VQConfig(AdapterConfig):
    codebook_size: int = 32768
    spatial_factor: int = 8
    min_pixels: int = 512 * 512
    max_pixels: int = 1024 * 1024
    temporal_factor: int = 4


def check_pixels(name: str, config: Emu3VQConfig, height: int, width: int) -> None:
    """Emu3 was trained on images (and frames) of 512 x 512 to 1024 x 1024 pixels."""
    low, high = config.min_pixels, config.max_pixels
    if not low <= height * width <= high:
        raise InvalidMediaError(
            f"{name} takes images of {low} to {high} pixels (Emu3 was trained on 512 x 512 to "
            f"1024 x 1024), got {height} x {width}: resize it first"
        )


def normalise(x: Tensor, channel_axis: int) -> Tensor:
    """[-1, 1] -> Emu3's processor's input: [0, 1] normalised with CLIP's mean and std."""
    shape = [1] * x.ndim
    shape[channel_axis] = 3
    mean, std = torch.tensor(CLIP_MEAN).view(shape), torch.tensor(CLIP_STD).view(shape)
    return ((x + 1) / 2 - mean.to(x.device)) / std.to(x.device)


def unnormalise(x: Tensor, channel_axis: int) -> Tensor:
    """The inverse of ``normalise``, clamped to [-1, 1]."""
    shape = [1] * x.ndim
    shape[channel_axis] = 3
    mean, std = torch.tensor(CLIP_MEAN).view(shape), torch.tensor(CLIP_STD).view(shape)
    return (x * std.to(x.device) + mean.to(x.device)).clamp(0, 1) * 2 - 1


#: Emu3's encode crops each item's tokens by an image size along their first two axes (for a
#: clip, time and height); the zoo pads and crops the media itself, so it asks for no cropping.
NO_CROP = 1 << 30


class Emu3VQTokenizer(ImageVQPart):
    Config = Emu3VQConfig
    library_class = "Emu3VQVAE"
    library_config_class = "Emu3VQVAEConfig"

    def library_facts(self, config: Any) -> dict[str, Any]:
        return emu3_facts(config)

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        x, size, _ = super().prepare(media, sample_rate)
        check_pixels(self.name, self.config, *size)
        return normalise(x, 1), size, None

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        sizes = torch.tensor([[NO_CROP, NO_CROP]] * x.shape[0])
        return torch.stack(self.library_model.encode(x, image_sizes=sizes).image_tokens)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        return self.crop(unnormalise(self.library_model.decode(data), 1), original_size)


class Emu3VideoVQTokenizer(CheckpointPartAdapter, VideoTokenizer):
    """The same VQ on clips: Emu3 groups every 4 frames in time (the clip's last frame is
    repeated up to a multiple of 4), so tokens are ``(T / 4, H / 8, W / 8)``."""

    Config = Emu3VQConfig
    library_class = "Emu3VQVAE"
    library_config_class = "Emu3VQVAEConfig"

    @classmethod
    def describe(cls, config: Emu3VQConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="video",
            kind="discrete",
            vocab_size=(config.codebook_size,),
            spatial_factor=config.spatial_factor,
            temporal_factor=config.temporal_factor,
        )

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {**emu3_facts(config), "temporal_factor": config.temporal_downsample_factor}

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        x, size, _ = super().prepare(media, sample_rate)  # (B, 3, T, H, W), padded
        check_pixels(self.name, self.config, *size[1:])
        return normalise(x, 1).permute(0, 2, 1, 3, 4), size, None  # Emu3 takes (B, T, 3, H, W)

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        sizes = torch.tensor([[NO_CROP, NO_CROP]] * x.shape[0])
        return torch.stack(self.library_model.encode(x, image_sizes=sizes).image_tokens)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        clips = unnormalise(self.library_model.decode(data), 2).permute(0, 2, 1, 3, 4)
        return self.crop(clips, original_size)


def emu3_facts(config: Any) -> dict[str, Any]:
    return {
        "codebook_size": config.codebook_size,
        "spatial_factor": 2 ** (len(config.channel_multiplier) - 1),
    }


_EMU3 = {
    "repository": "BAAI/Emu3-Gen-hf",
    "revision": "main",
    "files": ["config.json", SHARD_INDEX],
    "shards_of": VQ_PREFIX,
    "licence": "Apache-2.0",
}
register(
    "image-emu3-vq",
    Emu3VQTokenizer,
    _EMU3,
    description="Emu3 vision tokenizer (BAAI, transformers), 32768 codes, f8; 512^2 to 1024^2 pixel images",
)
register(
    "video-emu3-vq",
    Emu3VideoVQTokenizer,
    _EMU3,
    description="Emu3 vision tokenizer on clips (BAAI, transformers), 32768 codes, 4 frames x f8 a token",
)
