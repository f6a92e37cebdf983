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

from tokenizers_zoo.info import MemoryCost, TokenizerInfo
from tokenizers_zoo.models import Decoder, DiagonalGaussian, Encoder
from tokenizers_zoo.quantizers import Quantizer, build_quantizer, describe_quantizer, quantizer_names
from tokenizers_zoo.registry import load, register
from tokenizers_zoo.tokenizers.image.base import ImageTokenizer


def bottlenecks() -> tuple[str, ...]:
    """What ``ConvTokenizerConfig.bottleneck`` may name: every quantizer the factory
    builds (``tokenizers_zoo.quantizers.quantizer_names()``) and ``"kl"``."""
    return (*quantizer_names(), "kl")


#: The bottlenecks of the built-in quantizers; ``bottlenecks()`` includes any added later.
BOTTLENECKS = bottlenecks()


@dataclass(frozen=True)
class ConvTokenizerConfig:
    """``bottleneck_args`` are the options of ``build_quantizer(bottleneck, latent_channels,
    **bottleneck_args)`` (e.g. ``{"levels": [7, 5, 5, 5, 5]}`` for FSQ,
    ``{"codebook_size": 4096}`` for VQ). ``autoencoder_from`` names a registered tokenizer of
    the same architecture and latent width (a continuous one, typically) whose encoder and
    decoder a fresh training run starts from, so a discrete tokenizer begins where a trained
    continuous one is and only has to learn to quantize its latents."""

    bottleneck: str = "fsq"
    bottleneck_args: dict[str, Any] = field(default_factory=lambda: {"levels": [7, 5, 5, 5, 5]})
    latent_channels: int = 5
    channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 1
    mid_attention: bool = True
    norm_groups: int = 8
    autoencoder_from: str = ""


def downsample_factor(config: ConvTokenizerConfig) -> int:
    return 2 ** (len(config.channel_mult) - 1)


def autoencoder_arguments(config: ConvTokenizerConfig) -> dict[str, Any]:
    """What the encoder and decoder are built with (besides their in and out channels);
    the causal video tokenizer builds its 3-D pair from the same settings."""
    return dict(
        channels=config.channels,
        channel_mult=tuple(config.channel_mult),
        num_res_blocks=config.num_res_blocks,
        mid_attention=config.mid_attention,
        norm_groups=config.norm_groups,
    )


def encoder_channels(config: ConvTokenizerConfig) -> int:
    """The encoder's output: the latent, or its mean and log-variance for ``kl``."""
    return 2 * config.latent_channels if config.bottleneck == "kl" else config.latent_channels


def build_bottleneck(config: ConvTokenizerConfig) -> tuple[DiagonalGaussian | None, Quantizer | None]:
    """``(gaussian, None)`` for ``kl``, else ``(None, quantizer)``."""
    if config.bottleneck == "kl":
        return DiagonalGaussian(), None
    return None, build_quantizer(config.bottleneck, config.latent_channels, **config.bottleneck_args)


class ConvImageTokenizer(ImageTokenizer):
    Config = ConvTokenizerConfig

    def __init__(self, config: ConvTokenizerConfig = ConvTokenizerConfig(), name: str | None = None) -> None:
        name = name or f"image-{config.bottleneck}-f{downsample_factor(config)}"
        self.describe(config, name)  # checks the bottleneck and its options first
        super().__init__(config, name)
        arch = autoencoder_arguments(config)
        self.encoder = Encoder(3, encoder_channels(config), **arch)
        self.decoder = Decoder(config.latent_channels, 3, **arch)
        self.gaussian, self.quantizer = build_bottleneck(config)

    @classmethod
    def describe(cls, config: ConvTokenizerConfig, name: str) -> TokenizerInfo:
        """The ``info`` of ``cls(config, name)``, from the config alone (no model built)."""
        if config.bottleneck not in bottlenecks():
            raise ValueError(f"bottleneck must be one of {bottlenecks()}, got {config.bottleneck!r}")
        common = dict(name=name, modality="image", spatial_factor=downsample_factor(config))
        if config.bottleneck == "kl":
            return TokenizerInfo(kind="continuous", latent_dim=config.latent_channels, **common)
        spec = describe_quantizer(config.bottleneck, config.latent_channels, **config.bottleneck_args)
        return TokenizerInfo(kind="discrete", vocab_size=spec.vocab_size, scales=spec.scales, **common)

    @property
    def downsample(self) -> int:
        return downsample_factor(self.config)

    def init_weights(self) -> None:
        """A fresh training run starts from ``autoencoder_from``'s encoder and decoder."""
        if self.config.autoencoder_from:
            self.take_autoencoder(load(self.config.autoencoder_from))

    def take_autoencoder(self, source: ConvImageTokenizer) -> None:
        """Copy ``source``'s encoder and decoder; where a ``kl`` encoder's output holds the
        latent's mean and log-variance, the mean's half is taken. The bottleneck (a
        quantizer's projections) keeps its own initialisation."""
        if not isinstance(source, ConvImageTokenizer):
            raise ValueError(f"{source.name} is not a ConvImageTokenizer: its autoencoder cannot be taken")
        shape = (autoencoder_arguments(source.config), source.config.latent_channels)
        if shape != (autoencoder_arguments(self.config), self.config.latent_channels):
            raise ValueError(
                f"{source.name}'s encoder and decoder differ from {self.name}'s in shape "
                f"({shape[0]}, {shape[1]} latent channels)"
            )
        self.decoder.load_state_dict(source.decoder.state_dict())
        weights = source.encoder.state_dict()
        for key in ("conv_out.weight", "conv_out.bias"):
            weights[key] = weights[key][: self.config.latent_channels]
        self.encoder.load_state_dict(weights)

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
        else:
            z = self.quantizer.indices_to_grid_codes(data, grid)
        images = self.decoder(z.permute(0, 3, 1, 2).to(self.dtype)).float().clamp(-1, 1)
        return self.crop(images, original_size)

    def size_from_token_shape(self, token_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.quantizer is None:
            return super().size_from_token_shape(token_shape)
        return tuple(g * self.downsample for g in self.quantizer.grid_for_token_shape(token_shape))


# Trained with the recipe: configs/<name>.yaml (how, and what they reach: README). Their
# architecture settings are in the shipped checkpoints' config.json; the memory costs are
# what `tzoo bench memory` measured (bytes per pixel to encode, to decode) with 10% to spare.
_TRAINED = (
    # name, description, memory cost, default for its kind; measured: 652 / 776 B/pixel
    (
        "image-fsq-f8-4k",
        "f8 FSQ [7,5,5,5,5] (4375 codes), conv encoder/decoder trained on photos",
        MemoryCost("pixel", 0, 720, 0, 860),
        False,
    ),
    # measured: 652 / 776 B/pixel
    (
        "image-fsq-f8-64k",
        "f8 FSQ [8,8,8,5,5,5] (64000 codes), from image-kl-f8-c16's autoencoder, on six photo collections",
        MemoryCost("pixel", 0, 720, 0, 860),
        False,
    ),
    # image-fsq-f8-64k's architecture, so its measured cost
    (
        "image-fsq-f8-64k-six",
        "f8 FSQ [8,8,8,5,5,5] (64000 codes), from image-kl-f8-c16-six's autoencoder, six photo collections",
        MemoryCost("pixel", 0, 720, 0, 860),
        True,
    ),
    # measured: 652 / 904 B/pixel
    (
        "image-kl-f8-c16",
        "f8 diagonal-Gaussian latents, 16 channels, conv encoder/decoder trained on photos",
        MemoryCost("pixel", 0, 720, 0, 1000),
        False,
    ),
    # image-kl-f8-c16's architecture, so its measured cost
    (
        "image-kl-f8-c16-six",
        "f8 diagonal-Gaussian latents, 16 channels, image-kl-f8-c16 continued on six photo collections",
        MemoryCost("pixel", 0, 720, 0, 1000),
        True,
    ),
)
for _name, _description, _memory, _default in _TRAINED:
    register(
        _name,
        ConvImageTokenizer,
        description=_description,
        weights=f"weights/{_name}",
        memory=_memory,
        default=_default,
    )
