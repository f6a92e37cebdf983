"""Mimi (Kyutai, 2024) through transformers' ``MimiModel``: Moshi's 24 kHz mono codec, 12.5
frames/s, up to 32 codebooks of 2048 (the first distilled from WavLM, so it carries
semantics). Moshi models 8 codebooks (1.1 kbps), the default here; ``num_codebooks=``
takes 1 to 32."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.audio_codec import AudioCodecAdapter


class MimiTokenizer(AudioCodecAdapter):
    library_class = "MimiModel"

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {
            "sample_rate": config.sampling_rate,
            "hop_length": config.frame_size,
            "codebooks": config.num_quantizers,
            "codebook_size": config.codebook_size,
        }

    def codes(self, x: Tensor, num_codebooks: int) -> Tensor:
        return self.library_model.encode(x, num_quantizers=num_codebooks).audio_codes

    def samples(self, codes: Tensor) -> Tensor:
        return self.library_model.decode(codes).audio_values


register(
    "audio-mimi",
    MimiTokenizer,
    {
        "repository": "kyutai/mimi",
        "revision": "89091b3e466eb6a9d11e537bf26b144f194978f7",
        "files": ["config.json", "model.safetensors"],
        "licence": "CC-BY-4.0",
        "sample_rate": 24000,
        "hop_length": 1920,
        "codebooks": 32,
        "codebook_size": 2048,
        "default_codebooks": 8,
    },
    description="Mimi 24 kHz mono (Kyutai, transformers), 8 x 2048 codes at 12.5 frames/s (1-32 codebooks)",
)
