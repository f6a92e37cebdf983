"""The latent-diffusion VAEs (Stable Diffusion, SDXL, FLUX) through diffusers'
``AutoencoderKL``: continuous image tokens, the latents those models generate in.

Images go in as RGB in [-1, 1], the range the VAEs were trained on, padded on the right
and bottom to a multiple of 8 (``ImageTokenizer``) and cropped back on decode. Latents
come out scaled as the diffusion models use them, ``(z - shift) * scaling`` (SD 0.18215;
SDXL 0.13025; FLUX 0.3611 with shift 0.1159), laid out ``(h, w, channels)`` as every
continuous image tokenizer of the zoo, so a model trained on one reads the other's.
``z`` is the posterior's mode by default (deterministic, what most pipelines encode
with); ``encode(..., sample=True, seed=0)`` draws from the posterior instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig, PretrainedAdapter
from tokenizers_zoo.tokenizers.image.base import ImageTokenizer


@dataclass(frozen=True)
class LatentVAEConfig(AdapterConfig):
    """``spatial_factor`` is ``2 ** (len(block_out_channels) - 1)`` of the VAE's config."""

    latent_channels: int = 4
    spatial_factor: int = 8
    scaling_factor: float = 0.18215
    shift_factor: float = 0.0


class LatentVAETokenizer(PretrainedAdapter, ImageTokenizer):
    """diffusers' ``AutoencoderKL``; encode options ``sample`` (draw from the posterior
    instead of taking its mode) and ``seed`` (the draw's generator seed, default 0)."""

    Config = LatentVAEConfig
    library = "diffusers"
    library_class = "AutoencoderKL"
    options = ("sample", "seed")

    @classmethod
    def describe(cls, config: LatentVAEConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="image",
            kind="continuous",
            latent_dim=config.latent_channels,
            spatial_factor=config.spatial_factor,
        )

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {
            "latent_channels": config.latent_channels,
            "spatial_factor": 2 ** (len(config.block_out_channels) - 1),
            "scaling_factor": config.scaling_factor,
            "shift_factor": config.shift_factor or 0.0,
        }

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        sample, seed = options.get("sample", False), options.get("seed", 0)
        if not isinstance(sample, bool):
            raise InvalidMediaError(f"sample must be true or false, got {sample!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidMediaError(f"seed must be an integer, got {seed!r}")
        return {"sample": sample, "seed": seed} if sample else {"sample": False}

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        posterior = self.library_model.encode(x).latent_dist
        if options.get("sample"):
            generator = torch.Generator(x.device).manual_seed(options["seed"])
            z = posterior.sample(generator)
        else:
            z = posterior.mode()
        latents = (z - self.config.shift_factor) * self.config.scaling_factor
        return latents.permute(0, 2, 3, 1)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        z = data.permute(0, 3, 1, 2).to(self.dtype) / self.config.scaling_factor + self.config.shift_factor
        images = self.library_model.decode(z).sample
        return self.crop(images.clamp(-1, 1), original_size)


_WEIGHTS = ("config.json", "diffusion_pytorch_model.safetensors")

register(
    "image-sd-vae",
    LatentVAETokenizer,
    {
        "repository": "stabilityai/sd-vae-ft-mse",
        "revision": "31f26fdeee1355a5c34592e401dd41e45d25a493",
        "files": list(_WEIGHTS),
        "licence": "MIT",
        "latent_channels": 4,
        "spatial_factor": 8,
        "scaling_factor": 0.18215,
    },
    description="Stable Diffusion 1.x/2.x VAE (ft-MSE, diffusers), 4-channel latents, f8, scaled by 0.18215",
)
register(
    "image-sdxl-vae",
    LatentVAETokenizer,
    {
        "repository": "stabilityai/sdxl-vae",
        "revision": "6f5909a7e596173e25d4e97b07fd19cdf9611c76",
        "files": list(_WEIGHTS),
        "licence": "MIT",
        "latent_channels": 4,
        "spatial_factor": 8,
        "scaling_factor": 0.13025,
    },
    description="SDXL VAE (diffusers), 4-channel latents, f8, scaled by 0.13025",
)
register(
    "image-flux-vae",
    LatentVAETokenizer,
    {
        "repository": "black-forest-labs/FLUX.1-schnell",
        "revision": "741f7c3ce8b383c54771c7003378a50191e9efe9",
        "files": [f"vae/{file}" for file in _WEIGHTS],
        "subfolder": "vae",
        "licence": "Apache-2.0",
        "latent_channels": 16,
        "spatial_factor": 8,
        "scaling_factor": 0.3611,
        "shift_factor": 0.1159,
    },
    description="FLUX.1 VAE (schnell, diffusers), 16-channel latents, f8, (z - 0.1159) * 0.3611",
)
