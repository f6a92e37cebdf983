"""EnCodec 24 kHz through transformers' ``EncodecModel`` and its hub checkpoint
(``facebook/encodec_24khz``): the same codec as ``audio-encodec-24khz`` (which runs the
``encodec`` package on Meta's ``.th`` files), for machines that have the transformers copy
of the weights, and so the two can be compared. 75 frames/s, codebooks of 1024; the
bandwidth (1.5, 3, 6, 12 or 24 kbps: 2 to 32 codebooks) per call, 6 kbps by default."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.audio_codec import codec_info
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig, PretrainedAdapter
from tokenizers_zoo.tokenizers.audio.multirate import MultiRateAudioTokenizer


@dataclass(frozen=True)
class EncodecHFConfig(AdapterConfig):
    """``codebooks`` is the count at the highest bandwidth."""

    sample_rate: int = 24000
    hop_length: int = 320
    codebooks: int = 32
    codebook_size: int = 1024
    bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0, 12.0, 24.0)
    bandwidth: float = 6.0


class EncodecHFTokenizer(PretrainedAdapter, MultiRateAudioTokenizer):
    Config = EncodecHFConfig
    library = "transformers"
    library_class = "EncodecModel"

    @classmethod
    def describe(cls, config: EncodecHFConfig, name: str) -> TokenizerInfo:
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
            "sample_rate": config.sampling_rate,
            "hop_length": config.hop_length,
            "codebooks": round(max(config.target_bandwidths) * 1000 / (config.frame_rate * bits)),
            "codebook_size": config.codebook_size,
            "bandwidths": list(config.target_bandwidths),
        }

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        codes = self.library_model.encode(x, bandwidth=options["bandwidth"]).audio_codes
        return codes[0]  # (chunks, B, n_q, frames): the 24 kHz model is one chunk

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        audio = self.library_model.decode(data.unsqueeze(0), [None]).audio_values
        return self.trim(audio, original_size)


register(
    "audio-encodec-24khz-hf",
    EncodecHFTokenizer,
    {
        "repository": "facebook/encodec_24khz",
        "revision": "main",
        "files": ["config.json", "model.safetensors"],
        "licence": "MIT",
        "bandwidth": 6.0,
    },
    description="EnCodec 24 kHz mono (Meta, transformers), 8 x 1024 codes at 75 frames/s (6 kbps; 1.5-24)",
)
