"""Learned convolutional image tokenizers: VQGAN-style encoder, any bottleneck, decoder.

One architecture serves every family of the zoo: the bottleneck is a quantizer from
``tokenizers_zoo.quantizers`` (discrete ids) or a diagonal Gaussian (continuous
latents). The downsampling factor is ``2 ** (len(channel_mult) - 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from tokenizers_zoo.errors import InvalidTokensError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.models import Decoder, DiagonalGaussian, Encoder
from tokenizers_zoo.quantizers import (
    BSQ,
    FSQ,
    LFQ,
    MultiScaleResidualVQ,
    Quantizer,
    ResidualVQ,
    SimVQ,
    VectorQuantizer,
)
from tokenizers_zoo.tokenizers.image import ImageTokenizer

_QUANTIZERS = {
    "vq": VectorQuantizer,
    "rvq": ResidualVQ,
    "fsq": FSQ,
    "lfq": LFQ,
    "bsq": BSQ,
    "msvq": MultiScaleResidualVQ,
    "simvq": SimVQ,
}
BOTTLENECKS = (*_QUANTIZERS, "kl")


@dataclass(frozen=True)
class ConvTokenizerConfig:
    """``bottleneck_args`` go to the quantizer's constructor after ``dim``
    (e.g. ``{"levels": [7, 5, 5, 5, 5]}`` for FSQ, ``{"codebook_size": 4096}`` for VQ)."""

    bottleneck: str = "fsq"
    bottleneck_args: dict[str, Any] = field(default_factory=lambda: {"levels": [7, 5, 5, 5, 5]})
    latent_channels: int = 5
    channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 1
    mid_attention: bool = True
    norm_groups: int = 8
    description: str = ""


def build_quantizer(kind: str, dim: int, args: dict[str, Any]) -> Quantizer:
    if kind not in _QUANTIZERS:
        raise ValueError(f"bottleneck must be one of {BOTTLENECKS}, got {kind!r}")
    cls = _QUANTIZERS[kind]
    if cls is FSQ:
        return FSQ(dim=dim, **args)
    if cls in (LFQ, BSQ):
        return cls(dim=dim, **args)
    return cls(dim, **args)


class ConvImageTokenizer(ImageTokenizer):
    Config = ConvTokenizerConfig

    def __init__(self, config: ConvTokenizerConfig = ConvTokenizerConfig(), name: str | None = None) -> None:
        if config.bottleneck not in BOTTLENECKS:
            raise ValueError(f"bottleneck must be one of {BOTTLENECKS}, got {config.bottleneck!r}")
        super().__init__(config, name or f"image-{config.bottleneck}-f{2 ** (len(config.channel_mult) - 1)}")
        continuous = config.bottleneck == "kl"
        arch = dict(
            channels=config.channels,
            channel_mult=tuple(config.channel_mult),
            num_res_blocks=config.num_res_blocks,
            mid_attention=config.mid_attention,
            norm_groups=config.norm_groups,
        )
        c = config.latent_channels
        self.encoder = Encoder(3, 2 * c if continuous else c, **arch)
        self.decoder = Decoder(c, 3, **arch)
        if continuous:
            self.gaussian = DiagonalGaussian()
            self.quantizer = None
        else:
            self.gaussian = None
            self.quantizer = build_quantizer(config.bottleneck, c, dict(config.bottleneck_args))
        self._info = self._make_info()

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.config.channel_mult) - 1)

    def _make_info(self) -> TokenizerInfo:
        f = self.downsample
        common = dict(name=self.name, modality="image", spatial_factor=f, description=self.config.description)
        if self.quantizer is None:
            return TokenizerInfo(kind="continuous", latent_dim=self.config.latent_channels, **common)
        q = self.quantizer
        scales = tuple(q.scales) if isinstance(q, MultiScaleResidualVQ) else ()
        return TokenizerInfo(
            kind="discrete", vocab_size=(q.codebook_size,) * q.num_codebooks, scales=scales, **common
        )

    @property
    def info(self) -> TokenizerInfo:
        return self._info

    # -- training ----------------------------------------------------------------
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Reconstruction, bottleneck loss (quantizer losses or KL) and metrics, for training."""
        h = self.encoder(x).permute(0, 2, 3, 1)
        if self.quantizer is None:
            z, aux = self.gaussian(h)
            metrics = {"kl": aux.detach()}
        else:
            z, _, aux, metrics = self.quantizer(h)
        return self.decoder(z.permute(0, 3, 1, 2).to(x.dtype)), aux, metrics

    # -- tokenizer API ---------------------------------------------------------------
    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        h = self.encoder(x).permute(0, 2, 3, 1)
        if self.quantizer is None:
            return self.gaussian(h, sample=False)[0]
        return self.quantizer(h).indices

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        grid = tuple(math.ceil(s / self.downsample) for s in original_size)
        if self.quantizer is None:
            z = data.float()
        elif isinstance(self.quantizer, MultiScaleResidualVQ):
            z = self.quantizer.indices_to_codes(data, size=grid)
        else:
            z = self.quantizer.indices_to_codes(data)
        images = self.decoder(z.permute(0, 3, 1, 2).to(self.dtype)).float().clamp(-1, 1)
        return self.crop(images, original_size)

    def size_from_token_shape(self, token_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not isinstance(self.quantizer, MultiScaleResidualVQ):
            return super().size_from_token_shape(token_shape)
        side = self.quantizer.scales[-1]  # bare multi-scale ids: the square grid they come from
        for grid in range(1, 4 * side + 1):
            if self.quantizer.num_tokens(grid, grid) == token_shape[0]:
                return (grid * self.downsample, grid * self.downsample)
        raise InvalidTokensError(f"{token_shape[0]} multi-scale tokens match no square grid")
