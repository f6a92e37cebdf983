"""Frame-wise video tokenizers: any image tokenizer applied to each frame.

The baseline every temporal tokenizer must beat (it spends the image tokenizer's
tokens on every frame and may flicker), and the way to give a video model exactly
the vocabulary of an image model. ``video-framewise-<image entry>`` exists for every
built-in image entry, with that entry's weights (over the image defaults, the video
defaults for now); ``register_framewise`` adds one for
an image entry registered later.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tokenizers_zoo.errors import CheckpointError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.registry import RegistryEntry, default_tokenizers, get_entry, list_tokenizers, register
from tokenizers_zoo.tokenizer import ARCHITECTURES, WEIGHTS_FILE, Tokenizer
from tokenizers_zoo.tokenizers.video.base import VideoTokenizer

#: The prefix of the image tokenizer's tensors in a frame-wise checkpoint.
IMAGE_PREFIX = "image."


@dataclass(frozen=True)
class FramewiseConfig:
    """The image tokenizer's architecture (an ``ARCHITECTURES`` name) and its config;
    ``frames_per_batch`` bounds how many frames go through it at once, so memory follows
    that, not the clip's length."""

    image_architecture: str = "ConvImageTokenizer"
    image_config: dict[str, Any] = field(default_factory=dict)
    frames_per_batch: int = 16


def _image_class(config: FramewiseConfig) -> type[Tokenizer]:
    arch = ARCHITECTURES.get(config.image_architecture)
    if arch is None:
        raise ValueError(
            f"image_architecture {config.image_architecture!r} is not one of {sorted(ARCHITECTURES)}"
        )
    return arch


class FramewiseVideoTokenizer(VideoTokenizer):
    """Token shape ``(T, *image token grid)``: frame ``t``'s tokens are the image
    tokenizer's tokens of frame ``t``, exactly."""

    Config = FramewiseConfig

    def __init__(self, config: FramewiseConfig = FramewiseConfig(), name: str | None = None) -> None:
        if config.frames_per_batch < 1:
            raise ValueError(f"frames_per_batch must be >= 1, got {config.frames_per_batch}")
        image = _image_class(config).from_config(config.image_config)
        if image.info.modality != "image":
            raise ValueError(f"{config.image_architecture} is not an image tokenizer")
        super().__init__(config, name or f"video-framewise-{image.name}")
        self.image = image

    @classmethod
    def describe(cls, config: FramewiseConfig, name: str) -> TokenizerInfo | None:
        arch = _image_class(config)
        image = arch.describe(arch.config_from_dict(config.image_config), name)
        if image is None:
            return None
        return dataclasses.replace(image, modality="video", temporal_factor=1)

    @property
    def info(self) -> TokenizerInfo:
        """The base class's (cached), or, for an image class that cannot describe itself
        unbuilt, the built image tokenizer's info made a video one, cached the same way."""
        if self._described is None and type(self).describe(self.config, self.name) is None:
            self._described = dataclasses.replace(
                self.image.info,
                name=self.name,
                modality="video",
                temporal_factor=1,
                description=self.description or self.image.info.description,
            )
        return super().info

    def _per_frame(self, x: Tensor, run: Any) -> Tensor:
        """``run`` over ``(N, ...)`` frame batches of at most ``frames_per_batch``, back in
        ``(B, T, ...)``."""
        b, t = x.shape[:2]
        frames = x.reshape(b * t, *x.shape[2:])
        step = self.config.frames_per_batch
        out = torch.cat([run(frames[i : i + step]) for i in range(0, b * t, step)])
        return out.reshape(b, t, *out.shape[1:])

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        return self._per_frame(x.transpose(1, 2), self.image.encode_tensor)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        frames, height, width = original_size
        clips = self._per_frame(data, lambda d: self.image.decode_tensor(d, (height, width)))
        return self.crop(clips.transpose(1, 2), original_size)

    def locate_weights(self, weights: Path | None) -> Path | None:
        """The image entry's checkpoint serves as is: its tensors are this one's, unprefixed."""
        if weights is not None and weights.is_dir():
            return weights / WEIGHTS_FILE
        return weights

    def load_checked(self, state: dict[str, Tensor], path: Path) -> None:
        """A frame-wise checkpoint (``image.``-prefixed tensors) or the image tokenizer's own."""
        if state and not all(k.startswith(IMAGE_PREFIX) for k in state):
            if any(k.startswith(IMAGE_PREFIX) for k in state):
                raise CheckpointError(f"{path} mixes frame-wise and image tensors")
            state = {IMAGE_PREFIX + k: v for k, v in state.items()}
        super().load_checked(state, path)


def framewise_name(image_name: str) -> str:
    return f"video-framewise-{image_name}"


def register_framewise(image_name: str, **kwargs: Any) -> RegistryEntry:
    """Register ``video-framewise-<image_name>`` over a registered image entry, with its
    weights (``kwargs`` go to ``register``)."""
    entry = get_entry(image_name)
    if entry.modality != "image":
        raise ValueError(f"{image_name} is a {entry.modality} tokenizer, not an image one")
    config = {"image_architecture": entry.architecture.__name__, "image_config": entry.settings()}
    sentence = entry.description[:1].lower() + entry.description[1:]
    return register(
        framewise_name(image_name),
        FramewiseVideoTokenizer,
        config,
        description=kwargs.pop("description", f"{image_name} on every frame: {sentence}"),
        weights=kwargs.pop("weights", entry.weights),
        **kwargs,
    )


# Over the image defaults, these are the video defaults until a temporal tokenizer beats
# them on the same clips (``tzoo bench recon``).
_IMAGE_DEFAULTS = set(default_tokenizers().values())
# Over the image entries registered so far: the adapters of other libraries' weights are
# imported after this (tokenizers/__init__.py), since a frame-wise checkpoint cannot hold them.
for _image in list_tokenizers("image"):
    register_framewise(_image, default=_image in _IMAGE_DEFAULTS)
