"""Whisper's encoder (Radford et al., 2022) through transformers' ``WhisperModel``: the
continuous audio embeddings Qwen-Audio-style understanding models read, encode only.

Audio is brought to 16 kHz mono (``AudioTokenizer``) and turned into Whisper's log-mel
features by transformers' own ``WhisperFeatureExtractor`` (25 ms windows, 10 ms hop,
``num_mel_bins`` bands, each 30 s window padded with silence, as Whisper was trained). The
encoder halves the frame rate: one token per 20 ms (320 samples), ``(frames, d_model)``
per item. Audio longer than 30 s is encoded window by window and the tokens of the padding
are dropped, so an item has ``ceil(T / 320)`` tokens whatever its length. Only the encoder
is kept in memory. There is no decoder back to audio: ``decode`` raises ``EncodeOnlyError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tokenizers_zoo.errors import EncodeOnlyError
from tokenizers_zoo.info import TokenizerInfo
from tokenizers_zoo.published import require
from tokenizers_zoo.registry import register
from tokenizers_zoo.tokenizers.adapters.pretrained import AdapterConfig, PretrainedAdapter
from tokenizers_zoo.tokenizers.audio.base import AudioTokenizer

SAMPLE_RATE = 16000
MEL_HOP = 160
WINDOW_SECONDS = 30


@dataclass(frozen=True)
class WhisperEncoderConfig(AdapterConfig):
    num_mel_bins: int = 128
    d_model: int = 1280


class WhisperEncoderTokenizer(PretrainedAdapter, AudioTokenizer):
    Config = WhisperEncoderConfig
    library = "transformers"
    library_class = "WhisperModel"

    @classmethod
    def describe(cls, config: WhisperEncoderConfig, name: str) -> TokenizerInfo:
        return TokenizerInfo(
            name=name,
            modality="audio",
            kind="continuous",
            latent_dim=config.d_model,
            temporal_factor=2 * MEL_HOP,
            sample_rate=SAMPLE_RATE,
            channels=1,
        )

    def library_facts(self, config: Any) -> dict[str, Any]:
        return {"num_mel_bins": config.num_mel_bins, "d_model": config.d_model}

    def keep(self, model: nn.Module) -> nn.Module:
        return model.get_encoder()

    def features(self, audio: Tensor) -> Tensor:
        """``(B, T)`` at 16 kHz, at most 30 s -> Whisper's log-mel ``(B, mels, 3000)``."""
        transformers = require("transformers", self.name)
        extractor = transformers.WhisperFeatureExtractor(
            feature_size=self.config.num_mel_bins, sampling_rate=SAMPLE_RATE, hop_length=MEL_HOP
        )
        items = [item.float().cpu().numpy() for item in audio]
        features = extractor(items, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        return features.to(audio.device, self.dtype)

    def encode_tensor(self, x: Tensor, **options: Any) -> Tensor:
        window = WINDOW_SECONDS * SAMPLE_RATE
        hop = self.info.temporal_factor
        pieces = []
        for start in range(0, x.shape[-1], window):
            part = x[:, 0, start : start + window]
            hidden = self.library_model(self.features(part)).last_hidden_state
            pieces.append(hidden[:, : math.ceil(part.shape[-1] / hop)])
        return torch.cat(pieces, dim=1)

    def decode_tensor(self, data: Tensor, original_size: tuple[int, ...], **options: Any) -> Tensor:
        raise EncodeOnlyError(f"{self.name} only encodes: Whisper's encoder embeddings have no decoder")


register(
    "audio-whisper-encoder",
    WhisperEncoderTokenizer,
    {
        "repository": "openai/whisper-large-v3",
        "revision": "06f233fe06e710322aca913c1bc4249a0d71fce1",
        "files": ["config.json", "model.safetensors"],
        "licence": "Apache-2.0",
        "num_mel_bins": 128,
        "d_model": 1280,
    },
    description="Whisper large-v3 encoder (OpenAI, transformers), 1280-d, 50 per second; encodes only",
)
