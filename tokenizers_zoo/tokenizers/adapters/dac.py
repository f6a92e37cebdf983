"""Descript Audio Codec (Kumar et al., 2023) through transformers' ``DacModel``: 16, 24 and
44.1 kHz mono codecs with codebooks of 1024 (12 at 50 frames/s; 32 at 75; 9 at 86.1), as
Parler-TTS and many speech models tokenize. Audio is resampled to the codec's rate and
down-mixed to mono by ``AudioTokenizer``; ``num_codebooks=`` picks a lower bitrate."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.audio_codec import AudioCodecAdapter


class DacTokenizer(AudioCodecAdapter):
    library_class = "DacModel"

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {
            "sample_rate": config.sampling_rate,
            "hop_length": config.hop_length,
            "codebooks": config.n_codebooks,
            "codebook_size": config.codebook_size,
        }

    def codes(self, x: Tensor, num_codebooks: int) -> Tensor:
        return self.library_model.encode(x, n_quantizers=num_codebooks).audio_codes

    def samples(self, codes: Tensor) -> Tensor:
        return self.library_model.decode(audio_codes=codes).audio_values


# (sample rate, hop, codebooks, the commit of descript/dac_<khz>khz the entry is pinned to)
_RATES = (
    (16000, 320, 12, "7c2fc5e759f1f501aefc6e7a0265cc57f5d17ba7"),
    (24000, 320, 32, "6ba020b5ba7d9d8076fb90db7e67f27e31980f6e"),
    (44100, 512, 9, "c1bc521685adf9cfe247bc39a5ca58917eda1ac4"),
)
for _rate, _hop, _books, _commit in _RATES:
    _khz = _rate // 1000
    register(
        f"audio-dac-{_khz}khz",
        DacTokenizer,
        {
            "repository": f"descript/dac_{_khz}khz",
            "revision": _commit,
            "files": ["config.json", "model.safetensors"],
            "licence": "MIT",
            "sample_rate": _rate,
            "hop_length": _hop,
            "codebooks": _books,
            "codebook_size": 1024,
            "default_codebooks": _books,
        },
        description=(
            f"Descript Audio Codec {_rate / 1000:g} kHz mono (transformers), {_books} x 1024 codes at "
            f"{_rate / _hop:.3g} frames/s (fewer by num_codebooks=)"
        ),
    )
