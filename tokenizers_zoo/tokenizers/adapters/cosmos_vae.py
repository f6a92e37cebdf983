"""NVIDIA Cosmos' continuous video tokenizer CV8x8x8 through diffusers' ``AutoencoderKLCosmos``:
16-channel latents, one per 8 frames x 8 x 8 pixels, the latents Cosmos' world models
generate in.

The tokenizer is causal in time: the first frame is encoded on its own and every later 8
frames together, so a clip is padded (its last frame repeated) to ``1 + 8n`` frames and
gives ``1 + n`` latent frames; sides are padded to a multiple of 8 (``VideoTokenizer``), and
both are cropped back on decode. Clips go in as RGB in [-1, 1]. Latents are the encoder's
output as the VAE gives it (``latent_dist.mode()``; the scaling factor is 1), laid out
``(t, h, w, 16)``; Cosmos' pipelines normalise them further with the config's
``latents_mean``/``latents_std``, which a model trained on these tokens can do itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig, PretrainedAdapter
from tokenizers_zoo.tokenizers.video.base import VideoTokenizer


@dataclass(frozen=True)
class CosmosVAEConfig(AdapterConfig):
    latent_channels: int = 16
    spatial_factor: int = 8
    temporal_factor: int = 8


class CosmosVAETokenizer(PretrainedAdapter, VideoTokenizer):
    Config = CosmosVAEConfig
    library = "diffusers"
    library_class = "AutoencoderKLCosmos"

    @classmethod
    def describe(cls, config: CosmosVAEConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="video",
            kind="continuous",
            latent_dim=config.latent_channels,
            spatial_factor=config.spatial_factor,
            temporal_factor=config.temporal_factor,
        )

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {
            "latent_channels": config.latent_channels,
            "spatial_factor": config.spatial_compression_ratio,
            "temporal_factor": config.temporal_compression_ratio,
        }

    def padded_frames(self, frames: int) -> int:
        """``1 + 8n``: the first frame alone, then whole groups of 8."""
        factor = self.info.temporal_factor
        return 1 + math.ceil((frames - 1) / factor) * factor

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        return self.library_model.encode(x).latent_dist.mode().permute(0, 2, 3, 4, 1)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        clips = self.library_model.decode(data.permute(0, 4, 1, 2, 3).to(self.dtype)).sample
        return self.crop(clips.clamp(-1, 1), original_size)


register(
    "video-cosmos-cv8x8x8",
    CosmosVAETokenizer,
    {
        "repository": "nvidia/Cosmos-1.0-Tokenizer-CV8x8x8",
        "revision": "main",
        "files": ["vae/config.json", "vae/diffusion_pytorch_model.safetensors"],
        "subfolder": "vae",
        "licence": "NVIDIA Open Model License",
    },
    description="Cosmos CV8x8x8 video tokenizer (NVIDIA, diffusers), 16-ch latents per 8 frames x f8, causal",
)
