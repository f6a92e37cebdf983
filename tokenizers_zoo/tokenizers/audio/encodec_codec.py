"""EnCodec (Défossez et al., 2022) through the ``encodec`` package: the audio tokens of VALL-E,
Bark and MusicGen-style models, with Meta's published weights.

The model, its checkpoints and its codes are encodec's own; this module adds what the
zoo needs around them: weights found offline (``encodec_weights``), bandwidth per call
or per entry, long audio in windows with bounded memory, and the 48 kHz model's
loudness scales carried with its tokens. Tokens are ``(n_q, frames)`` per item, the
layout ``model.encode`` gives, with ``n_q`` set by the bandwidth: 24 kHz at 75 frames/s
(1.5, 3, 6, 12, 24 kbps = 2, 4, 8, 16, 32 codebooks of 1024), 48 kHz stereo at 150
frames/s (3, 6, 12, 24 kbps = 2, 4, 8, 16 codebooks).
"""

from __future__ import annotations

import math
import warnings
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from encodec import EncodecModel
from torch import Tensor

from tokenizers_zoo.errors import CheckpointError, InvalidTokensError
from tokenizers_zoo.info import MemoryCost, TokenizerInfo
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.audio.causal_stream import CausalStream
from tokenizers_zoo.tokenizers.audio.encodec_weights import find_checkpoint
from tokenizers_zoo.tokenizers.audio.multirate import MultiRateAudioTokenizer
from tokenizers_zoo.tokens import PER_ITEM, Tokens


@dataclass(frozen=True)
class EncodecConfig:
    """``bandwidth`` (kbps) is used when ``encode`` is given none: 6.0 by default, the rate
    VALL-E and Bark model (8 codebooks at 24 kHz). ``repository`` is a directory with
    encodec's checkpoint files, searched before ``$TZOO_ENCODEC_DIR`` and torch hub's cache."""

    bandwidth: float = 6.0
    repository: str | None = None


@dataclass(frozen=True)
class Encodec24Config(EncodecConfig):
    """``window_seconds``: long audio is encoded and decoded in windows of this length
    (whole frames), so memory follows the window, not the audio; codes are those of one pass."""

    window_seconds: float = 5.0


class EncodecTokenizer(MultiRateAudioTokenizer):
    """What both EnCodec models share: the model, its weights, its bandwidths and info.
    Subclasses give the checkpoint name and how encodec builds the model."""

    checkpoint: ClassVar[str]
    #: encodec's model as data, so the registry can describe it unbuilt (a test checks each
    #: against the built model): rate, channels, samples per frame, codebooks at the highest
    #: bandwidth, codes per codebook.
    sample_rate: ClassVar[int]
    audio_channels: ClassVar[int]
    hop_length: ClassVar[int] = 320
    max_codebooks: ClassVar[int]
    codebook_size: ClassVar[int] = 1024

    def __init__(self, config: EncodecConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        with warnings.catch_warnings():  # encodec uses torch's older weight_norm; that is encodec's to change
            warnings.filterwarnings("ignore", message=".*weight_norm.*", category=FutureWarning)
            self.model = self.build_model()
        if config.bandwidth not in self.bandwidths:
            raise ValueError(f"bandwidth must be one of {self.bandwidths} kbps, got {config.bandwidth}")

    @staticmethod
    @abstractmethod
    def build_model() -> EncodecModel:
        """encodec's model with random weights (``load_weights`` fills them in)."""

    @property
    def bandwidths(self) -> tuple[float, ...]:
        return tuple(float(b) for b in self.model.target_bandwidths)

    @property
    def default_bandwidth(self) -> float:
        return self.config.bandwidth

    @classmethod
    def describe(cls, config: EncodecConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="audio",
            kind="discrete",
            vocab_size=(cls.codebook_size,) * cls.max_codebooks,
            temporal_factor=cls.hop_length,
            sample_rate=cls.sample_rate,
            channels=cls.audio_channels,
        )

    def locate_weights(self, weights: Path | None) -> Path:
        return find_checkpoint(self.checkpoint, weights, self.config.repository)

    def load_weights(self, path: str | Path) -> None:
        """encodec's ``.th`` state dict, or a ``model.safetensors`` from ``save_pretrained``."""
        path = Path(path)
        if path.suffix == ".safetensors":
            return super().load_weights(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs
        except Exception as exc:  # torch reports a bad file through many types
            raise CheckpointError(f"{path} is not a readable EnCodec checkpoint: {exc}") from exc
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} holds a {type(state).__name__}, not an EnCodec state dict")
        self.load_checked({f"model.{key}": value for key, value in state.items()}, path)

    def pad_to_frames(self, x: Tensor) -> Tensor:
        return x  # encodec pads the end itself (by reflection); zeros would change the last codes


class Encodec24kTokenizer(EncodecTokenizer):
    """EnCodec 24 kHz mono: causal, no normalisation, so audio of any length is one stream.
    Audio longer than ``window_seconds`` runs window by window through ``CausalStream``
    (same codes as one pass, memory bounded by the window), both ways."""

    Config = Encodec24Config
    checkpoint = "encodec_24khz-d7cc33bc.th"
    sample_rate = 24000
    audio_channels = 1
    max_codebooks = 32

    def __init__(self, config: Encodec24Config = Encodec24Config(), name: str | None = None) -> None:
        super().__init__(config, name or "audio-encodec-24khz")
        # The first window is reflect-padded as a whole input is, which needs it longer than
        # the widest kernel (7 frames).
        if self.window_frames < 8:
            raise ValueError(f"window_seconds must cover at least 8 frames, got {config.window_seconds}")

    @staticmethod
    def build_model() -> EncodecModel:
        return EncodecModel.encodec_model_24khz(pretrained=False)

    @property
    def window_frames(self) -> int:
        return int(self.config.window_seconds * self.frame_rate)

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        bandwidth = options["bandwidth"]
        window = self.window_frames * self.info.temporal_factor
        if x.shape[-1] <= window:
            return self._quantize(self.model.encoder(x), bandwidth)
        stream = CausalStream(self.model.encoder)
        codes = [self._quantize(stream(x[..., part], last), bandwidth) for part, last in _windows(x, window)]
        return torch.cat(codes, dim=-1)

    def _quantize(self, embeddings: Tensor, bandwidth: float) -> Tensor:
        codes = self.model.quantizer.encode(embeddings, self.model.frame_rate, bandwidth)
        return codes.transpose(0, 1)  # (n_q, B, T) -> (B, n_q, T), as model.encode gives

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        window = self.window_frames
        if data.shape[-1] <= window:
            return self.trim(self.model.decode([(data, None)]), original_size)
        stream = CausalStream(self.model.decoder)
        quantizer = self.model.quantizer
        pieces = [
            stream(quantizer.decode(data[..., part].transpose(0, 1)), last)
            for part, last in _windows(data, window)
        ]
        return self.trim(torch.cat(pieces, dim=-1), original_size)


def _windows(x: Tensor, size: int) -> list[tuple[slice, bool]]:
    """Consecutive slices of ``size`` along the last axis of ``x``, each with whether it is the last."""
    total = x.shape[-1]
    return [(slice(start, start + size), start + size >= total) for start in range(0, total, size)]


class Encodec48kTokenizer(EncodecTokenizer):
    """EnCodec 48 kHz stereo (mono input is played on both channels). encodec cuts the audio
    into 1 s segments overlapping by 1% (10 ms), divides each by its RMS loudness and
    decodes them with a cross-fade; so an item has one loudness scale per segment, which
    ``encode`` keeps in ``Tokens.extras["per_item"]`` (``{"scales": [...]}`` per item)
    and ``decode`` needs: bare ids from a model cannot be decoded, since they say nothing
    of loudness. Segments are encoded separately, so frames per item are
    ``sum(ceil(segment / 320))`` (``token_shape_for``), slightly more than
    ``info.token_shape`` says."""

    Config = EncodecConfig
    checkpoint = "encodec_48khz-7e698e3e.th"
    sample_rate = 48000
    audio_channels = 2
    max_codebooks = 16

    def __init__(self, config: EncodecConfig = EncodecConfig(), name: str | None = None) -> None:
        super().__init__(config, name or "audio-encodec-48khz")

    @staticmethod
    def build_model() -> EncodecModel:
        return EncodecModel.encodec_model_48khz(pretrained=False)

    def segment_lengths(self, samples: int) -> list[int]:
        """Samples in each segment encodec cuts ``samples`` into (the same loop as its encode)."""
        length, stride = self.model.segment_length, self.model.segment_stride
        return [min(length, samples - start) for start in range(0, samples, stride)]

    def token_shape_for(self, original_size: tuple[int, ...], extras: dict[str, Any]) -> tuple[int, ...]:
        codebooks, _ = super().token_shape_for(original_size, extras)
        hop = self.info.temporal_factor
        return (codebooks, sum(math.ceil(n / hop) for n in self.segment_lengths(original_size[0])))

    def encode_items(self, x: Tensor, **options: Any) -> tuple[Tensor, list[dict[str, Any]]]:
        self.model.set_target_bandwidth(options["bandwidth"])
        frames = self.model.encode(x)
        codes = torch.cat([c for c, _ in frames], dim=-1)
        scales = torch.cat([s for _, s in frames], dim=-1).float().cpu()  # (B, segments)
        # 9 significant digits give back the same float32, in half the JSON of a float64 repr.
        return codes, [{"scales": [float(f"{v:.9g}") for v in row]} for row in scales.tolist()]

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        """The ids alone; ``decode`` also needs the scales, which ``encode`` keeps."""
        return self.encode_items(x, **options)[0]

    def validate(self, tokens: Tokens) -> None:
        super().validate(tokens)
        segments = len(self.segment_lengths(tokens.original_size[0]))
        for item in tokens.extras.get(PER_ITEM) or [None] * len(tokens):
            scales = item.get("scales") if isinstance(item, dict) else None
            if not (
                isinstance(scales, list)
                and len(scales) == segments
                and all(isinstance(s, int | float) and math.isfinite(s) and s > 0 for s in scales)
            ):
                raise InvalidTokensError(
                    f"{self.name} decodes with the loudness scale of each of the {segments} segments "
                    f"that encode keeps in extras[{PER_ITEM!r}] ({{'scales': [...]}} per item), got "
                    f"{repr(item)[:80]}; ids without them (e.g. from a model) cannot be decoded"
                )

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        hop = self.info.temporal_factor
        counts = [math.ceil(n / hop) for n in self.segment_lengths(original_size[0])]
        scales = torch.tensor([item["scales"] for item in options[PER_ITEM]], device=data.device)
        frames = [
            (codes, scales[:, j : j + 1].to(self.dtype)) for j, codes in enumerate(data.split(counts, dim=-1))
        ]
        return self.trim(self.model.decode(frames), original_size)


# Meta's weights are not shipped: they are found on this machine or fetched on request
# (encodec_weights.py). 6 kbps by default, the rate VALL-E and Bark model.
register(
    "audio-encodec-24khz",
    Encodec24kTokenizer,
    {"bandwidth": 6.0},
    # tzoo bench memory (random weights): 19.7 MB per second either way; 10% to spare.
    memory=MemoryCost("second", 0, 21.7e6, 0, 21.7e6),
    description="EnCodec 24 kHz mono (Meta), 8 x 1024 codes at 75 frames/s (6 kbps; 1.5-24 by bandwidth=)",
)
register(
    "audio-encodec-48khz",
    Encodec48kTokenizer,
    {"bandwidth": 6.0},
    # tzoo bench memory (random weights): 33 MiB + 0.41 MB per second either way; 10% to spare.
    memory=MemoryCost("second", 36 * 2**20, 0.45e6, 36 * 2**20, 0.45e6),
    description="EnCodec 48 kHz stereo (Meta), 4 x 1024 codes at 150 frames/s (6 kbps; 3-24 by bandwidth=)",
)
