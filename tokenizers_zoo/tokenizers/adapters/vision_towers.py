"""The vision towers understanding models read images through (SigLIP for PaliGemma and
LLaVA-OneVision, CLIP ViT-L/14 for LLaVA), through transformers' ``SiglipVisionModel`` and
``CLIPVisionModel``: continuous embedding tokens, one per patch, encode only.

A tower sees one fixed resolution, so the image is brought to it as the model's own image
processor does (SigLIP: the whole image resized to ``image_size`` square; CLIP: the short
side resized to ``image_size`` and the centre cropped), rescaled to [0, 1] and normalised
with the model's mean and std. The resizing is torch's (antialiased), not PIL's, so pixel
values differ from the processor's by resampling rounding. Tokens are ``(g, g, hidden)``
per item with ``g = image_size / patch_size`` whatever the input size (``token_shape_for``);
CLIP's class token is dropped. ``feature_layer`` picks the hidden state (``None``: the
tower's output; LLaVA reads CLIP's second-to-last layer, ``-2``). There is no decoder, so
``decode`` raises ``EncodeOnlyError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.errors import EncodeOnlyError, InvalidMediaError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.media.image import to_image_batch
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig, PretrainedAdapter
from tokenizers_zoo.tokenizers.image.base import ImageTokenizer


@dataclass(frozen=True)
class VisionTowerConfig(AdapterConfig):
    """The tower's resolution and width, and its processor's rules: ``crop`` (short side
    resized then centre-cropped, else the whole image squashed), ``resample`` (a
    ``torch.nn.functional.interpolate`` mode), ``mean``/``std`` (per channel, on [0, 1])."""

    image_size: int = 224
    patch_size: int = 14
    hidden_size: int = 1024
    feature_layer: int | None = None
    class_token: bool = False
    crop: bool = False
    resample: str = "bicubic"
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)


class VisionTowerTokenizer(PretrainedAdapter, ImageTokenizer):
    """A ViT vision tower of transformers as an encode-only continuous image tokenizer."""

    library = "transformers"

    @classmethod
    def describe(cls, config: VisionTowerConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="image",
            kind="continuous",
            latent_dim=config.hidden_size,
            spatial_factor=config.patch_size,
        )

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {
            "image_size": config.image_size,
            "patch_size": config.patch_size,
            "hidden_size": config.hidden_size,
        }

    @property
    def grid(self) -> int:
        return self.config.image_size // self.config.patch_size

    def token_shape_for(self, original_size: tuple[int, ...], extras: dict[str, Any]) -> tuple[int, ...]:
        if len(original_size) != 2 or min(original_size) < 1:
            raise ValueError(f"an image size is (height, width), got {original_size}")
        return (self.grid, self.grid, self.config.hidden_size)

    def prepare(self, media: Any, sample_rate: int | None) -> tuple[Tensor, tuple[int, ...], None]:
        if sample_rate is not None:
            raise InvalidMediaError(f"{self.name} tokenizes images; sample_rate does not apply")
        x = to_image_batch(media)
        return self.pixel_values(x), tuple(x.shape[-2:]), None

    def pixel_values(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in [-1, 1] -> the tower's normalised ``(B, 3, S, S)`` input."""
        config = self.config
        return processor_pixels(
            images, config.image_size, config.crop, config.resample, config.mean, config.std
        )

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        layer = self.config.feature_layer
        output = self.library_model(pixel_values=x, output_hidden_states=layer is not None)
        hidden = output.last_hidden_state if layer is None else output.hidden_states[layer]
        if self.config.class_token:
            hidden = hidden[:, 1:]
        return hidden.reshape(hidden.shape[0], self.grid, self.grid, hidden.shape[-1])

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        raise EncodeOnlyError(f"{self.name} only encodes: a vision tower's embeddings have no decoder")


def processor_pixels(
    images: Tensor, size: int, crop: bool, resample: str, mean: Sequence[float], std: Sequence[float]
) -> Tensor:
    """What a transformers image processor does to ``(B, 3, H, W)`` images in [-1, 1] for a
    model of one square resolution: resized to ``size`` square, or (``crop``) the short side
    to ``size`` and the centre cropped; rescaled to [0, 1]; normalised per channel."""
    x = (images + 1) / 2
    height, width = x.shape[-2:]
    if crop:
        # the processor's rule: the short side becomes ``size``, the long one int(long * size / short)
        short = min(height, width)
        resized = (max(size, int(height * size / short)), max(size, int(width * size / short)))
        x = _resize(x, resized, resample)
        top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
        x = x[..., top : top + size, left : left + size]
    else:
        x = _resize(x, (size, size), resample)
    mean_t = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x.clamp(0, 1) - mean_t) / std_t


def _resize(x: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(
        x, size=size, mode=mode, antialias=mode in ("bilinear", "bicubic"), align_corners=False
    )


class SiglipVisionTokenizer(VisionTowerTokenizer):
    Config = VisionTowerConfig
    library_class = "SiglipVisionModel"


class ClipVisionTokenizer(VisionTowerTokenizer):
    Config = VisionTowerConfig
    library_class = "CLIPVisionModel"


register(
    "image-siglip-so400m",
    SiglipVisionTokenizer,
    {
        "repository": "google/siglip-so400m-patch14-384",
        "revision": "9fdffc58afc957d1a03a25b10dba0329ab15c2a3",
        "files": ["config.json", "model.safetensors"],
        "licence": "Apache-2.0",
        "image_size": 384,
        "patch_size": 14,
        "hidden_size": 1152,
    },
    description="SigLIP so400m/14 vision tower, 384 px (Google, transformers), 27 x 27 x 1152; encodes only",
)
register(
    "image-clip-vit-l14",
    ClipVisionTokenizer,
    {
        "repository": "openai/clip-vit-large-patch14",
        "revision": "32bd64288804d66eefd0ccbe215aa642df71cc41",
        "files": ["config.json", "model.safetensors"],
        "licence": "MIT",
        "image_size": 224,
        "patch_size": 14,
        "hidden_size": 1024,
        "feature_layer": -2,
        "class_token": True,
        "crop": True,
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
    },
    description="CLIP ViT-L/14 vision tower, 224 px (OpenAI, transformers), 16 x 16 x 1024; encodes only",
)
