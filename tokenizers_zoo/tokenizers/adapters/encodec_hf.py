"""EnCodec 24 kHz through transformers' ``EncodecModel`` and its hub checkpoint
(``facebook/encodec_24khz``): the same codec as ``audio-encodec-24khz`` (which runs the
``encodec`` package on Meta's ``.th`` files), for machines that have the transformers copy
of the weights, and so the two can be compared. 75 frames/s, codebooks of 1024; the
bandwidth (1.5, 3, 6, 12 or 24 kbps: 2 to 32 codebooks) per call, 6 kbps by default."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.bandwidth_codec import BandwidthCodecAdapter


class EncodecHFTokenizer(BandwidthCodecAdapter):
    library_class = "EncodecModel"

    @staticmethod
    def library_rate(config: Any) -> int:
        return config.sampling_rate

    def codes(self, x: Tensor, bandwidth: float) -> Tensor:
        codes = self.library_model.encode(x, bandwidth=bandwidth).audio_codes
        return codes[0]  # (chunks, B, n_q, frames): the 24 kHz model is one chunk

    def samples(self, codes: Tensor) -> Tensor:
        return self.library_model.decode(codes.unsqueeze(0), [None]).audio_values


register(
    "audio-encodec-24khz-hf",
    EncodecHFTokenizer,
    {
        "repository": "facebook/encodec_24khz",
        "revision": "c1dbe2ae3f1de713481a3b3e7c47f357092ee040",
        "files": ["config.json", "model.safetensors"],
        "licence": "CC-BY-NC-4.0",
        "sample_rate": 24000,
        "hop_length": 320,
        "codebooks": 32,
        "codebook_size": 1024,
        "bandwidths": [1.5, 3.0, 6.0, 12.0, 24.0],
        "bandwidth": 6.0,
    },
    description="EnCodec 24 kHz mono (Meta, transformers), 8 x 1024 codes at 75 frames/s (6 kbps; 1.5-24)",
)
