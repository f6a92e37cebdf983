"""X-Codec (Ye et al., 2024) through transformers' ``XcodecModel``: a 16 kHz codec whose
residual VQ quantizes acoustic (DAC) and semantic (HuBERT) features together, so its first
codebooks carry content, as audio language models want. 50 frames/s, codebooks of 1024;
``bandwidth=`` 0.5, 1, 1.5, 2 or 4 kbps (1, 2, 3, 4 or 8 codebooks), 2 kbps by default."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.bandwidth_codec import BandwidthCodecAdapter


class XcodecTokenizer(BandwidthCodecAdapter):
    library_class = "XcodecModel"

    @staticmethod
    def library_rate(config: Any) -> int:
        return config.sample_rate

    def codes(self, x: Tensor, bandwidth: float) -> Tensor:
        return self.library_model.encode(x, bandwidth=bandwidth).audio_codes

    def samples(self, codes: Tensor) -> Tensor:
        return self.library_model.decode(codes).audio_values


register(
    "audio-xcodec",
    XcodecTokenizer,
    {
        "repository": "hf-audio/xcodec-hubert-librispeech",
        "revision": "main",
        "files": ["config.json", "model.safetensors"],
        "licence": "unverified offline: see the model card",
        "sample_rate": 16000,
        "hop_length": 320,
        "codebooks": 8,
        "codebook_size": 1024,
        "bandwidths": [0.5, 1.0, 1.5, 2.0, 4.0],
        "bandwidth": 2.0,
    },
    description="X-Codec 16 kHz mono (HuBERT + DAC, transformers), 4 x 1024 codes at 50 frames/s (2 kbps)",
)
