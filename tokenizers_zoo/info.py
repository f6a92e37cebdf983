"""What a tokenizer is, in data: enough for a caller to size buffers and vocabularies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Modality = Literal["image", "video", "audio"]
Kind = Literal["discrete", "continuous"]
MODALITIES: tuple[str, ...] = ("image", "video", "audio")
KINDS: tuple[str, ...] = ("discrete", "continuous")


def scale_sizes(scales: Sequence[int], height: int, width: int) -> list[tuple[int, int]]:
    """Token map size of each scale of a multi-scale (VAR) tokenizer for an ``height x width``
    grid: scale ``s`` covers ``round(s * H / scales[-1]) x round(s * W / scales[-1])``."""
    last = scales[-1]
    return [(max(1, round(s * height / last)), max(1, round(s * width / last))) for s in scales]


@dataclass(frozen=True)
class TokenizerInfo:
    """Static description of a tokenizer.

    Token layouts (per item, without the batch axis):
    - image: ``(h, w)`` ids, ``(h, w, num_codebooks)`` when several codebooks,
      ``(h, w, latent_dim)`` latents; ``h = ceil(H / spatial_factor)``.
    - video: the same with a leading ``t = ceil(T / temporal_factor)``.
    - audio: ``(num_codebooks, frames)`` ids as EnCodec lays them out, or
      ``(frames, latent_dim)`` latents; ``frames = ceil(samples / temporal_factor)``.

    ``scales`` is set for multi-scale (VAR) image tokenizers: their ids per item are
    one flat sequence, coarse to fine, of ``sum(h_k * w_k)`` tokens.

    ``sample_rate`` is the rate audio is tokenized at (``None``: any rate, kept as
    given). ``vocab_size`` has one entry per codebook and is empty for continuous
    tokenizers.
    """

    name: str
    modality: Modality
    kind: Kind
    vocab_size: tuple[int, ...] = ()
    latent_dim: int | None = None
    spatial_factor: int = 1
    temporal_factor: int = 1
    sample_rate: int | None = None
    channels: int = 3
    description: str = ""
    scales: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "discrete" and not self.vocab_size:
            raise ValueError("a discrete tokenizer needs vocab_size")
        if self.kind == "continuous" and not self.latent_dim:
            raise ValueError("a continuous tokenizer needs latent_dim")
        object.__setattr__(self, "vocab_size", tuple(int(v) for v in self.vocab_size))
        object.__setattr__(self, "scales", tuple(int(s) for s in self.scales))

    @property
    def num_codebooks(self) -> int:
        return len(self.vocab_size)

    def token_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Token shape for one item: ``input_shape`` is ``(H, W)`` for images,
        ``(T, H, W)`` for video and ``(samples,)`` for audio (at ``sample_rate``)."""
        shape = tuple(int(s) for s in input_shape)
        expected = {"image": 2, "video": 3, "audio": 1}[self.modality]
        if len(shape) != expected or min(shape, default=0) < 1:
            raise ValueError(f"{self.modality} input_shape must be {expected} positive sizes, got {shape}")
        if self.modality == "audio":
            frames = math.ceil(shape[0] / self.temporal_factor)
            if self.kind == "discrete":
                return (self.num_codebooks, frames)
            return (frames, self.latent_dim)
        grid = tuple(math.ceil(s / self.spatial_factor) for s in shape[-2:])
        if self.modality == "video":
            grid = (math.ceil(shape[0] / self.temporal_factor), *grid)
        if self.kind == "continuous":
            return (*grid, self.latent_dim)
        if self.scales:
            return (sum(h * w for h, w in scale_sizes(self.scales, *grid[-2:])),)
        return (*grid, self.num_codebooks) if self.num_codebooks > 1 else grid

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vocab_size"] = list(self.vocab_size)
        data["scales"] = list(self.scales)
        data["num_codebooks"] = self.num_codebooks
        return data


@dataclass(frozen=True)
class MemoryCost:
    """Memory one encode or decode of one item needs beyond the loaded model, as measured by
    ``tzoo bench memory``: ``fixed`` bytes plus ``per_unit`` bytes per pixel of the image
    (``unit="pixel"``) or per second of audio (``unit="second"``). The service admits a
    request only when this fits its memory budget; a batch costs the sum of its items."""

    unit: Literal["pixel", "second"]
    encode_fixed: float
    encode_per_unit: float
    decode_fixed: float
    decode_per_unit: float

    def bytes(self, op: str, units: float) -> float:
        """Bytes for one ``op`` (``"encode"`` or ``"decode"``) of ``units`` pixels or seconds."""
        if op == "encode":
            return self.encode_fixed + self.encode_per_unit * units
        return self.decode_fixed + self.decode_per_unit * units
