"""What transformers' residual-VQ codecs with target bandwidths (EnCodec, X-Codec) share
behind the zoo's API: mono audio at the codec's rate, ids ``(n_q, frames)`` per item, and
the bitrate chosen per call with ``bandwidth=`` (kbps), which sets ``n_q`` as for the
``encodec``-package entries (``MultiRateAudioTokenizer``)."""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.tokenizers.adapters.audio_codec import codec_info
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig, PretrainedAdapter
from tokenizers_zoo.tokenizers.audio.multirate import MultiRateAudioTokenizer


@dataclass(frozen=True)
class BandwidthCodecConfig(AdapterConfig):
    """``codebooks`` is the count at the highest of ``bandwidths``; ``bandwidth`` the default."""

    sample_rate: int = 24000
    hop_length: int = 320
    codebooks: int = 32
    codebook_size: int = 1024
    bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0, 12.0, 24.0)
    bandwidth: float = 6.0


class BandwidthCodecAdapter(PretrainedAdapter, MultiRateAudioTokenizer):
    """Subclasses give the library's calls: ``codes`` and ``samples``."""

    Config = BandwidthCodecConfig
    library = "transformers"

    @classmethod
    def describe(cls, config: BandwidthCodecConfig, name: str) -> TokenizerInfo:
        return codec_info(config, name)

    @property
    def bandwidths(self) -> tuple[float, ...]:
        return tuple(float(b) for b in self.config.bandwidths)

    @property
    def default_bandwidth(self) -> float:
        return self.config.bandwidth

    def library_facts(self, config: Any) -> dict[str, Any]:
        bits = math.log2(config.codebook_size)
        return {
            "sample_rate": self.library_rate(config),
            "hop_length": config.hop_length,
            "codebooks": round(max(config.target_bandwidths) * 1000 / (config.frame_rate * bits)),
            "codebook_size": config.codebook_size,
            "bandwidths": [float(b) for b in config.target_bandwidths],
        }

    @staticmethod
    @abstractmethod
    def library_rate(config: Any) -> int:
        """The sample rate the library's config gives (its name differs between models)."""

    @abstractmethod
    def codes(self, x: Tensor, bandwidth: float) -> Tensor:
        """``(B, 1, T)`` -> ``(B, n_q, frames)``."""

    @abstractmethod
    def samples(self, codes: Tensor) -> Tensor:
        """``(B, n_q, frames)`` -> ``(B, 1, T)``."""

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        return self.codes(x, options["bandwidth"])

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        return self.trim(self.samples(data), original_size)
