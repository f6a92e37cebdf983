"""What the residual-VQ audio codecs of transformers (DAC, Mimi) share behind the zoo's API:
mono audio at the codec's own rate, ids ``(num_codebooks, frames)`` per item as EnCodec lays
them out, and the number of codebooks chosen per call.

These codecs were trained with quantizer dropout, so the first ``n`` codebooks of the
residual stack decode on their own at a lower bitrate; ``encode(..., num_codebooks=n)``
picks ``n`` (the entry's ``default_codebooks`` when not given), ``Tokens.extras`` records
it, and bare ids are read by their codebook count.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from tokenizers_zoo.errors import InvalidMediaError, InvalidTokensError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig, PretrainedAdapter
from tokenizers_zoo.tokenizers.audio.base import AudioTokenizer
from tokenizers_zoo.tokens import Tokens


@dataclass(frozen=True)
class AudioCodecConfig(AdapterConfig):
    """The codec as data: its rate, samples per frame, codebooks and their size, and how
    many codebooks ``encode`` uses when not told."""

    sample_rate: int = 24000
    hop_length: int = 320
    codebooks: int = 8
    codebook_size: int = 1024
    default_codebooks: int = 8


def codec_info(config: Any, name: str) -> TokenizerInfo:
    """The info of a mono residual-VQ codec from a config with ``sample_rate``,
    ``hop_length``, ``codebooks`` (at its highest bitrate) and ``codebook_size``."""
    return TokenizerInfo(
        name=name,
        modality="audio",
        kind="discrete",
        vocab_size=(config.codebook_size,) * config.codebooks,
        temporal_factor=config.hop_length,
        sample_rate=config.sample_rate,
        channels=1,
    )


class AudioCodecAdapter(PretrainedAdapter, AudioTokenizer):
    """Subclasses give the library's encode (``codes``) and decode (``samples``) calls."""

    Config = AudioCodecConfig
    library = "transformers"
    options = ("num_codebooks",)

    @classmethod
    def describe(cls, config: AudioCodecConfig, name: str) -> TokenizerInfo:
        return codec_info(config, name)

    @abstractmethod
    def codes(self, x: Tensor, num_codebooks: int) -> Tensor:
        """``(B, 1, T)`` at the codec's rate, a whole number of frames -> ``(B, n, frames)``."""

    @abstractmethod
    def samples(self, codes: Tensor) -> Tensor:
        """``(B, n, frames)`` -> ``(B, 1, T)`` or ``(B, T)``, as the library gives it."""

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        count = options.get("num_codebooks", self.config.default_codebooks)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= self.config.codebooks:
            raise InvalidMediaError(
                f"{self.name} encodes with 1 to {self.config.codebooks} codebooks, not {count!r}"
            )
        return {"num_codebooks": count}

    def token_shape_for(self, original_size: tuple[int, ...], extras: dict[str, Any]) -> tuple[int, ...]:
        count = extras.get("num_codebooks", self.config.default_codebooks)
        return (count, self.info.token_shape(original_size)[1])

    def wrap(self, data: Tensor) -> Tokens:
        tokens = super().wrap(data)
        count = int(data.shape[1])
        if not 1 <= count <= self.config.codebooks:
            raise InvalidTokensError(
                f"{self.name} ids have 1 to {self.config.codebooks} codebooks, not {count}"
            )
        tokens.extras = {"num_codebooks": count}
        return tokens

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        return self.codes(x, options["num_codebooks"])

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        audio = self.samples(data)
        audio = audio if audio.ndim == 3 else audio.unsqueeze(1)
        # DAC's decoder gives a few samples fewer than the frames cover; the zoo's contract
        # is the original length, so the tail is padded with silence.
        short = original_size[0] - audio.shape[-1]
        return F.pad(audio, (0, short)) if short > 0 else self.trim(audio, original_size)
