"""Causal 3-D convolutional video tokenizers (MAGVIT-v2 / Cosmos style): time compressed
by ``temporal_factor`` as well as space, with frame 0 encoded alone, so an image is a
one-frame video and images and video share one vocabulary.

A clip of ``T`` frames is padded (its last frame repeated) to ``1 + n * f`` frames and
gives ``1 + n`` latent frames; ``decode`` crops back to ``T``. Encoding and decoding run
in windows of ``window_frames`` (the decoder's: that over ``f``) that carry each causal
conv's state, so memory follows the window while the ids equal a whole-clip pass's;
``encode_stream`` takes frames as a file reader yields them, so a long video is never
in memory whole.

``inflated(image_tokenizer)`` (or ``inflate_from`` in the config, at the start of a
training run) starts from a trained ``ConvImageTokenizer``: until video training
changes the earlier temporal slices, frame 0 tokenizes exactly as the image tokenizer
does, with its vocabulary.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.media.clips import to_video_batch
from tokenizers_zoo.models.causal3d import CausalDecoder3d, CausalEncoder3d, TemporalLayout
from tokenizers_zoo.models.inflation import inflate_weights
from tokenizers_zoo.quantizers import describe_quantizer
from tokenizers_zoo.registry import load, register
from tokenizers_zoo.tokenizers.image.conv import (
    ConvImageTokenizer,
    ConvTokenizerConfig,
    autoencoder_arguments,
    bottlenecks,
    build_bottleneck,
    encoder_channels,
)
from tokenizers_zoo.tokenizers.video.base import VideoTokenizer
from tokenizers_zoo.tokens import Tokens


@dataclass(frozen=True)
class CausalVideoConfig(ConvTokenizerConfig):
    """``ConvTokenizerConfig``'s settings (an image tokenizer it is inflated from must share
    them), then time: ``temporal_stages`` (the resampling stages that halve time; ``None``:
    the last two, factor 4; ``[]``: factor 1), ``temporal_kernels`` (``models.causal3d``),
    ``window_frames`` (frames per encoder window, a multiple of the factor) and
    ``inflate_from`` (a registered image tokenizer a fresh training run starts from)."""

    temporal_stages: tuple[int, ...] | None = None
    temporal_kernels: str = "compressed"
    window_frames: int = 16
    inflate_from: str = ""


def _factors(config: CausalVideoConfig) -> tuple[int, int]:
    """(temporal, spatial) compression."""
    layout = TemporalLayout.build(len(config.channel_mult), config.temporal_stages, config.temporal_kernels)
    return layout.factor, 2 ** (len(config.channel_mult) - 1)


class CausalVideoTokenizer(VideoTokenizer):
    Config = CausalVideoConfig

    def __init__(self, config: CausalVideoConfig = CausalVideoConfig(), name: str | None = None) -> None:
        temporal, spatial = _factors(config)
        name = name or f"video-causal-{config.bottleneck}-{temporal}x{spatial}x{spatial}"
        self.describe(config, name)  # checks the bottleneck and its options first
        if config.window_frames < temporal or config.window_frames % temporal:
            raise ValueError(
                f"window_frames must be a positive multiple of {temporal}, got {config.window_frames}"
            )
        super().__init__(config, name)
        arch = {
            **autoencoder_arguments(config),
            "temporal_stages": config.temporal_stages,
            "temporal_kernels": config.temporal_kernels,
        }
        self.encoder = CausalEncoder3d(3, encoder_channels(config), **arch)
        self.decoder = CausalDecoder3d(config.latent_channels, 3, **arch)
        self.gaussian, self.quantizer = build_bottleneck(config)

    @classmethod
    def describe(cls, config: CausalVideoConfig, name: str) -> TokenizerInfo:
        if config.bottleneck not in bottlenecks():
            raise ValueError(f"bottleneck must be one of {bottlenecks()}, got {config.bottleneck!r}")
        temporal, spatial = _factors(config)
        common = dict(name=name, modality="video", spatial_factor=spatial, temporal_factor=temporal)
        if config.bottleneck == "kl":
            return TokenizerInfo(kind="continuous", latent_dim=config.latent_channels, **common)
        spec = describe_quantizer(config.bottleneck, config.latent_channels, **config.bottleneck_args)
        if spec.scales:
            raise ValueError("multi-scale quantizers lay ids out per image, not per video frame")
        return TokenizerInfo(kind="discrete", vocab_size=spec.vocab_size, **common)

    # -- starting from an image tokenizer ------------------------------------------------
    @classmethod
    def inflated(
        cls, image: ConvImageTokenizer, name: str | None = None, **temporal: Any
    ) -> CausalVideoTokenizer:
        """A causal tokenizer with ``image``'s settings and its weights inflated; ``temporal``
        sets ``temporal_stages``, ``temporal_kernels`` or ``window_frames``."""
        model = cls(CausalVideoConfig(**{**dataclasses.asdict(image.config), **temporal}), name)
        model.inflate(image)
        return model.to(device=image.device, dtype=image.dtype).eval()

    def inflate(self, image: ConvImageTokenizer) -> None:
        """Take ``image``'s trained weights: each 2-D kernel in the current-frame slice of its
        3-D one (``models.inflation``), the quantizer's state as it is."""

        def spatial(config: ConvTokenizerConfig) -> str:  # JSON: lists and tuples alike
            fields = [f.name for f in dataclasses.fields(ConvTokenizerConfig) if f.name != "autoencoder_from"]
            return json.dumps({name: getattr(config, name) for name in fields})

        if spatial(self.config) != spatial(image.config):
            raise ValueError(f"{image.name}'s architecture differs from {self.name}'s: cannot inflate it")
        inflate_weights(self.encoder, image.encoder)
        inflate_weights(self.decoder, image.decoder)
        if self.quantizer is not None:
            self.quantizer.load_state_dict(image.quantizer.state_dict())

    def init_weights(self) -> None:
        """A fresh training run starts from the image tokenizer ``inflate_from`` names."""
        if self.config.inflate_from:
            self.inflate(load(self.config.inflate_from))

    # -- shapes ------------------------------------------------------------------------
    def padded_frames(self, frames: int) -> int:
        factor = self.info.temporal_factor
        return 1 + math.ceil((frames - 1) / factor) * factor

    def size_from_token_shape(self, token_shape: tuple[int, ...]) -> tuple[int, ...]:
        t, h, w = token_shape[:3]
        info = self.info
        return (1 + (t - 1) * info.temporal_factor, h * info.spatial_factor, w * info.spatial_factor)

    # -- training ------------------------------------------------------------------------
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Whole-clip reconstruction, bottleneck loss (quantizer losses or KL) and metrics."""
        h = self.encoder(x).permute(0, 2, 3, 4, 1)
        if self.quantizer is None:
            z, aux = self.gaussian(h)
            metrics = {"kl": aux.detach()}
        else:
            z, _, aux, metrics = self.quantizer(h)
        return self.decoder(z.permute(0, 4, 1, 2, 3).to(x.dtype)), aux, metrics

    # -- tokenizer API -------------------------------------------------------------------
    def _bottleneck(self, h: Tensor) -> Tensor:
        h = h.permute(0, 2, 3, 4, 1)
        if self.quantizer is None:
            return self.gaussian(h, sample=False)[0]
        return self.quantizer(h).indices

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        return self._bottleneck(self.encoder.encode_windows(x, self.config.window_frames))

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        z = data.float() if self.quantizer is None else self.quantizer.indices_to_codes(data)
        window = self.config.window_frames // self.info.temporal_factor
        clips = self.decoder.decode_windows(z.permute(0, 4, 1, 2, 3).to(self.dtype), window)
        return self.crop(clips.float().clamp(-1, 1), original_size)

    @torch.no_grad()
    def encode_stream(self, frames: Iterable[Any], **options: Any) -> Tokens:
        """One clip from frames as they come (``media.video.iter_video``, or any iterable of
        uint8 ``(H, W, 3)`` arrays, PIL images or PyAV frames): ``window_frames`` at a time
        through the encoder, whose causal state carries over, so memory follows the window,
        not the clip. ``options`` are ``encode``'s (``fps``: the clip's rate, kept in the
        tokens' extras). The tokens equal ``encode`` of the whole clip."""
        self._check_options(options)
        options = self.resolve_options(options)
        factor = self.info.temporal_factor
        stream = iter(frames)
        state: dict = {}
        pieces: list[Tensor] = []
        total, size = 0, None
        while window := list(islice(stream, self.config.window_frames + (total == 0))):
            x = to_video_batch(window)
            if size is None:
                size = tuple(x.shape[-2:])
            elif tuple(x.shape[-2:]) != size:
                raise InvalidMediaError(
                    f"frames change size from {size} to {tuple(x.shape[-2:])} at frame {total}"
                )
            target = (
                self.padded_frames(len(window)) if total == 0 else math.ceil(len(window) / factor) * factor
            )
            x = self.pad(x, target).to(self.device, self.dtype)
            pieces.append(self._bottleneck(self.encoder(x, state)))
            total += len(window)
        if size is None:
            raise InvalidMediaError("the stream holds no frames")
        data = torch.cat(pieces, dim=1)
        original = (total, *size)
        if self.info.kind == "discrete":
            return Tokens(self.name, original, ids=data.long(), extras=options)
        return Tokens(self.name, original, latents=data, extras=options)


# Trained with the recipe: configs/<name>.yaml (how, and what they reach: README). They
# reconstruct below the frame-wise image defaults on the held-out clips, which stay the
# video defaults.
_TRAINED = (
    (
        "video-fsq-4x8x8-64k",
        "causal 3-D conv, 4x8x8, FSQ [8,8,8,5,5,5] (image-fsq-f8-64k's 64000 codes), "
        "inflated from image-fsq-f8-64k and trained on clips",
    ),
    (
        "video-fsq-4x8x8-4k",
        "causal 3-D conv, 4x8x8, FSQ [7,5,5,5,5] (image-fsq-f8-4k's 4375 codes), "
        "inflated from image-fsq-f8-4k and trained on clips",
    ),
    (
        "video-kl-4x8x8-c16",
        "causal 3-D conv, 4x8x8, diagonal-Gaussian latents, 16 channels, inflated from "
        "image-kl-f8-c16 and trained on clips",
    ),
)
for _name, _description in _TRAINED:
    register(_name, CausalVideoTokenizer, description=_description, weights=f"weights/{_name}")
